import type { IncomingMessage as HttpRequest } from 'node:http';
import type { Installation as SlackInstallation, InstallationStore as BoltInstallationStore, Logger as BoltLogger, webApi } from '@slack/bolt';
import { ErrorCode, InstallProvider } from '@slack/oauth';
import type { CodedError } from '@slack/oauth';
import { HrbotError, toError } from '../../src/errors.ts';
import type { HttpServer } from '../../src/http/http-server.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { Metrics } from '../../src/metrics.ts';
import type { Installation, InstallationStore } from '../../src/store/installation-store.ts';
import type { OAuthPage } from './oauth-pages.ts';
import { OAUTH_PAGE_HEADERS, renderOAuthPage, sendOAuthPage } from './oauth-pages.ts';

/** Where an admin starts an install (the "Add to Slack" page). */
export const SLACK_INSTALL_PATH = '/slack/install';
/** Where Slack sends the admin back with a one-time code (the manifest's oauth_config.redirect_urls). */
export const SLACK_OAUTH_REDIRECT_PATH = '/slack/oauth_redirect';

/**
 * The bot scopes an install asks for: exactly manifest/slack.yaml's oauth_config.scopes.bot (a test
 * keeps the two equal), so an OAuth install grants what a manifest install grants.
 */
export const SLACK_BOT_SCOPES: readonly string[] = ['app_mentions:read', 'assistant:write', 'chat:write', 'commands', 'im:history'];

/** How long an install link (its signed state and cookie) stays valid: @slack/oauth's default, 10 minutes. */
const STATE_TTL_SECONDS = 600;

/** An installation Slack granted that this bot cannot keep; nothing is stored. */
export class SlackInstallRefusedError extends HrbotError {
  constructor(message: string) {
    super('slack_install_refused', message);
  }
}

/** What {@link mountSlackOAuth} needs. */
export interface SlackOAuthOptions {
  server: HttpServer;
  installations: InstallationStore;
  clientId: string;
  clientSecret: string;
  stateSecret: string;
  /** The adapter's Web API options (SLACK_API_URL, retries, timeout): oauth.v2.access and auth.test go there. */
  clientOptions: webApi.WebClientOptions;
  /** The product name shown on the pages (BOT_NAME). */
  botName: string;
  /** The SDK's logging, through the redacting logger. */
  sdkLogger: BoltLogger;
  log: Logger;
  metrics: Metrics;
}

/**
 * Serve Slack's OAuth install flow with @slack/oauth's InstallProvider (what Bolt's own receivers
 * use) on our HTTP server: `GET /slack/install` shows an "Add to Slack" page whose link carries a
 * state signed with SLACK_STATE_SECRET (also set as a cookie, so only the browser that started can
 * finish); `GET /slack/oauth_redirect` checks that state, exchanges the code with oauth.v2.access,
 * stores the installation (token encrypted) and shows a page saying how it went.
 */
export function mountSlackOAuth(options: SlackOAuthOptions): void {
  const { server, botName, log, metrics } = options;
  const installer = new InstallProvider({
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    stateSecret: options.stateSecret,
    stateCookieExpirationSeconds: STATE_TTL_SECONDS,
    installationStore: boltStore(options.installations),
    installUrlOptions: { scopes: [...SLACK_BOT_SCOPES] },
    renderHtmlForInstallPath: (url) => installPage(url, botName),
    logger: options.sdkLogger,
    clientOptions: options.clientOptions,
  });
  const outcome = (result: string): void => metrics.increment('hrbot_slack_installs_total', 'Slack OAuth install attempts, by outcome', { outcome: result });

  server.route('GET', SLACK_INSTALL_PATH, (request, response) =>
    installer.handleInstallPath(request, response, {
      // InstallProvider writes the page's status and content type itself; the rest of our page headers go first.
      beforeRedirection: (_request, res) => {
        for (const [name, value] of Object.entries(OAUTH_PAGE_HEADERS)) res.setHeader(name, value);
        return Promise.resolve(true);
      },
    }),
  );
  server.route('GET', SLACK_OAUTH_REDIRECT_PATH, (request, response) =>
    installer.handleCallback(request, response, {
      success: (installation, _options, _request, res) => {
        const where = installation.isEnterpriseInstall === true ? installation.enterprise : installation.team;
        log.info({ teamId: installation.team?.id, enterpriseId: installation.enterprise?.id, enterpriseInstall: installation.isEnterpriseInstall === true }, 'slack: app installed');
        outcome('installed');
        sendOAuthPage(res, {
          status: 200,
          title: `${botName} is installed`,
          paragraphs: [
            `${botName} is now installed in ${where?.name ?? 'your workspace'}.`,
            'Anyone there can send it a direct message, mention it in a channel, or type /hr help.',
          ],
          ...(installation.appId === undefined || where?.id === undefined
            ? {}
            : { link: { href: `https://slack.com/app_redirect?app=${encodeURIComponent(installation.appId)}&team=${encodeURIComponent(where.id)}`, text: 'Open Slack' } }),
        });
      },
      failure: (error, _options, request, res) => {
        const page = failurePage(error, request, botName);
        log.warn({ code: error.code, status: page.status, reason: reasonOf(error) }, 'slack: install failed');
        outcome(error.code);
        sendOAuthPage(res, page);
      },
    }),
  );
}

/** @slack/oauth's InstallationStore over ours: only the bot's token and identity are kept (no user tokens). */
function boltStore(installations: InstallationStore): BoltInstallationStore {
  return {
    async storeInstallation(installation) {
      await installations.save(fromSlack(installation));
    },
    async fetchInstallation(query) {
      const found = await installations.find(query);
      if (found === undefined) throw new Error('no installation for this workspace');
      return toSlack(found);
    },
    async deleteInstallation(query) {
      await installations.delete(query);
    },
  };
}

function fromSlack(installation: SlackInstallation): Installation {
  const bot = installation.bot;
  if (bot === undefined) throw new SlackInstallRefusedError('Slack granted no bot token: the app needs its bot user and bot scopes');
  // Expiring tokens would need refreshing every 12 hours; the manifest keeps token rotation off.
  if (bot.refreshToken !== undefined) throw new SlackInstallRefusedError("Slack granted an expiring token: turn token rotation off in the app's settings (OAuth & Permissions)");
  const enterpriseInstall = installation.isEnterpriseInstall === true;
  return {
    ...(installation.team?.id === undefined ? {} : { teamId: installation.team.id }),
    ...(installation.enterprise?.id === undefined ? {} : { enterpriseId: installation.enterprise.id }),
    isEnterpriseInstall: enterpriseInstall,
    ...(installation.appId === undefined ? {} : { appId: installation.appId }),
    botUserId: bot.userId,
    ...(bot.id === '' || (bot.id as string | undefined) === undefined ? {} : { botId: bot.id }),
    scopes: bot.scopes,
    botToken: bot.token,
  };
}

function toSlack(found: Installation): SlackInstallation {
  return {
    team: found.teamId === undefined ? undefined : { id: found.teamId },
    enterprise: found.enterpriseId === undefined ? undefined : { id: found.enterpriseId },
    user: { token: undefined, scopes: undefined, id: '' },
    bot: { token: found.botToken, scopes: [...found.scopes], id: found.botId ?? '', userId: found.botUserId },
    isEnterpriseInstall: found.isEnterpriseInstall,
    authVersion: 'v2',
    ...(found.appId === undefined ? {} : { appId: found.appId }),
  };
}

/** The "Add to Slack" page InstallProvider serves at /slack/install (after setting the state cookie). */
function installPage(url: string, botName: string): string {
  return renderOAuthPage({
    status: 200,
    title: `Add ${botName} to Slack`,
    paragraphs: [
      `${botName} answers HR questions from your company's handbook, in direct messages, in threads where it is mentioned, and with /hr.`,
      `Installing asks Slack for these permissions: ${SLACK_BOT_SCOPES.join(', ')}.`,
    ],
    link: { href: url, text: 'Add to Slack' },
  });
}

/** The page for a failed install: what happened, in words, and how to try again. */
function failurePage(error: CodedError, request: HttpRequest, botName: string): OAuthPage {
  const again = { href: SLACK_INSTALL_PATH, text: 'Start again' };
  // The SDK's errors carry its ErrorCode values; any other code (ours, the Web API's) is the default case.
  switch (error.code as ErrorCode) {
    case ErrorCode.InvalidStateError:
    case ErrorCode.MissingStateError:
      return {
        status: 400,
        title: 'This install link has expired',
        paragraphs: [`The link was older than ${STATE_TTL_SECONDS / 60} minutes, was used already, or was opened in another browser than the one that started. Nothing was installed.`],
        link: again,
      };
    case ErrorCode.AuthorizationError:
      return { status: 400, title: 'Installation cancelled', paragraphs: [`${botName} was not installed: the request was declined in Slack.`], link: again };
    case ErrorCode.MissingCodeError: {
      const reported = new URL(request.url ?? '/', 'http://localhost').searchParams.get('error');
      return {
        status: 400,
        title: 'Slack did not complete the installation',
        paragraphs: [reported === null ? 'Slack sent no authorization code. Nothing was installed.' : `Slack reported: ${reported}. Nothing was installed.`],
        link: again,
      };
    }
    default:
      return {
        // Refused by us: the grant is unusable; Slack failing: a bad gateway; anything else (the store): ours.
        status: error instanceof SlackInstallRefusedError ? 400 : error.code.startsWith('slack_webapi_') ? 502 : 500,
        title: 'The installation did not complete',
        paragraphs: [`${reasonOf(error)}. Nothing was installed.`],
        link: again,
      };
  }
}

/** Why an install failed, safe to show and log: Slack's error code, or our own message; never a token or secret. */
function reasonOf(error: CodedError): string {
  if (error instanceof SlackInstallRefusedError) return error.message;
  const platform = error as CodedError & { data?: { error?: unknown } };
  if (typeof platform.data?.error === 'string') return `Slack refused the code exchange (${platform.data.error})`;
  if (error.code === 'slack_webapi_request_error' || error.code === 'slack_webapi_http_error') return 'Slack could not be reached to finish the installation';
  return `The installation could not be stored (${toError(error).name})`;
}

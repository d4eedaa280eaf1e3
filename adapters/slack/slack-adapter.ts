import { App, SocketModeReceiver, webApi } from '@slack/bolt';
import type { Receiver } from '@slack/bolt';
import type { Config } from '../../src/config.ts';
import { toError } from '../../src/errors.ts';
import type { HttpServer } from '../../src/http/http-server.ts';
import type { InboxStore } from '../../src/inbox/inbox-store.ts';
import type { InboxWorker } from '../../src/inbox/inbox-worker.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { Metrics } from '../../src/metrics.ts';
import { SecretBox } from '../../src/secret-box.ts';
import type { Db } from '../../src/store/database.ts';
import type { InstallationStore } from '../../src/store/installation-store.ts';
import { SqliteInstallationStore } from '../../src/store/installation-store.ts';
import type { SlackEngine } from './answer-item.ts';
import { answerSlackItem, slackLongWaitNotice, slackNotices } from './answer-item.ts';
import type { HomeEngine } from './app-home.ts';
import { AppHome } from './app-home.ts';
import { messageShortcutWork } from './message-shortcut.ts';
import type { SurfaceEngine } from './surfaces.ts';
import { SlackSurfaces } from './surfaces.ts';
import { boltLogger } from './bolt-logger.ts';
import { SlackInboxGate } from './inbox-gate.ts';
import type { SlackEventSink } from './inbox-gate.ts';
import { SlackInstallGate } from './install-gate.ts';
import { mountSlackOAuth, SLACK_INSTALL_PATH } from './oauth-routes.ts';
import type { BotIdentity } from './parse.ts';
import { SlackHttpReceiver } from './receiver.ts';
import { slackRenderOptions } from './render.ts';
import { SlackStartError } from './slack-errors.ts';
import type { SlackClients } from './slack-tokens.ts';
import { installedClients, installedTokens, oneClient } from './slack-tokens.ts';
import { webApiAgent } from './web-api-agent.ts';
import { DEFAULT_API_URL, SlackWebClient } from './web-api-client.ts';

export type { SlackEngine } from './answer-item.ts';

/** What {@link startSlack} needs. */
export interface StartSlackOptions {
  config: Config;
  engine: SlackEngine & SurfaceEngine & HomeEngine;
  /** The durable inbox: events are stored here before their ack and answered by its worker. */
  inbox: { store: InboxStore; worker: InboxWorker };
  metrics: Metrics;
  /** The shared HTTP server; HTTP mode registers `POST /slack/events` on it, OAuth installs their two routes. */
  server: HttpServer;
  /** The store: with OAuth installs, each workspace's installation (token encrypted) is kept in it. */
  db: Db;
  /**
   * With OAuth installs, the installation store, built on the box of HRBOT_ENCRYPTION_KEY (which
   * startSlack checks first). Default: a {@link SqliteInstallationStore} on `db`.
   */
  installationStore?: (box: SecretBox) => InstallationStore;
  log: Logger;
}

/** A running Slack adapter. */
export interface SlackAdapter {
  readonly mode: 'http' | 'socket';
  /** Where tokens come from: SLACK_BOT_TOKEN, or one installation per workspace (OAuth). */
  readonly installs: 'token' | 'oauth';
  /** The bot's identity from auth.test at start (single-token mode; with OAuth installs each installation has its own). */
  readonly bot: BotIdentity | undefined;
  /** Stop receiving (the inbox worker answers what was acknowledged, or hands it to the next start). */
  stop(): Promise<void>;
}

/** The route Slack posts events, slash commands and interactivity to. */
export const SLACK_EVENTS_PATH = '/slack/events';

/**
 * Web API retries, stated once: a few attempts with backoff for network and 5xx failures; a 429 is
 * waited out for its Retry-After and counts as one attempt, so a reply still arrives, once.
 */
const RETRY_CONFIG = { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 5_000, randomize: true } as const;
/** Per-request timeout for Web API calls. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long stop waits for home tab publishes and erases started after an ack. */
const SURFACES_DRAIN_MS = 5_000;

/**
 * Connect Slack: learn the bot's identity with auth.test (single-token mode) or serve OAuth installs,
 * then receive over HTTP on the shared server (signing secret) or over Socket Mode (app token), and
 * answer through the engine with the token of the workspace each event came from.
 */
export async function startSlack(options: StartSlackOptions): Promise<SlackAdapter> {
  const { config, engine, server, inbox } = options;
  const env = config.env;
  const log = options.log.child({ component: 'slack' });
  const mode = config.slack.mode;
  const installs = config.slack.installs;
  // With OAuth installs SLACK_BOT_TOKEN is not used (checkStartup warns when it is set).
  const token = installs === 'token' ? env.SLACK_BOT_TOKEN : undefined;
  if (mode === 'off' || (installs === 'token' && token === undefined)) {
    throw new SlackStartError('Slack is not configured (SLACK_BOT_TOKEN, or SLACK_CLIENT_ID with its secrets, and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)');
  }

  const logger = boltLogger(log);
  const clientOptions: webApi.WebClientOptions = {
    logger,
    retryConfig: RETRY_CONFIG,
    rejectRateLimitedCalls: false,
    timeout: REQUEST_TIMEOUT_MS,
    agent: webApiAgent(env.SLACK_API_URL ?? DEFAULT_API_URL),
    ...(env.SLACK_API_URL === undefined ? {} : { slackApiUrl: withTrailingSlash(env.SLACK_API_URL) }),
  };

  let bot: BotIdentity | undefined;
  if (token !== undefined) {
    try {
      const auth = await new SlackWebClient(token, clientOptions).auth.test();
      if (auth.user_id === undefined) throw new SlackStartError('auth.test returned no bot user id');
      bot = { userId: auth.user_id, ...(auth.bot_id === undefined ? {} : { botId: auth.bot_id }) };
    } catch (error) {
      if (error instanceof SlackStartError) throw error;
      throw authTestFailure(error, env.SLACK_API_URL ?? DEFAULT_API_URL);
    }
  }
  const installations =
    installs === 'oauth'
      ? await openInstallations(options.installationStore ?? ((box) => new SqliteInstallationStore(options.db, box, 'slack')), env.HRBOT_ENCRYPTION_KEY, log)
      : undefined;
  const tokens = installations === undefined ? undefined : installedTokens(installations);

  let receiver: Receiver;
  let httpReceiver: SlackHttpReceiver | undefined;
  if (mode === 'http') {
    const signingSecret = env.SLACK_SIGNING_SECRET;
    if (signingSecret === undefined) throw new SlackStartError('SLACK_SIGNING_SECRET is required for Slack over HTTP');
    httpReceiver = new SlackHttpReceiver({ signingSecret, log });
    receiver = httpReceiver;
  } else {
    const appToken = env.SLACK_APP_TOKEN;
    if (appToken === undefined) throw new SlackStartError('SLACK_APP_TOKEN is required for Socket Mode');
    receiver = new SocketModeReceiver({ appToken, logger, installerOptions: { clientOptions } });
  }

  const app = new App({
    ...(token === undefined || bot === undefined
      ? {
          // Events never reach Bolt's listeners (the inbox gate takes them); this is for Bolt's own use, if any.
          authorize: async ({ teamId, enterpriseId }) => {
            const found = await tokens?.forTeam(teamId, enterpriseId);
            if (found === undefined) throw new SlackStartError('no installation for this workspace');
            return { botToken: found.token, botUserId: found.bot.userId, ...(found.bot.botId === undefined ? {} : { botId: found.bot.botId }) };
          },
        }
      : {
          token,
          // Identity is already known from auth.test above; Bolt need not ask again.
          botUserId: bot.userId,
          ...(bot.botId === undefined ? {} : { botId: bot.botId }),
        }),
    receiver,
    logger,
    clientOptions,
    tokenVerificationEnabled: false,
  });
  // Each Web API call takes the token of the workspace it is for.
  const clients: SlackClients = tokens === undefined ? oneClient(new SlackWebClient(token, clientOptions)) : installedClients(tokens, clientOptions);
  app.error((error) => {
    log.error({ err: toError(error), code: error.code }, 'slack: listener failed');
    return Promise.resolve();
  });
  // Every event Bolt's receiver verifies goes to the gate, which stores it in the inbox before the
  // ack; the inbox worker answers it. In HTTP mode the gate is the receiver's sink; Socket Mode's
  // receiver hands events to whatever it was initialised with, so it is re-initialised with the gate.
  const notices = slackNotices(clients);
  const gateFor = (identity: BotIdentity): SlackInboxGate =>
    new SlackInboxGate({
      inbox: inbox.store,
      bot: identity,
      notices,
      log,
      metrics: options.metrics,
      onStored: () => inbox.worker.notify(),
      pace: inbox.worker,
      extraWork: messageShortcutWork(env.MAX_MESSAGE_CHARS),
    });
  // OAuth installs: the bot's identity differs per workspace, and uninstalls erase tokens, so a gate in front sorts that out.
  let gate: SlackEventSink;
  if (installations !== undefined && tokens !== undefined) gate = new SlackInstallGate({ installations, tokens, gateFor, log, metrics: options.metrics });
  else if (bot !== undefined) gate = gateFor(bot);
  else throw new SlackStartError('the bot identity is unknown: auth.test did not run');
  // The App Home, the feedback form and the home's erase button are answered in front of the gate (see surfaces.ts).
  const home = new AppHome({ clients, engine, log }, { botName: env.BOT_NAME, retentionDays: env.RETENTION_DAYS });
  const surfaces = new SlackSurfaces({ inner: gate, clients, engine, home, log });
  if (httpReceiver !== undefined) httpReceiver.setSink(surfaces);
  else receiver.init(surfaces as unknown as App);
  inbox.worker.handle(
    'slack',
    answerSlackItem({
      engine,
      clients,
      log,
      botFor: async (teamId, enterpriseId) => (tokens === undefined ? bot : (await tokens.forTeam(teamId, enterpriseId))?.bot),
      render: slackRenderOptions(env),
      botName: env.BOT_NAME,
    }),
  );
  inbox.worker.noticeLongWaits('slack', slackLongWaitNotice(notices));

  try {
    await app.start();
  } catch (error) {
    throw new SlackStartError(`Slack ${mode === 'socket' ? 'Socket Mode' : 'receiver'} did not start`, { cause: error });
  }
  if (httpReceiver !== undefined) server.route('POST', SLACK_EVENTS_PATH, httpReceiver.handle);
  if (installations !== undefined && env.SLACK_CLIENT_ID !== undefined && env.SLACK_CLIENT_SECRET !== undefined && env.SLACK_STATE_SECRET !== undefined) {
    mountSlackOAuth({
      server,
      installations,
      clientId: env.SLACK_CLIENT_ID,
      clientSecret: env.SLACK_CLIENT_SECRET,
      stateSecret: env.SLACK_STATE_SECRET,
      clientOptions,
      botName: env.BOT_NAME,
      sdkLogger: logger,
      log,
      metrics: options.metrics,
    });
  }
  log.info({ mode, installs, route: mode === 'http' ? SLACK_EVENTS_PATH : undefined, install: installs === 'oauth' ? SLACK_INSTALL_PATH : undefined }, 'slack: connected');

  return {
    mode,
    installs,
    bot,
    async stop() {
      // Stops receiving; answers in flight belong to the inbox worker, which the caller stops (and which hands them back).
      await app.stop();
      await surfaces.stop(SURFACES_DRAIN_MS);
      await home.stop(SURFACES_DRAIN_MS);
    },
  };
}

/**
 * The installation store under HRBOT_ENCRYPTION_KEY. Installations sealed under another key are said
 * once here, in one line an operator can act on; the bot still starts (their events are dropped with
 * the same reason), so a changed key never turns into a crash loop.
 */
async function openInstallations(storeOn: (box: SecretBox) => InstallationStore, key: string | undefined, log: Logger): Promise<InstallationStore> {
  if (key === undefined) throw new SlackStartError('HRBOT_ENCRYPTION_KEY is required with OAuth installs');
  const installations = storeOn(new SecretBox(key));
  const census = await installations.census();
  if (census.otherKey > 0) {
    log.error(
      { installations: census.installations, otherKey: census.otherKey },
      'slack: some installed workspaces were stored under another HRBOT_ENCRYPTION_KEY and cannot be answered: restore the key they were stored with, or install the app in them again at /slack/install',
    );
  } else {
    log.info({ installations: census.installations }, 'slack: OAuth installs on');
  }
  return installations;
}

/**
 * Why auth.test failed, for the operator: Slack refused the token (answered with an error), Slack
 * answered with an HTTP error, or the Web API could not be reached. Each says what to change.
 */
function authTestFailure(error: unknown, apiUrl: string): SlackStartError {
  const failure = error as { code?: unknown; data?: { error?: unknown }; statusCode?: unknown; original?: { code?: unknown; message?: unknown } };
  switch (failure.code) {
    case webApi.ErrorCode.PlatformError: {
      const answer = typeof failure.data?.error === 'string' ? failure.data.error : 'an error';
      return new SlackStartError(
        `SLACK_BOT_TOKEN was refused by Slack (auth.test answered ${answer}). ` +
          "Copy the Bot User OAuth Token (xoxb-…) from OAuth & Permissions in the Slack app's settings, and reinstall the app to the workspace if the token was revoked.",
        { cause: error },
      );
    }
    case webApi.ErrorCode.HTTPError:
      return new SlackStartError(
        `the Slack Web API at ${apiUrl} answered auth.test with HTTP ${String(failure.statusCode)}: Slack may be having trouble, or SLACK_API_URL points at something else. ` +
          'Try again later, and check SLACK_API_URL if it is set.',
        { cause: error },
      );
    case webApi.ErrorCode.RequestError: {
      const reason = typeof failure.original?.code === 'string' ? failure.original.code : 'no answer';
      return new SlackStartError(
        `cannot reach the Slack Web API at ${apiUrl} (${reason}), so the bot token could not be checked. ` +
          "Check this machine's network access to it (proxy, firewall, DNS), and SLACK_API_URL if it is set.",
        { cause: error },
      );
    }
    default:
      return new SlackStartError(`Slack auth.test failed (${toError(error).message}). Check SLACK_BOT_TOKEN and SLACK_API_URL.`, { cause: error });
  }
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

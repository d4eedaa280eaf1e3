import { App, SocketModeReceiver, webApi } from '@slack/bolt';
import type { Receiver } from '@slack/bolt';
import type { Config } from '../../src/config.ts';
import { toError } from '../../src/errors.ts';
import type { HttpServer } from '../../src/http/http-server.ts';
import type { InboxStore } from '../../src/inbox/inbox-store.ts';
import type { InboxWorker } from '../../src/inbox/inbox-worker.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { Metrics } from '../../src/metrics.ts';
import type { SlackEngine } from './answer-item.ts';
import { answerSlackItem, slackLongWaitNotice, slackNotices } from './answer-item.ts';
import { boltLogger } from './bolt-logger.ts';
import { SlackInboxGate } from './inbox-gate.ts';
import type { BotIdentity } from './parse.ts';
import { SlackHttpReceiver } from './receiver.ts';
import { slackRenderOptions } from './render.ts';
import { SlackStartError } from './slack-errors.ts';

export type { SlackEngine } from './answer-item.ts';

/** What {@link startSlack} needs. */
export interface StartSlackOptions {
  config: Config;
  engine: SlackEngine;
  /** The durable inbox: events are stored here before their ack and answered by its worker. */
  inbox: { store: InboxStore; worker: InboxWorker };
  metrics: Metrics;
  /** The shared HTTP server; HTTP mode registers `POST /slack/events` on it. */
  server: HttpServer;
  log: Logger;
}

/** A running Slack adapter. */
export interface SlackAdapter {
  readonly mode: 'http' | 'socket';
  readonly bot: BotIdentity;
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

/**
 * Connect Slack: learn the bot's identity with auth.test, then receive over HTTP on the shared
 * server (signing secret) or over Socket Mode (app token), and answer through the engine.
 */
export async function startSlack(options: StartSlackOptions): Promise<SlackAdapter> {
  const { config, engine, server, inbox } = options;
  const env = config.env;
  const log = options.log.child({ component: 'slack' });
  const mode = config.slack.mode;
  const token = env.SLACK_BOT_TOKEN;
  if (mode === 'off' || token === undefined) throw new SlackStartError('Slack is not configured (SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)');

  const logger = boltLogger(log);
  const clientOptions: webApi.WebClientOptions = {
    logger,
    retryConfig: RETRY_CONFIG,
    rejectRateLimitedCalls: false,
    timeout: REQUEST_TIMEOUT_MS,
    ...(env.SLACK_API_URL === undefined ? {} : { slackApiUrl: withTrailingSlash(env.SLACK_API_URL) }),
  };

  let bot: BotIdentity;
  try {
    const auth = await new webApi.WebClient(token, clientOptions).auth.test();
    if (auth.user_id === undefined) throw new SlackStartError('auth.test returned no bot user id');
    bot = { userId: auth.user_id, ...(auth.bot_id === undefined ? {} : { botId: auth.bot_id }) };
  } catch (error) {
    if (error instanceof SlackStartError) throw error;
    throw authTestFailure(error, env.SLACK_API_URL ?? DEFAULT_API_URL);
  }

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
    token,
    receiver,
    logger,
    clientOptions,
    // Identity is already known from auth.test above; Bolt need not ask again.
    botUserId: bot.userId,
    ...(bot.botId === undefined ? {} : { botId: bot.botId }),
    tokenVerificationEnabled: false,
  });
  const client = app.client;
  app.error((error) => {
    log.error({ err: toError(error), code: error.code }, 'slack: listener failed');
    return Promise.resolve();
  });
  // Every event Bolt's receiver verifies goes to the gate, which stores it in the inbox before the
  // ack; the inbox worker answers it. In HTTP mode the gate is the receiver's sink; Socket Mode's
  // receiver hands events to whatever it was initialised with, so it is re-initialised with the gate.
  const notices = slackNotices(client);
  const gate = new SlackInboxGate({
    inbox: inbox.store,
    bot,
    notices,
    log,
    metrics: options.metrics,
    onStored: () => inbox.worker.notify(),
  });
  if (httpReceiver !== undefined) httpReceiver.setSink(gate);
  else receiver.init(gate as unknown as App);
  inbox.worker.handle('slack', answerSlackItem({ engine, client, log, bot, render: slackRenderOptions(env), botName: env.BOT_NAME }));
  inbox.worker.noticeLongWaits('slack', slackLongWaitNotice(notices));

  try {
    await app.start();
  } catch (error) {
    throw new SlackStartError(`Slack ${mode === 'socket' ? 'Socket Mode' : 'receiver'} did not start`, { cause: error });
  }
  if (httpReceiver !== undefined) server.route('POST', SLACK_EVENTS_PATH, httpReceiver.handle);
  log.info({ mode, route: mode === 'http' ? SLACK_EVENTS_PATH : undefined }, 'slack: connected');

  return {
    mode,
    bot,
    async stop() {
      // Stops receiving; answers in flight belong to the inbox worker, which the caller stops (and which hands them back).
      await app.stop();
    },
  };
}

const DEFAULT_API_URL = 'https://slack.com/api/';

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

import { App, SocketModeReceiver, webApi } from '@slack/bolt';
import type { Receiver } from '@slack/bolt';
import { BackgroundWork } from '../../src/background-work.ts';
import type { Config } from '../../src/config.ts';
import { HrbotError, toError } from '../../src/errors.ts';
import type { HttpServer } from '../../src/http/http-server.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { IncomingMessage, Reply, ReplyHooks, UserAction } from '../../src/message.ts';
import { boltLogger } from './bolt-logger.ts';
import { MessageDelivery } from './delivery.ts';
import type { BotIdentity, SlackEventEnvelope, SlackMessageEvent } from './parse.ts';
import { FEEDBACK_DOWN, FEEDBACK_UP, FORGET, parseCommand, parseFeedbackAction, parseForgetAction, parseMessageEvent } from './parse.ts';
import { SlackHttpReceiver } from './receiver.ts';
import { renderReply } from './render.ts';
import { SlackDeliveryError, SlackStartError } from './slack-errors.ts';

/** The engine calls the Slack adapter needs. */
export interface SlackEngine {
  handle(message: IncomingMessage, hooks?: ReplyHooks): Promise<Reply | null>;
  act(action: UserAction): Promise<Reply>;
}

/** What {@link startSlack} needs. */
export interface StartSlackOptions {
  config: Config;
  engine: SlackEngine;
  /** The shared HTTP server; HTTP mode registers `POST /slack/events` on it. */
  server: HttpServer;
  log: Logger;
}

/** A running Slack adapter. */
export interface SlackAdapter {
  readonly mode: 'http' | 'socket';
  readonly bot: BotIdentity;
  /** Stop receiving, and wait (bounded) for acknowledged events still being answered. */
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
/** How long stop() waits for answers still being written. */
const STOP_DRAIN_MS = 10_000;

/**
 * Connect Slack: learn the bot's identity with auth.test, then receive over HTTP on the shared
 * server (signing secret) or over Socket Mode (app token), and answer through the engine.
 */
export async function startSlack(options: StartSlackOptions): Promise<SlackAdapter> {
  const { config, engine, server } = options;
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
    throw new SlackStartError('Slack auth.test failed: the bot token was refused or the Web API is unreachable', { cause: error });
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

  // Answers still being written, in either mode, so stop() can wait for them (the HTTP receiver
  // tracks its own; Socket Mode's receiver does not). Bounded by the engine's conversation lanes.
  const inFlight = new BackgroundWork();
  const deliver = (what: string, work: () => Promise<void>): Promise<void> =>
    inFlight.track(
      (async () => {
        try {
          await work();
        } catch (error) {
          if (error instanceof HrbotError) {
            log.error({ err: error, code: error.code, what }, 'slack: could not answer');
            return;
          }
          throw error;
        }
      })(),
    );

  const onMessage = async (envelope: SlackEventEnvelope, event: SlackMessageEvent) => {
    const parsed = parseMessageEvent(envelope, event, bot);
    if ('skip' in parsed) {
      log.debug({ reason: parsed.skip, type: event.type }, 'slack: event ignored');
      return;
    }
    await deliver(event.type, async () => {
      const delivery = new MessageDelivery(client, parsed.target, log);
      const reply = await engine.handle(parsed.message, delivery.hooks);
      await delivery.finish(reply);
    });
  };

  // Events are acknowledged by Bolt before these listeners run.
  app.event('message', async ({ event, body }) => onMessage(body as SlackEventEnvelope, event as unknown as SlackMessageEvent));
  app.event('app_mention', async ({ event, body }) => onMessage(body as SlackEventEnvelope, event as unknown as SlackMessageEvent));

  app.command('/hr', async ({ command, ack, respond }) => {
    await ack();
    const parsed = parseCommand(command);
    if ('skip' in parsed) {
      log.warn({ reason: parsed.skip }, 'slack: command ignored');
      return;
    }
    await deliver('command', async () => {
      const reply = await engine.handle(parsed.message);
      if (reply === null) return;
      // HR lookups are personal: slash command answers are shown to the asker only.
      try {
        for (const message of renderReply(reply)) await respond({ response_type: 'ephemeral', ...message });
      } catch (error) {
        throw new SlackDeliveryError('Could not post to the response_url', { cause: error });
      }
    });
  });

  app.action({ type: 'block_actions', action_id: new RegExp(`^(?:${FEEDBACK_UP}|${FEEDBACK_DOWN}|${FORGET})$`) }, async ({ ack, body, action, respond }) => {
    await ack();
    const userAction = action.action_id === FORGET ? parseForgetAction(body, action) : parseFeedbackAction(body, action);
    if (userAction === undefined) {
      log.warn({ actionId: action.action_id }, 'slack: malformed action ignored');
      return;
    }
    await deliver('action', async () => {
      const reply = await engine.act(userAction);
      try {
        for (const message of renderReply(reply)) await respond({ response_type: 'ephemeral', replace_original: false, ...message });
      } catch (error) {
        throw new SlackDeliveryError('Could not post to the response_url', { cause: error });
      }
    });
  });

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
      await app.stop();
      if (!(await inFlight.drain(STOP_DRAIN_MS))) log.warn({ pending: inFlight.size }, 'slack: stopped with answers still in flight');
    },
  };
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

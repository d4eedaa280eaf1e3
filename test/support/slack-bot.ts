import { startSlack } from '../../adapters/slack/slack-adapter.ts';
import type { SlackAdapter } from '../../adapters/slack/slack-adapter.ts';
import type { CoreExtensions } from '../../src/core.ts';
import { HttpServer } from '../../src/http/http-server.ts';
import { FakeSlackApi } from '../fakes/fake-slack-api.ts';
import { FakeSocketMode } from '../fakes/fake-socket-mode.ts';
import { BOT_TOKEN, SIGNING_SECRET } from './slack-requests.ts';
import type { TempBot } from './temp-bot.ts';
import { startTempBot } from './temp-bot.ts';

/** A bot composed as `npm start` composes it in server mode, with Slack pointed at a fake Web API. */
export interface SlackTestBot {
  bot: TempBot;
  api: FakeSlackApi;
  slack: SlackAdapter;
  server: HttpServer;
  /** http://127.0.0.1:<port> of the bot's HTTP server. */
  baseUrl: string;
  close(): Promise<void>;
}

/** Start the fake Slack API and the bot (HTTP mode unless `env` says otherwise). */
export async function startSlackBot(
  options: { env?: Record<string, string>; extensions?: CoreExtensions; api?: FakeSlackApi; /** Leave the fake API running on close (a restart reuses it). */ keepApi?: boolean } = {},
): Promise<SlackTestBot> {
  const api = options.api ?? (await new FakeSlackApi().start());
  const bot = startTempBot(
    { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: api.apiUrl, ...options.env },
    options.extensions,
  );
  const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
  let slack: SlackAdapter;
  try {
    slack = await startSlack({ config: bot.config, engine: bot.core.engine, inbox: bot.core.inbox, metrics: bot.core.metrics, server, db: bot.core.db, log: bot.core.log });
    await bot.core.inbox.worker.start();
  } catch (error) {
    bot.close();
    await api.close();
    throw error;
  }
  const port = await server.listen(0, '127.0.0.1');
  return {
    bot,
    api,
    slack,
    server,
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      await server.close();
      await slack.stop();
      await bot.core.inbox.worker.stop(10_000);
      bot.close();
      if (options.keepApi !== true) await api.close();
    },
  };
}

/** The app-level token of the Socket Mode test bots. */
export const APP_TOKEN = 'xapp-1-A1-1234567890-abcdefabcdefabcdefabcdef';

/** The bot in Socket Mode (no signing secret), against a fake Socket Mode server the fake Web API points to; close both. */
export async function startSocketModeBot(extensions?: CoreExtensions): Promise<{ t: SlackTestBot; socket: FakeSocketMode }> {
  const socket = await new FakeSocketMode().start();
  const api = await new FakeSlackApi().start();
  api.socketUrl = socket.url;
  const t = await startSlackBot({ api, env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: '' }, ...(extensions === undefined ? {} : { extensions }) });
  return { t, socket };
}

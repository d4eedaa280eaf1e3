import type { TeamsTuning } from '../../adapters/teams/mount-teams.ts';
import { mountTeams } from '../../adapters/teams/mount-teams.ts';
import type { TeamsAdapter } from '../../adapters/teams/teams-adapter.ts';
import type { CoreExtensions } from '../../src/core.ts';
import { HttpServer } from '../../src/http/http-server.ts';
import { FakeTeamsConnector } from '../fakes/fake-teams-connector.ts';
import type { TempBot } from './temp-bot.ts';
import { startTempBot } from './temp-bot.ts';

/** The bot's id in the Teams namespace, as the recipient of every activity. */
export const BOT_ID = '28:hrbot-test-bot';
export const TENANT = '72f988bf-0000-4000-8000-000000000001';
export const ALICE = { id: '29:alice-teams-id', aadObjectId: '00000000-0000-4000-8000-0000000a11ce', name: 'Alice' };
export const BOB = { id: '29:bob-teams-id', aadObjectId: '00000000-0000-4000-8000-000000000b0b', name: 'Bob' };

/** A running server with the Teams endpoint, a temp core and a fake connector. */
export interface TeamsBot {
  bot: TempBot;
  teams: TeamsAdapter;
  connector: FakeTeamsConnector;
  url: string;
  post(activity: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; body: string }>;
  postRaw(body: string, headers?: Record<string, string>): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

/**
 * Start the server as `npm start` does in server mode, with the Teams endpoint on a free port of
 * 127.0.0.1 and the inbox worker answering. Without MICROSOFT_APP_ID in `env` it runs in emulator
 * mode (TEAMS_EMULATOR=true). `close` stops it as main.ts does: server, worker (handing back what
 * is unfinished), Teams notices, core.
 */
export async function startTeamsBot(
  env: Record<string, string> = {},
  options: { extensions?: CoreExtensions; tuning?: TeamsTuning; connector?: FakeTeamsConnector } = {},
): Promise<TeamsBot> {
  const connector = options.connector ?? (await new FakeTeamsConnector().start());
  const emulator: Record<string, string> = env.MICROSOFT_APP_ID === undefined ? { TEAMS_EMULATOR: 'true' } : {};
  const bot = startTempBot({ HRBOT_MODE: 'server', HOST: '127.0.0.1', ...emulator, ...env }, options.extensions ?? {});
  const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
  // Short backoff so retry tests take milliseconds; the policy and its limits are the production ones.
  const teams = mountTeams(
    { server, config: bot.config, engine: bot.core.engine, inbox: bot.core.inbox, metrics: bot.core.metrics, log: bot.core.log },
    { retry: { baseDelayMs: 20 }, ...options.tuning },
  );
  await bot.core.inbox.worker.start();
  const port = await server.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}/api/messages`;
  const postRaw = async (body: string, headers: Record<string, string> = {}) => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: await response.text() };
  };
  return {
    bot,
    teams,
    connector,
    url,
    postRaw,
    post: (activity, headers) => postRaw(JSON.stringify(activity), headers),
    async close() {
      await server.close();
      await bot.core.inbox.worker.stop(10_000);
      await teams.close(2000);
      // A connector handed in belongs to the caller (it may outlive this bot, e.g. across a restart).
      if (options.connector === undefined) await connector.close();
      bot.close();
    },
  };
}

let counter = 0;
function nextId(): string {
  counter += 1;
  return `${Date.now()}${String(counter).padStart(4, '0')}`;
}

/** A message in the personal (1:1) chat between `user` and the bot. */
export function personalMessage(
  serviceUrl: string,
  text: string,
  extra: { user?: typeof ALICE; id?: string; value?: unknown; sentAt?: Date } = {},
): Record<string, unknown> {
  const user = extra.user ?? ALICE;
  return {
    type: 'message',
    id: extra.id ?? nextId(),
    // Teams' own time of the message, which orders a conversation's answers.
    timestamp: (extra.sentAt ?? new Date()).toISOString(),
    channelId: 'msteams',
    serviceUrl,
    from: user,
    recipient: { id: BOT_ID, name: 'HR Bot' },
    conversation: { id: `a:personal-${user.aadObjectId}`, conversationType: 'personal', tenantId: TENANT },
    text,
    textFormat: 'plain',
    ...(extra.value === undefined ? {} : { value: extra.value }),
    channelData: { tenant: { id: TENANT } },
  };
}

/** A channel post; `mention` adds the bot's <at> mention in front of the text, as Teams does. */
export function channelMessage(
  serviceUrl: string,
  text: string,
  extra: { mention?: boolean; user?: typeof ALICE; id?: string; rootId?: string } = {},
): Record<string, unknown> {
  const user = extra.user ?? ALICE;
  const id = extra.id ?? nextId();
  const root = extra.rootId ?? id;
  const mention = extra.mention ?? true;
  return {
    type: 'message',
    id,
    timestamp: new Date().toISOString(),
    channelId: 'msteams',
    serviceUrl,
    from: user,
    recipient: { id: BOT_ID, name: 'HR Bot' },
    conversation: { id: `19:general-abc@thread.tacv2;messageid=${root}`, conversationType: 'channel', isGroup: true, tenantId: TENANT },
    ...(extra.rootId === undefined ? {} : { replyToId: extra.rootId }),
    text: mention ? `<at>HR Bot</at> ${text}` : text,
    textFormat: 'plain',
    entities: mention ? [{ type: 'mention', text: '<at>HR Bot</at>', mentioned: { id: BOT_ID, name: 'HR Bot' } }] : [],
    channelData: { tenant: { id: TENANT }, team: { id: '19:team@thread.tacv2' }, channel: { id: '19:general-abc@thread.tacv2' } },
  };
}

/** An Action.Execute press on one of the bot's cards, by `user`. */
export function cardInvoke(serviceUrl: string, data: Record<string, unknown>, user = ALICE): Record<string, unknown> {
  return {
    type: 'invoke',
    name: 'adaptiveCard/action',
    id: nextId(),
    channelId: 'msteams',
    serviceUrl,
    from: user,
    recipient: { id: BOT_ID, name: 'HR Bot' },
    conversation: { id: `a:personal-${ALICE.aadObjectId}`, conversationType: 'personal', tenantId: TENANT },
    value: { action: { type: 'Action.Execute', verb: 'feedback', data }, trigger: 'manual' },
    channelData: { tenant: { id: TENANT } },
  };
}

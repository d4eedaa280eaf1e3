import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { BOT_TOKEN } from '../support/slack-requests.ts';
import { randomUUID } from 'node:crypto';
import { MAX_VIEW_BYTES, messageBlockProblems, TRIGGER_TTL_MS, viewProblems } from './fake-slack-views.ts';
import { closeServer, listenOnLoopback } from '../support/loopback-server.ts';

/** A Block Kit block as the tests read it. */
export interface RecordedBlock {
  type: string;
  block_id?: string;
  /** A text object (section), or the markdown of a `markdown` block. */
  text?: { type: string; text: string } | string;
  elements?: Array<{ type: string; text?: string | { text: string }; action_id?: string; value?: string; positive_button?: { value: string }; negative_button?: { value: string } }>;
}

/** The arguments of a recorded call; the fields tests read are typed, the rest kept as they came. */
export interface CallArgs {
  channel?: string;
  channel_id?: string;
  ts?: string;
  thread_ts?: string;
  text?: string;
  markdown_text?: string;
  status?: string;
  user?: string;
  blocks?: RecordedBlock[];
  chunks?: Array<{ type: string; text?: string }>;
  response_type?: string;
  replace_original?: boolean;
  recipient_team_id?: string;
  recipient_user_id?: string;
  [key: string]: unknown;
}

/** One call the fake received: a Web API method, or a post to a response_url. */
export interface RecordedCall {
  method: string;
  args: CallArgs;
  /** The bearer token the call carried (Web API only). */
  token?: string;
  /** The workspace (or org, for an org-wide install) that token belongs to, when the fake issued it. */
  team?: string;
  /** The ts the fake answered with, for calls that create a message. */
  postedTs?: string;
  /** The error the fake answered with when the call broke one of Slack's rules (see validate). */
  refused?: string;
  /** For a response_url post: the id the URL was made with (see responseUrl). */
  responseId?: string;
  at: number;
}

/** A message as the fake holds it: what is on screen now, and whether it is still an open stream. */
export interface StoredMessage {
  channel: string;
  ts: string;
  thread_ts?: unknown;
  metadata?: unknown;
  text?: unknown;
  blocks?: RecordedBlock[];
  /** Markdown streamed into it so far (chat.startStream / appendStream / stopStream). */
  streamed?: string;
  /** True from chat.startStream until chat.stopStream. */
  streaming?: boolean;
}

/** A scripted failure for the next call(s) of one method. */
export interface Fault {
  /** HTTP status, e.g. 429 (with retryAfter) or 500. */
  status?: number;
  retryAfterSeconds?: number;
  /** A Slack `ok: false` error such as `unknown_method`. */
  error?: string;
}

/** A bot token the fake knows: whose it is, and whether Slack revoked it. */
export interface FakeToken {
  teamId?: string;
  enterpriseId?: string;
  isEnterpriseInstall: boolean;
  botUserId: string;
  botId: string;
  revoked: boolean;
}

/** What an admin grants on Slack's authorize page, for {@link FakeSlackApi.approveInstall}. */
export interface FakeInstallGrant {
  /** The workspace (a team install), or omitted for an org-wide install. */
  team?: { id: string; name: string };
  enterprise?: { id: string; name: string };
  isEnterpriseInstall?: boolean;
  /** The scopes asked for in the authorize URL (comma-separated, as Slack takes them). */
  scope: string;
  clientId: string;
  botUserId?: string;
  botId?: string;
}

/** Methods that take no bot token: the code exchange (client credentials) and Socket Mode's (an app token). */
const TOKENLESS_METHODS = new Set(['oauth.v2.access', 'apps.connections.open']);

/** Fields parsed as JSON when the client sends them form-encoded. */
const JSON_FIELDS = new Set(['blocks', 'attachments', 'chunks', 'metadata', 'loading_messages', 'view', 'prompts']);
/** Calls (and posted messages) recorded by default; a load run raises it with `maxCalls`. */
const MAX_CALLS = 10_000;

/** Options for {@link FakeSlackApi}. */
export interface FakeSlackApiOptions {
  /** Calls, and posted messages, kept at most. Default 10,000. */
  maxCalls?: number;
}

/**
 * A fake Slack Web API over real HTTP, reached through SLACK_API_URL (`${url}/api/`). It records
 * every call, answers like Slack does, and posts to response_urls under `${url}/response/<id>`.
 * It refuses what Slack refuses (see {@link validate}: Block Kit and text limits, stream calls on a
 * message that is not an open stream, malformed assistant.threads.* calls), and keeps each
 * message's current state, so a test can see what is on screen and which streams were never stopped.
 */
export class FakeSlackApi {
  readonly calls: RecordedCall[] = [];
  readonly bot = { userId: 'UBOT', botId: 'BBOT', teamId: 'T1' };
  /** Bot tokens Slack would accept; SLACK_BOT_TOKEN of the test bots is T1's. Unknown tokens get invalid_auth. */
  readonly tokens = new Map<string, FakeToken>([[BOT_TOKEN, { teamId: 'T1', isEnterpriseInstall: false, botUserId: 'UBOT', botId: 'BBOT', revoked: false }]]);
  /** The Slack app's OAuth credentials (Basic Information > App Credentials), once a test sets them. */
  oauthApp: { clientId: string; clientSecret: string; appId: string } | undefined;
  /** Codes handed out by approveInstall and not yet exchanged (Slack's are single-use). */
  readonly #codes = new Map<string, FakeInstallGrant>();
  #issued = 0;
  /** The WebSocket URL apps.connections.open hands out (set by Socket Mode tests). */
  socketUrl = '';
  readonly #faults = new Map<string, Fault[]>();
  /** Messages posted, for conversations.history and conversations.replies. */
  readonly #messages: StoredMessage[] = [];
  readonly #server = createServer((request, response) => {
    this.#handle(request, response).catch((error: unknown) => {
      response.writeHead(500).end(String(error));
    });
  });
  // Message timestamps after any the tests give users' messages (1710000000.x), as Slack's grow with time.
  #ts = Math.floor(Date.now() / 1000);
  #url = '';
  readonly #maxCalls: number;
  /** trigger_ids handed out with interaction payloads: when, and whether one was exchanged already. */
  readonly #triggers = new Map<string, { issuedAt: number; used: boolean }>();
  /** The home view last published per user. */
  readonly #homes = new Map<string, Record<string, unknown>>();

  constructor(options: FakeSlackApiOptions = {}) {
    this.#maxCalls = options.maxCalls ?? MAX_CALLS;
  }

  /** Start on 127.0.0.1, a free port. */
  async start(): Promise<this> {
    this.#url = `http://127.0.0.1:${await listenOnLoopback(this.#server)}`;
    return this;
  }

  get url(): string {
    return this.#url;
  }

  /** Base URL for SLACK_API_URL. */
  get apiUrl(): string {
    return `${this.#url}/api/`;
  }

  /** A response_url for a slash command or action. */
  responseUrl(id: string): string {
    return `${this.#url}/response/${id}`;
  }

  /** The OAuth credentials oauth.v2.access will check. */
  setOAuthApp(app: { clientId: string; clientSecret: string; appId?: string }): void {
    this.oauthApp = { appId: 'A1', ...app };
  }

  /** What Slack does when an admin presses Allow on its authorize page: a one-time code for the redirect. */
  approveInstall(grant: FakeInstallGrant): string {
    this.#issued += 1;
    const code = `code-${this.#issued}-${Math.random().toString(36).slice(2, 10)}`;
    this.#codes.set(code, grant);
    return code;
  }

  /** Revoke every token of a workspace or org, as uninstalling the app does. */
  revokeTokensOf(teamOrEnterpriseId: string): void {
    for (const token of this.tokens.values()) {
      if (token.teamId === teamOrEnterpriseId || (token.isEnterpriseInstall && token.enterpriseId === teamOrEnterpriseId)) token.revoked = true;
    }
  }

  /**
   * A trigger_id as Slack puts in an interaction payload: views.open takes it once, within
   * 3 s of the interaction (`ageMs` says how long ago that was, to test expiry without waiting).
   */
  issueTrigger(options: { ageMs?: number } = {}): string {
    const id = `${Math.floor(Date.now() / 1000)}.${randomUUID().slice(0, 8)}`;
    if (this.#triggers.size < this.#maxCalls) this.#triggers.set(id, { issuedAt: Date.now() - (options.ageMs ?? 0), used: false });
    return id;
  }

  /** The home view last published for `userId`, if any. */
  homeOf(userId: string): Record<string, unknown> | undefined {
    return this.#homes.get(userId);
  }

  /** Make the next call of `method` fail as described (queued, one per call). */
  failNext(method: string, fault: Fault): void {
    const queue = this.#faults.get(method) ?? [];
    queue.push(fault);
    this.#faults.set(method, queue);
  }

  /** Messages the bot has in Slack now (posted or streamed, as last updated; deleted ones gone). */
  get messages(): readonly StoredMessage[] {
    return this.#messages;
  }

  /** Streams started and never stopped: Slack would show them as still being written. */
  get openStreams(): StoredMessage[] {
    return this.#messages.filter((m) => m.streaming === true);
  }

  /** Calls of one method (`response_url` for response_url posts). */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /** Calls that put something in front of a user. */
  get outgoing(): RecordedCall[] {
    return this.calls.filter((call) => !['auth.test', 'apps.connections.open', 'oauth.v2.access'].includes(call.method));
  }

  /** Wait until `predicate` holds, polling every 10 ms for at most `timeoutMs`. */
  async waitFor(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; calls: ${this.calls.map((c) => c.method).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    await closeServer(this.#server);
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const args = parseArgs(raw, String(request.headers['content-type'] ?? ''));
    const auth = String(request.headers.authorization ?? '');
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : typeof args.token === 'string' ? args.token : undefined;
    delete args.token;

    const method = path.startsWith('/api/') ? path.slice(5) : path.startsWith('/response/') ? 'response_url' : path;
    const known = token === undefined ? undefined : this.tokens.get(token);
    const team = known?.isEnterpriseInstall === true ? known.enterpriseId : known?.teamId;
    const responseId = method === 'response_url' ? path.slice('/response/'.length) : undefined;
    const call: RecordedCall = { method, args, ...(token === undefined ? {} : { token }), ...(team === undefined ? {} : { team }), ...(responseId === undefined ? {} : { responseId }), at: Date.now() };
    if (this.calls.length < this.#maxCalls) this.calls.push(call);

    const fault = this.#faults.get(method)?.shift();
    if (fault?.status !== undefined) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
      response.writeHead(fault.status, headers).end(JSON.stringify({ ok: false, error: fault.status === 429 ? 'ratelimited' : 'fatal_error' }));
      return;
    }
    if (fault?.error !== undefined) {
      json(response, { ok: false, error: fault.error });
      return;
    }
    const invalid = validate(method, args);
    if (invalid !== undefined) {
      call.refused = invalid;
      json(response, { ok: false, error: invalid });
      return;
    }
    if (method === 'response_url') {
      json(response, { ok: true });
      return;
    }
    // Slack's own answers for a missing, unknown or revoked token (every method but the tokenless ones).
    if (!TOKENLESS_METHODS.has(method)) {
      const refusal = token === undefined ? 'not_authed' : known === undefined ? 'invalid_auth' : known.revoked ? 'token_revoked' : undefined;
      if (refusal !== undefined) {
        json(response, { ok: false, error: refusal });
        return;
      }
    }
    const answer = method === 'oauth.v2.access' ? this.#exchange(args, String(request.headers.authorization ?? '')) : this.#answer(method, args, known);
    if (typeof answer.ts === 'string') call.postedTs = answer.ts;
    json(response, answer);
  }

  /**
   * oauth.v2.access as Slack answers it: client credentials as form fields or HTTP Basic, a code used
   * once (invalid_code otherwise), then the bot token, its scopes and where it was installed.
   */
  #exchange(args: CallArgs, authorization: string): Record<string, unknown> {
    let clientId = typeof args.client_id === 'string' ? args.client_id : undefined;
    let clientSecret = typeof args.client_secret === 'string' ? args.client_secret : undefined;
    if (authorization.startsWith('Basic ')) {
      const [id, secret] = Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(':');
      clientId = id;
      clientSecret = secret;
    }
    const app = this.oauthApp;
    if (app === undefined || clientId !== app.clientId) return { ok: false, error: 'invalid_client_id' };
    if (clientSecret !== app.clientSecret) return { ok: false, error: 'bad_client_secret' };
    const code = typeof args.code === 'string' ? args.code : '';
    const grant = this.#codes.get(code);
    if (grant === undefined || grant.clientId !== clientId) return { ok: false, error: 'invalid_code' };
    this.#codes.delete(code);
    this.#issued += 1;
    const where = grant.isEnterpriseInstall === true ? grant.enterprise?.id : grant.team?.id;
    const token = `xoxb-${where ?? 'x'}-${this.#issued}-${Math.random().toString(36).slice(2, 14)}`;
    const botUserId = grant.botUserId ?? `UBOT${this.#issued}`;
    const botId = grant.botId ?? `BBOT${this.#issued}`;
    this.tokens.set(token, {
      ...(grant.team === undefined ? {} : { teamId: grant.team.id }),
      ...(grant.enterprise === undefined ? {} : { enterpriseId: grant.enterprise.id }),
      isEnterpriseInstall: grant.isEnterpriseInstall === true,
      botUserId,
      botId,
      revoked: false,
    });
    return {
      ok: true,
      access_token: token,
      token_type: 'bot',
      scope: grant.scope,
      bot_user_id: botUserId,
      app_id: app.appId,
      team: grant.isEnterpriseInstall === true ? null : (grant.team ?? null),
      enterprise: grant.enterprise ?? null,
      is_enterprise_install: grant.isEnterpriseInstall === true,
      authed_user: { id: 'UADMIN' },
    };
  }

  #answer(method: string, args: CallArgs, token?: FakeToken): Record<string, unknown> {
    const ts = () => `${(this.#ts += 1)}.000100`;
    if (['chat.postMessage', 'chat.update', 'chat.stopStream', 'chat.postEphemeral'].includes(method)) {
      const problems = messageBlockProblems(args.blocks);
      if (problems.length > 0) return { ok: false, error: 'invalid_blocks', response_metadata: { messages: problems } };
    }
    switch (method) {
      case 'views.open':
        return this.#openView(args);
      case 'views.publish': {
        if (typeof args.user_id !== 'string' || !/^[UW][A-Z0-9]+$/.test(args.user_id)) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: ['invalid `user_id`'] } };
        const checked = checkView(args.view, 'home');
        if ('error' in checked) return checked;
        this.#homes.set(args.user_id, checked.view);
        return { ok: true, view: { id: `V${randomUUID().slice(0, 8).toUpperCase()}`, team_id: this.bot.teamId, ...checked.view } };
      }
      case 'auth.test':
        // Each token answers for its own bot and workspace (an org-wide token for its org).
        if (token !== undefined && token.teamId !== this.bot.teamId) {
          return {
            ok: true,
            user_id: token.botUserId,
            bot_id: token.botId,
            team_id: token.teamId ?? token.enterpriseId,
            ...(token.enterpriseId === undefined ? {} : { enterprise_id: token.enterpriseId }),
            is_enterprise_install: token.isEnterpriseInstall,
            url: `https://${token.teamId ?? token.enterpriseId ?? 'x'}.slack.com/`,
            user: 'hrbot',
          };
        }
        return { ok: true, user_id: this.bot.userId, bot_id: this.bot.botId, team_id: this.bot.teamId, user: 'hrbot', team: 'Northwind' };
      case 'apps.connections.open':
        return { ok: true, url: this.socketUrl };
      case 'chat.postMessage':
      case 'chat.startStream': {
        const posted = ts();
        const stream = method === 'chat.startStream';
        this.#store({
          channel: String(args.channel),
          ts: posted,
          thread_ts: args.thread_ts,
          metadata: args.metadata,
          text: args.text,
          ...(args.blocks === undefined ? {} : { blocks: args.blocks }),
          ...(stream ? { streaming: true, streamed: streamedText(args) } : {}),
        });
        return { ok: true, channel: args.channel, ts: posted };
      }
      case 'conversations.history':
      case 'conversations.replies': {
        // Newest first, as Slack returns them; metadata only when asked for.
        const oldest = Number(args.oldest ?? 0);
        const inThread = method === 'conversations.replies' ? String(args.ts) : undefined;
        const found = this.#messages
          .filter((m) => m.channel === args.channel && Number(m.ts) > oldest && (inThread === undefined || m.thread_ts === inThread))
          .reverse()
          .slice(0, Number(args.limit ?? 100))
          .map((m) => ({ type: 'message', ts: m.ts, text: m.text, bot_id: this.bot.botId, ...(String(args.include_all_metadata) === 'true' && m.metadata !== undefined ? { metadata: m.metadata } : {}) }));
        return { ok: true, messages: found, has_more: false };
      }
      case 'chat.appendStream':
      case 'chat.stopStream': {
        const message = this.#find(args);
        if (message === undefined) return { ok: false, error: 'message_not_found' };
        // Slack refuses to append to or stop a message that is not an open stream.
        if (message.streaming !== true) return { ok: false, error: 'message_not_in_streaming_state' };
        message.streamed = (message.streamed ?? '') + streamedText(args);
        if (method === 'chat.stopStream') {
          message.streaming = false;
          if (args.blocks !== undefined) message.blocks = args.blocks;
          if (args.metadata !== undefined) message.metadata = args.metadata;
        }
        return { ok: true, channel: args.channel, ts: args.ts };
      }
      case 'chat.update': {
        const message = this.#find(args);
        if (message === undefined) return { ok: false, error: 'message_not_found' };
        message.text = args.text;
        message.blocks = args.blocks;
        // An edit replaces what was streamed: the message now shows the text and blocks given.
        delete message.streamed;
        if (args.metadata !== undefined) message.metadata = args.metadata;
        return { ok: true, channel: args.channel, ts: args.ts };
      }
      case 'chat.delete': {
        const message = this.#find(args);
        if (message === undefined) return { ok: false, error: 'message_not_found' };
        this.#messages.splice(this.#messages.indexOf(message), 1);
        return { ok: true, channel: args.channel, ts: args.ts };
      }
      case 'chat.postEphemeral':
        return { ok: true, message_ts: ts() };
      case 'assistant.threads.setStatus':
      case 'assistant.threads.setTitle':
      case 'assistant.threads.setSuggestedPrompts':
        return { ok: true };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  #store(message: StoredMessage): void {
    if (this.#messages.length < this.#maxCalls) this.#messages.push(message);
  }

  #find(args: CallArgs): StoredMessage | undefined {
    return this.#messages.find((m) => m.channel === args.channel && m.ts === args.ts);
  }

  /** views.open: a known trigger_id, exchanged once within 3 s of its interaction, and a valid modal. */
  #openView(args: CallArgs): Record<string, unknown> {
    const trigger = typeof args.trigger_id === 'string' ? this.#triggers.get(args.trigger_id) : undefined;
    if (trigger === undefined) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: ['invalid `trigger_id`'] } };
    if (Date.now() - trigger.issuedAt > TRIGGER_TTL_MS) return { ok: false, error: 'expired_trigger_id' };
    if (trigger.used) return { ok: false, error: 'exchanged_trigger_id' };
    const checked = checkView(args.view, 'modal');
    if ('error' in checked) return checked;
    trigger.used = true;
    return { ok: true, view: { id: `V${randomUUID().slice(0, 8).toUpperCase()}`, team_id: this.bot.teamId, ...checked.view } };
  }
}

/** A view as Slack would take it, or the error it answers with. */
function checkView(view: unknown, type: 'modal' | 'home'): { view: Record<string, unknown> } | Record<string, unknown> & { error: string } {
  if (view === undefined) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: ['[ERROR] missing required field: view'] } };
  if (Buffer.byteLength(JSON.stringify(view)) > MAX_VIEW_BYTES) return { ok: false, error: 'view_too_large' };
  const problems = viewProblems(view, type);
  if (problems.length > 0) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: problems } };
  return { view: view as Record<string, unknown> };
}

/** The markdown a stream call carries, in `markdown_text` or in `markdown_text` chunks. */
function streamedText(args: CallArgs): string {
  const chunks = (args.chunks ?? []).filter((chunk) => chunk.type === 'markdown_text').map((chunk) => chunk.text ?? '');
  return `${typeof args.markdown_text === 'string' ? args.markdown_text : ''}${chunks.join('')}`;
}

// Slack's documented limits, enforced so a test fails where Slack would refuse the call.
/** `text` of a message (chat.postMessage: "msg_too_long"). */
export const SLACK_MAX_TEXT = 40_000;
/** Blocks in one message. */
export const SLACK_MAX_BLOCKS = 50;
/** All markdown blocks of one payload together; also `markdown_text` of one stream call. */
export const SLACK_MAX_MARKDOWN = 12_000;
/** A text object (section text, context element). */
const SLACK_MAX_TEXT_OBJECT = 3000;
/** Elements of a context block / an actions block. */
const SLACK_MAX_CONTEXT_ELEMENTS = 10;
const SLACK_MAX_ACTIONS_ELEMENTS = 25;
/** A button's label and value; a block_id. */
const SLACK_MAX_BUTTON_TEXT = 75;
const SLACK_MAX_BUTTON_VALUE = 2000;
const SLACK_MAX_BLOCK_ID = 255;
/** assistant.threads.setSuggestedPrompts takes up to four prompts. */
const SLACK_MAX_PROMPTS = 4;
/** Block types the fake knows; any other is refused as Slack refuses an unknown type. */
const BLOCK_TYPES = new Set(['actions', 'context', 'context_actions', 'divider', 'header', 'image', 'markdown', 'rich_text', 'section', 'table']);
const MESSAGE_METHODS = new Set(['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'response_url']);
const STREAM_METHODS = new Set(['chat.startStream', 'chat.appendStream', 'chat.stopStream']);

/** The Slack error a call gets for breaking a documented rule, or undefined when it is valid. */
export function validate(method: string, args: CallArgs): string | undefined {
  if (MESSAGE_METHODS.has(method) || method === 'chat.stopStream') {
    if (typeof args.text === 'string' && args.text.length > SLACK_MAX_TEXT) return 'msg_too_long';
    if (args.blocks !== undefined && blocksError(args.blocks) !== undefined) return 'invalid_blocks';
    if (method !== 'chat.stopStream' && method !== 'chat.update' && (args.text ?? '') === '' && (args.blocks ?? []).length === 0) return 'no_text';
  }
  if (STREAM_METHODS.has(method)) {
    if (typeof args.markdown_text === 'string' && args.markdown_text.length > SLACK_MAX_MARKDOWN) return 'msg_too_long';
    if ((args.chunks ?? []).some((chunk) => chunk.type === 'markdown_text' && (chunk.text ?? '').length > SLACK_MAX_MARKDOWN)) return 'invalid_chunks';
    if (method === 'chat.startStream' && (typeof args.thread_ts !== 'string' || args.thread_ts === '')) return 'invalid_arguments';
  }
  if (args.metadata !== undefined) {
    const metadata = args.metadata as { event_type?: unknown; event_payload?: unknown };
    if (typeof metadata.event_type !== 'string' || typeof metadata.event_payload !== 'object' || metadata.event_payload === null) return 'invalid_metadata_format';
  }
  switch (method) {
    case 'assistant.threads.setStatus':
      return typeof args.channel_id === 'string' && typeof args.thread_ts === 'string' && typeof args.status === 'string' ? undefined : 'invalid_arguments';
    case 'assistant.threads.setTitle':
      return typeof args.channel_id === 'string' && typeof args.thread_ts === 'string' && typeof args.title === 'string' && args.title !== '' ? undefined : 'invalid_arguments';
    case 'assistant.threads.setSuggestedPrompts': {
      const prompts = args.prompts as Array<{ title?: unknown; message?: unknown }> | undefined;
      if (typeof args.channel_id !== 'string' || !Array.isArray(prompts) || prompts.length === 0 || prompts.length > SLACK_MAX_PROMPTS) return 'invalid_arguments';
      return prompts.every((p) => typeof p.title === 'string' && p.title !== '' && typeof p.message === 'string' && p.message !== '') ? undefined : 'invalid_arguments';
    }
    default:
      return undefined;
  }
}

/** Why Slack would refuse these blocks (its `invalid_blocks`), or undefined. */
export function blocksError(blocks: readonly RecordedBlock[]): string | undefined {
  if (blocks.length > SLACK_MAX_BLOCKS) return `more than ${SLACK_MAX_BLOCKS} blocks`;
  let markdown = 0;
  for (const block of blocks) {
    if (!BLOCK_TYPES.has(block.type)) return `unknown block type ${block.type}`;
    if (block.block_id !== undefined && block.block_id.length > SLACK_MAX_BLOCK_ID) return 'block_id too long';
    const text = block.text;
    switch (block.type) {
      case 'markdown':
        if (typeof text !== 'string' || text === '') return 'markdown block without text';
        markdown += text.length;
        break;
      case 'section':
        if (typeof text !== 'object' || text.text.length > SLACK_MAX_TEXT_OBJECT) return 'section text over 3000';
        break;
      case 'context': {
        const elements = block.elements ?? [];
        if (elements.length === 0 || elements.length > SLACK_MAX_CONTEXT_ELEMENTS) return 'context elements';
        if (elements.some((e) => typeof e.text === 'string' && e.text.length > SLACK_MAX_TEXT_OBJECT)) return 'context text over 3000';
        break;
      }
      case 'actions': {
        const elements = block.elements ?? [];
        if (elements.length === 0 || elements.length > SLACK_MAX_ACTIONS_ELEMENTS) return 'actions elements';
        for (const element of elements) {
          const label = typeof element.text === 'object' ? element.text.text : '';
          if (element.type === 'button' && (label.length > SLACK_MAX_BUTTON_TEXT || (element.value ?? '').length > SLACK_MAX_BUTTON_VALUE)) return 'button too long';
        }
        break;
      }
    }
  }
  return markdown > SLACK_MAX_MARKDOWN ? `markdown blocks over ${SLACK_MAX_MARKDOWN} characters` : undefined;
}

function parseArgs(raw: string, contentType: string): CallArgs {
  if (raw === '') return {};
  if (contentType.includes('application/json')) return JSON.parse(raw) as CallArgs;
  const args: CallArgs = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    args[key] = JSON_FIELDS.has(key) ? JSON.parse(value) : value;
  }
  return args;
}

function json(response: ServerResponse, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A Block Kit block as the tests read it. */
export interface RecordedBlock {
  type: string;
  block_id?: string;
  /** A text object (section), or the markdown of a `markdown` block. */
  text?: { type: string; text: string } | string;
  elements?: Array<{ type: string; text?: string | { text: string }; action_id?: string; value?: string }>;
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
  /** The ts the fake answered with, for calls that create a message. */
  postedTs?: string;
  /** The error the fake answered with when the call broke one of Slack's rules (see validate). */
  refused?: string;
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

/** Fields parsed as JSON when the client sends them form-encoded. */
const JSON_FIELDS = new Set(['blocks', 'attachments', 'chunks', 'metadata', 'loading_messages', 'prompts']);
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

  constructor(options: FakeSlackApiOptions = {}) {
    this.#maxCalls = options.maxCalls ?? MAX_CALLS;
  }

  /** Start on 127.0.0.1, a free port. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
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
    return this.calls.filter((call) => !['auth.test', 'apps.connections.open'].includes(call.method));
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
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
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
    const call: RecordedCall = { method, args, ...(token === undefined ? {} : { token }), at: Date.now() };
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
    const answer = this.#answer(method, args);
    if (typeof answer.ts === 'string') call.postedTs = answer.ts;
    json(response, answer);
  }

  #answer(method: string, args: CallArgs): Record<string, unknown> {
    const ts = () => `${(this.#ts += 1)}.000100`;
    switch (method) {
      case 'auth.test':
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

/**
 * A fake Bot Framework connector service (the Teams side of `serviceUrl`) over real HTTP, so the
 * real botframework-connector client serialises, sends and retries as it would against Teams.
 * Records every activity the bot sends, and can answer 429 or 503, or drop the connection, on demand.
 *
 * It refuses, with 400 as Teams does, what Teams' docs say Teams refuses: more than one root
 * message entity, an AI message entity without its schema.org fields, more than 10 citations, a
 * citation without an appearance or over the name (80) / abstract (160) / keyword limits,
 * `feedbackLoopEnabled` beside `feedbackLoop`, and an Adaptive Card newer than 1.5; and, with 403
 * ContentStreamNotAllowed, a streaming update that drops text the stream already showed. It can play
 * a user pressing Stop on a stream ({@link stopStreamAt}).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { listenOnLoopback } from '../support/loopback-server.ts';

/** One call the bot made. */
export interface ConnectorCall {
  method: 'POST' | 'PUT';
  path: string;
  /** Decoded conversation id from the path. */
  conversationId: string;
  /** The activity id in the path: what a POST replies to, or what a PUT updates. */
  activityId?: string;
  // Activity payloads are loose JSON; tests read whichever fields they check.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the bot sends free-form activity JSON
  activity: Record<string, any>;
  /** When the fake received it (ms since epoch). */
  at: number;
  /** The id the fake answered with: a new activity's id for a POST, the updated one for a PUT. */
  responseId?: string;
  authorization?: string;
}

/** A failure to answer with instead of 200, for the next matching request. */
export type ConnectorFault = (
  | { status: 429 | 500 | 502 | 503 | 403; retryAfterSeconds?: number }
  /**
   * Read the whole request, then destroy the socket without answering: the client sees ECONNRESET
   * ("socket hang up"). The activity is not posted (it lands in `faulted`, not `calls`).
   */
  | { reset: true }
) & {
  /** Only fail a request carrying an activity of this type (e.g. 'message', so typing passes). */
  onlyType?: string;
};

/** Calls (and faulted calls) recorded by default; a load run raises it with `maxCalls`. */
const MAX_CALLS = 10_000;

/** The error Teams answers a stream request with once the user pressed Stop. */
export const STREAM_STOPPED_ERROR = { code: 'ContentStreamNotAllowed', message: 'Content stream was cancelled by user.' } as const;

/** Newest Adaptive Card version Teams renders. */
const MAX_CARD_VERSION = [1, 5] as const;

/** Options for {@link FakeTeamsConnector}. */
export interface FakeTeamsConnectorOptions {
  /** Calls, and faulted calls, kept at most. Default 10,000. */
  maxCalls?: number;
}

export class FakeTeamsConnector {
  /** Successful calls, in order received. */
  readonly calls: ConnectorCall[] = [];
  /** Requests answered with a fault. */
  readonly faulted: ConnectorCall[] = [];
  readonly #faults: ConnectorFault[] = [];
  readonly #server: Server;
  #port = 0;
  #ids = 0;
  readonly #maxCalls: number;
  /** Requests refused as invalid (400), with the reason. */
  readonly rejected: Array<{ call: ConnectorCall; reason: string }> = [];
  /** Streams the user stopped: every later request for them gets 403. */
  readonly #stoppedStreams = new Set<string>();
  #stopAtUpdate: number | undefined;
  /** The text each open stream shows, so an update that drops some of it is refused as Teams does. */
  readonly #streamedText = new Map<string, string>();
  #streamingUpdates = 0;

  constructor(options: FakeTeamsConnectorOptions = {}) {
    this.#maxCalls = options.maxCalls ?? MAX_CALLS;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        response.writeHead(500);
        response.end(String(error));
      });
    });
  }

  async start(): Promise<this> {
    this.#port = await listenOnLoopback(this.#server);
    return this;
  }

  /** The `serviceUrl` to put on activities. */
  get serviceUrl(): string {
    return `http://127.0.0.1:${this.#port}/`;
  }

  /** Answer the next requests with these faults, one each, before answering normally again. */
  failNext(...faults: ConnectorFault[]): void {
    this.#faults.push(...faults);
  }

  /**
   * Play the user pressing Stop: the `n`th streaming update (counted from now, over all streams)
   * is answered 403 ContentStreamNotAllowed "Content stream was cancelled by user.", as Teams does,
   * and so is every later request carrying that stream's id (updates and its final message).
   */
  stopStreamAt(n: number): void {
    this.#stopAtUpdate = n;
    this.#streamingUpdates = 0;
  }

  /** Streams stopped by {@link stopStreamAt}. */
  get stoppedStreams(): readonly string[] {
    return [...this.#stoppedStreams];
  }

  /** Messages (not typing) sent to a conversation. */
  messages(conversationPrefix = ''): ConnectorCall[] {
    return this.calls.filter((c) => c.activity.type === 'message' && c.conversationId.startsWith(conversationPrefix));
  }

  /**
   * Each message the bot left in front of users in matching conversations, as it shows now, in the
   * order first shown: a POSTed message is a new one unless it is a stream's final message (which
   * replaces the stream), a PUT replaces the message it names, and a stream's typing updates show
   * as the stream until its final message. A stream still showing a typing activity was never finished.
   */
  shownMessages(conversationPrefix = ''): ConnectorCall[] {
    const shown = new Map<string, ConnectorCall>();
    for (const call of this.calls) {
      if (!call.conversationId.startsWith(conversationPrefix)) continue;
      const stream = (call.activity.entities ?? []).find((e: { type?: string }) => e.type === 'streaminfo') as { streamId?: string } | undefined;
      if (call.method === 'PUT' && call.activityId !== undefined) shown.set(`${call.conversationId} ${call.activityId}`, call);
      else if (stream !== undefined) shown.set(`${call.conversationId} ${stream.streamId ?? call.responseId}`, call);
      else if (call.activity.type === 'message') shown.set(`${call.conversationId} ${call.responseId}`, call);
    }
    return [...shown.values()];
  }

  /** Wait until `predicate` holds, polling; fails after `timeoutMs`. */
  async waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'connector calls'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.calls.map((c) => c.activity.type))}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Let anything still in flight arrive, then report whether the count stayed put. */
  async settle(ms = 150): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      this.#server.closeAllConnections();
    });
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const match = /^\/v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(path);
    if (match === null || (request.method !== 'POST' && request.method !== 'PUT')) {
      response.writeHead(404);
      response.end();
      return;
    }
    const call: ConnectorCall = {
      method: request.method,
      path,
      conversationId: decodeURIComponent(match[1] ?? ''),
      ...(match[2] === undefined ? {} : { activityId: decodeURIComponent(match[2]) }),
      activity: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'),
      at: Date.now(),
      ...(request.headers.authorization === undefined ? {} : { authorization: request.headers.authorization }),
    };
    const invalid = validateActivity(call.activity);
    if (invalid !== undefined) {
      if (this.rejected.length < this.#maxCalls) this.rejected.push({ call, reason: invalid });
      sendError(response, 400, 'BadArgument', invalid);
      return;
    }
    const stream = (call.activity.entities ?? []).find((e: { type?: string }) => e.type === 'streaminfo') as { streamId?: string; streamType?: string } | undefined;
    if (stream?.streamId !== undefined && this.#stoppedStreams.has(stream.streamId)) {
      if (this.faulted.length < this.#maxCalls) this.faulted.push(call);
      sendError(response, 403, STREAM_STOPPED_ERROR.code, STREAM_STOPPED_ERROR.message);
      return;
    }
    if (stream?.streamType === 'streaming' && stream.streamId !== undefined && this.#stopAtUpdate !== undefined) {
      this.#streamingUpdates += 1;
      if (this.#streamingUpdates >= this.#stopAtUpdate) {
        this.#stopAtUpdate = undefined;
        this.#stoppedStreams.add(stream.streamId);
        if (this.faulted.length < this.#maxCalls) this.faulted.push(call);
        sendError(response, 403, STREAM_STOPPED_ERROR.code, STREAM_STOPPED_ERROR.message);
        return;
      }
    }
    if (stream?.streamType === 'streaming' && stream.streamId !== undefined) {
      const before = this.#streamedText.get(stream.streamId) ?? '';
      const text = typeof call.activity.text === 'string' ? call.activity.text : '';
      if (!text.startsWith(before)) {
        if (this.rejected.length < this.#maxCalls) this.rejected.push({ call, reason: 'streamed content dropped' });
        sendError(response, 403, 'ContentStreamNotAllowed', 'Request streamed content should contain the previously streamed content.');
        return;
      }
      this.#streamedText.set(stream.streamId, text);
      // Bounded like the call log: the oldest stream is forgotten first.
      if (this.#streamedText.size > this.#maxCalls) this.#streamedText.delete(this.#streamedText.keys().next().value ?? '');
    }
    if (stream?.streamType === 'final' && stream.streamId !== undefined) this.#streamedText.delete(stream.streamId);
    const index = this.#faults.findIndex((f) => f.onlyType === undefined || f.onlyType === call.activity.type);
    const fault = index === -1 ? undefined : this.#faults.splice(index, 1)[0];
    if (fault !== undefined) {
      if (this.faulted.length < this.#maxCalls) this.faulted.push(call);
      if ('reset' in fault) {
        request.socket.destroy();
        return;
      }
      response.writeHead(fault.status, {
        'content-type': 'application/json',
        ...(fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) }),
      });
      response.end(JSON.stringify({ error: { code: 'Fault', message: `fake ${fault.status}` } }));
      return;
    }
    this.#ids += 1;
    const id = call.method === 'PUT' ? call.activityId : `fake-${this.#ids}`;
    if (id !== undefined) call.responseId = id;
    if (this.calls.length < this.#maxCalls) this.calls.push(call);
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ id }));
  }
}

function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ error: { code, message } }));
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Why Teams would refuse this activity with 400, or undefined if it would take it. */
export function validateActivity(activity: Json): string | undefined {
  const entities = Array.isArray(activity.entities) ? (activity.entities as unknown[]) : [];
  const roots = entities.filter((e) => isObject(e) && (e.type === 'https://schema.org/Message' || e['@type'] === 'Message'));
  if (roots.length > 1) return 'Multiple root message entities found in the bot activity.';
  const root = roots[0] as Json | undefined;
  if (root !== undefined) {
    if (root.type !== 'https://schema.org/Message' || root['@type'] !== 'Message' || root['@context'] !== 'https://schema.org') {
      return 'Error parsing message entity from activity object.';
    }
    if (root.additionalType !== undefined && !(Array.isArray(root.additionalType) && root.additionalType.every((t) => typeof t === 'string'))) {
      return 'Error parsing message entity from activity object.';
    }
    const citations = root.citation;
    if (citations !== undefined) {
      if (!Array.isArray(citations)) return 'Error parsing message entity from activity object.';
      if (citations.length > 10) return 'Bot message with more than 10 citations.';
      for (const citation of citations as unknown[]) {
        const problem = citationProblem(citation);
        if (problem !== undefined) return problem;
      }
    }
  }
  const channelData = isObject(activity.channelData) ? activity.channelData : {};
  if (channelData.feedbackLoopEnabled !== undefined && channelData.feedbackLoop !== undefined) return 'feedbackLoopEnabled and feedbackLoop cannot both be set.';
  for (const attachment of Array.isArray(activity.attachments) ? (activity.attachments as unknown[]) : []) {
    if (!isObject(attachment) || attachment.contentType !== 'application/vnd.microsoft.card.adaptive' || !isObject(attachment.content)) continue;
    const version = typeof attachment.content.version === 'string' ? attachment.content.version : '';
    const match = /^(\d+)\.(\d+)$/.exec(version);
    if (match === null) return `Adaptive Card version "${version}" is not a version.`;
    const [major, minor] = [Number(match[1]), Number(match[2])];
    if (major > MAX_CARD_VERSION[0] || (major === MAX_CARD_VERSION[0] && minor > MAX_CARD_VERSION[1])) return `Adaptive Card version ${version} is newer than Teams renders (1.5).`;
  }
  return undefined;
}

function citationProblem(citation: unknown): string | undefined {
  if (!isObject(citation) || citation['@type'] !== 'Claim') return 'Error while parsing citation entity.';
  const position = citation.position;
  if (typeof position !== 'number' || !Number.isInteger(position) || position < 1) return 'Error while parsing citation entity: position.';
  const appearance = citation.appearance;
  if (!isObject(appearance) || Object.keys(appearance).length === 0) return 'Claim added has empty appearance.';
  if (appearance['@type'] !== 'DigitalDocument') return `Error while parsing citation entity with ID: ${position}.`;
  if (typeof appearance.name !== 'string' || appearance.name === '' || appearance.name.length > 80) return `Citation ${position}: name must be 1 to 80 characters.`;
  if (typeof appearance.abstract !== 'string' || appearance.abstract === '' || appearance.abstract.length > 160) return `Citation ${position}: abstract must be 1 to 160 characters.`;
  if (appearance.url !== undefined && (typeof appearance.url !== 'string' || !/^https?:\/\//.test(appearance.url))) return `Citation ${position}: url must be http(s).`;
  const keywords = appearance.keywords;
  if (keywords !== undefined && (!Array.isArray(keywords) || keywords.length > 3 || keywords.some((k) => typeof k !== 'string' || k.length > 28))) {
    return `Citation ${position}: at most 3 keywords of at most 28 characters.`;
  }
  return undefined;
}

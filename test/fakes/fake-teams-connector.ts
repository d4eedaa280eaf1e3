/**
 * A fake Bot Framework connector service (the Teams side of `serviceUrl`) over real HTTP, so the
 * real botframework-connector client serialises, sends and retries as it would against Teams.
 * Records every activity the bot sends, and can answer 429 or 503, or drop the connection, on demand.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
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

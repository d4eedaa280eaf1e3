/**
 * A fake Amazon Bedrock Runtime (Converse / ConverseStream, and InvokeModel for Titan Text Embeddings
 * V2 and the rerank models: see fake-embeddings.ts and fake-rerank.ts) for tests and benchmarks.
 *
 * The real `@aws-sdk/client-bedrock-runtime` client talks to it over real sockets, so the SDK's own
 * serialisation, signing, error mapping, retries and event-stream decoding are all exercised.
 *
 * One port speaks both protocols: the SDK's default handler (NodeHttp2Handler) opens HTTP/2 with prior
 * knowledge (h2c) for an `http://` endpoint, while a client built with `requestHandler: new NodeHttpHandler()`
 * speaks HTTP/1.1. We sniff the first bytes of each connection (the HTTP/2 preface starts with "PRI ")
 * and hand the socket to the matching server, so tests do not have to care which handler the bot uses.
 *
 * Wire formats (restJson1 + vnd.amazon.eventstream) follow the Bedrock Runtime API reference and the
 * SDK's own deserialisers (@smithy/core protocols and event-streams).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { finished as streamFinished } from 'node:stream/promises';
import { seededRandom } from '../support/seeded-random.ts';
import { checkEmbeddingRequest, embeddingResponse } from './fake-embeddings.ts';
import { checkRerankRequest, isRerankModel, rerankResponse } from './fake-rerank.ts';

// ---------------------------------------------------------------------------------------------------
// Public types

export type FakeOperation = 'converse' | 'converse-stream' | 'invoke';

/** HTTP statuses Bedrock Runtime uses for its modelled errors. */
export type FaultStatus = 400 | 403 | 404 | 408 | 424 | 429 | 500 | 503;

export type FakeFault =
  /** 429 ThrottlingException; `retryAfterSeconds` adds a standard `Retry-After` header (the SDK reads it). */
  | { kind: 'throttle'; retryAfterSeconds?: number }
  /** Any modelled error, e.g. `{ status: 503, errorType: 'ServiceUnavailableException' }`. */
  | { kind: 'status'; status: FaultStatus; errorType: string; message?: string }
  /** Answer normally, but only after `delayMs` (on top of the base latency). Aborts if the client leaves. */
  | { kind: 'slow'; delayMs: number }
  /**
   * Converse-stream: send `afterChunks` text deltas, then either reset the HTTP/2 stream (or TCP socket on
   * HTTP/1.1) — `how: 'destroy'`, the default — or send an exception event (`how: 'exception'`,
   * `exceptionType` defaulting to `modelStreamErrorException`) and end the body cleanly.
   * Converse: send the 200 headers and half the JSON body, then reset.
   */
  | { kind: 'break-stream'; afterChunks: number; how?: 'destroy' | 'exception'; exceptionType?: StreamExceptionType }
  /** A successful answer with empty text (`noContent: true` sends an empty content list instead). */
  | { kind: 'empty'; noContent?: boolean }
  /** A successful answer cut in half with stopReason `max_tokens`. */
  | { kind: 'truncated' }
  /** Reset the stream (HTTP/2 RST_STREAM) or socket (HTTP/1.1) without any response. */
  | { kind: 'reset' };

/** Union member names of ConverseStreamOutput that are exceptions (the `:exception-type` header value). */
export type StreamExceptionType =
  | 'internalServerException'
  | 'modelStreamErrorException'
  | 'validationException'
  | 'throttlingException'
  | 'serviceUnavailableException';

export interface FakeCall {
  operation: FakeOperation;
  modelId: string;
  /** Parsed JSON body (the raw text when it was not JSON). */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary request fields
  /** Date.now() when the request arrived. */
  at: number;
  protocol: 'h2' | 'http/1.1';
  /** From the SDK's `amz-sdk-request: attempt=N; max=M` header: shows SDK-level retries. */
  attempt: number | undefined;
  headers: IncomingHttpHeaders;
}

/** What a reply function sees: the request, with the prompt text pulled out. */
export interface FakeRequest {
  operation: FakeOperation;
  modelId: string;
  body: unknown;
  /** All `system[].text` blocks joined by blank lines. */
  system: string;
  /** Every message's text blocks joined, in order. */
  messages: Array<{ role: string; text: string }>;
  /** The last user message's text. */
  question: string;
}

export interface FakeAnswer {
  text: string;
  stopReason?: string;
  inputTokens?: number;
  outputTokens?: number;
}

export type ReplyFn = (request: FakeRequest) => FakeAnswer | Promise<FakeAnswer>;

export interface FakeStats {
  /** Every request received, well-formed or not. */
  requests: number;
  /** Answered 429 ThrottlingException (quota or fault). */
  throttled: number;
  /** Every other unsuccessful outcome: error statuses, resets, broken streams, clients that left. */
  failed: number;
  /** Complete answers delivered (including empty or truncated ones). */
  succeeded: number;
  /** Requests being handled right now. */
  inFlight: number;
  /** The highest `inFlight` seen. */
  concurrentMax: number;
}

export interface QuotaOptions {
  requestsPerMinute: number;
  /**
   * Also send `x-amz-retry-after: <ms>` (the SDK's own retry hint header, in milliseconds) with quota
   * throttles. Real Bedrock does not; off by default.
   */
  retryAfterHint?: boolean;
}

/**
 * Faults drawn at random for each request, whatever the request rate: Bedrock's own capacity throttling
 * and transient errors, as opposed to a quota. The generator is seeded, so a run draws the same sequence.
 */
export interface RandomFaults {
  /** Share of requests answered 429 ThrottlingException, 0..1. */
  throttle: number;
  /** Share answered 500 InternalServerException or 503 ServiceUnavailableException (half each, at random), 0..1. */
  error: number;
  /** Seed of the generator. Default 1. */
  seed?: number;
}

/** The embedding model the fake serves on InvokeModel (any `amazon.titan-embed-text-v2` id is accepted). */
export const FAKE_EMBEDDING_MODEL_ID = 'amazon.titan-embed-text-v2:0';

/** A rerank model the fake serves on InvokeModel (any `cohere.rerank` or `amazon.rerank` id is accepted). */
export const FAKE_RERANK_MODEL_ID = 'cohere.rerank-v3-5:0';

/** The model id tests configure the bot with. */
export const FAKE_MODEL_ID = 'anthropic.claude-3-haiku-20240307-v1:0';

/**
 * The environment that turns AI answers on against a fake Bedrock at `endpoint`, with throwaway
 * credentials. Hybrid search (embedding calls at start and per question) is off unless `embeddings`
 * is true, so tests that count or fault the model's calls see only the answers' calls.
 */
export function bedrockEnv(endpoint: string, modelId = FAKE_MODEL_ID, options: { embeddings?: boolean } = {}): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'y',
    BEDROCK_MODEL_ID: modelId,
    BEDROCK_EMBEDDING_MODEL_ID: options.embeddings === true ? FAKE_EMBEDDING_MODEL_ID : 'off',
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: endpoint,
  };
}

export interface FakeBedrockOptions {
  /** "A minute" of quota lasts 60_000 / timeScale ms, so a benchmark can run in seconds. Default 1. */
  timeScale?: number;
  /** Initial quota; none by default. */
  quota?: QuotaOptions;
  /** Initial random faults; none by default. They never count against the quota. */
  randomFaults?: RandomFaults;
  /** Real milliseconds every request waits before answering (model latency). Default 0. */
  latencyMs?: number;
  /** Characters per contentBlockDelta event. Default 16. */
  chunkChars?: number;
  /** Requests kept in `calls` at most (each holds its whole prompt); later ones are counted in `stats` only. Default: all. */
  maxCalls?: number;
  /** Real milliseconds between contentBlockDelta events. Default 0. */
  chunkDelayMs?: number;
  reply?: ReplyFn;
}

export interface FakeBedrock {
  readonly url: string;
  readonly calls: FakeCall[];
  readonly stats: FakeStats;
  /** Errors seen on sockets/streams (client resets and the like), for debugging a test. */
  readonly transportErrors: Error[];
  reply(fn: ReplyFn): void;
  /** The next `n` requests (of `only.operation`, when given) get `fault` (before any `setFault` fault and before the quota). */
  failNext(n: number, fault: FakeFault, only?: { operation?: FakeOperation }): void;
  /** Every request (of `only.operation`, when given) gets `fault` until cleared with `null`. */
  setFault(fault: FakeFault | null, only?: { operation?: FakeOperation }): void;
  /** Sliding-window request quota; `null` removes it. */
  setQuota(quota: QuotaOptions | null): void;
  /** Random throttles and errors from now on (the generator restarts from the seed); `null` stops them. */
  setRandomFaults(faults: RandomFaults | null): void;
  setLatency(latencyMs: number): void;
  setStreaming(options: { chunkChars?: number; chunkDelayMs?: number }): void;
  /** Clear calls, stats, faults (random ones restart from their seed), quota window and the reply function (keeps options given to start). */
  reset(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// CRC32 and event-stream encoding (Node 20 has no zlib.crc32)

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3 / gzip), which the event-stream prelude and message checksums use. */
export function crc32(data: Uint8Array, previous = 0): number {
  let crc = (previous ^ 0xffffffff) >>> 0;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)) >>> 0;
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * One `application/vnd.amazon.eventstream` message: total length, headers length, prelude CRC,
 * headers (all type 7 = UTF-8 string), payload, message CRC (over everything before it).
 */
export function encodeEventStreamMessage(headers: Record<string, string>, payload: Uint8Array): Buffer {
  const headerParts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const nameBytes = Buffer.from(name, 'utf8');
    const valueBytes = Buffer.from(value, 'utf8');
    const part = Buffer.alloc(1 + nameBytes.length + 1 + 2 + valueBytes.length);
    let offset = part.writeUInt8(nameBytes.length, 0);
    offset += nameBytes.copy(part, offset);
    offset = part.writeUInt8(7, offset);
    offset = part.writeUInt16BE(valueBytes.length, offset);
    valueBytes.copy(part, offset);
    headerParts.push(part);
  }
  const headerBytes = Buffer.concat(headerParts);
  const total = 12 + headerBytes.length + payload.length + 4;
  const message = Buffer.alloc(total);
  message.writeUInt32BE(total, 0);
  message.writeUInt32BE(headerBytes.length, 4);
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8);
  headerBytes.copy(message, 12);
  Buffer.from(payload).copy(message, 12 + headerBytes.length);
  message.writeUInt32BE(crc32(message.subarray(0, total - 4)), total - 4);
  return message;
}

function eventMessage(eventType: string, payload: unknown): Buffer {
  return encodeEventStreamMessage(
    { ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' },
    Buffer.from(JSON.stringify(payload), 'utf8'),
  );
}

function exceptionMessage(exceptionType: string, payload: unknown): Buffer {
  return encodeEventStreamMessage(
    { ':exception-type': exceptionType, ':content-type': 'application/json', ':message-type': 'exception' },
    Buffer.from(JSON.stringify(payload), 'utf8'),
  );
}

// ---------------------------------------------------------------------------------------------------
// The default reply

/** Lines that start a handbook section in a prompt: markdown headings, bold titles, [n] sources, <section>. */
const SECTION_START = [
  /^\s*#{1,6}\s+(.+?)\s*$/,
  /^\s*\*\*(.+?)\*\*:?\s*$/,
  /^\s*\[(?:\d+|[A-Za-z]+\s*\d+)\]\s*(.+?)\s*$/,
  /<(?:section|excerpt|source|document)\b[^>]*?\b(?:heading|title|path|name)="([^"]+)"/i,
];

function sectionHeading(line: string): string | undefined {
  for (const pattern of SECTION_START) {
    const match = pattern.exec(line);
    if (match?.[1]) return match[1];
  }
  return undefined;
}

/**
 * The answer used when no `reply` is set: it quotes the first sentence of the first handbook section it
 * finds in the prompt (system first, then messages), so a test can see the handbook reached the model.
 */
export function defaultReply(request: FakeRequest): FakeAnswer {
  const prompt = [request.system, ...request.messages.map((m) => m.text)].join('\n\n');
  const lines = prompt.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = sectionHeading(lines[i] ?? '');
    if (heading === undefined) continue;
    for (let j = i + 1; j < lines.length; j++) {
      const line = (lines[j] ?? '').replace(/<[^>]+>/g, '').trim();
      if (line === '' || sectionHeading(lines[j] ?? '') !== undefined) continue;
      const sentence = /^(.{1,240}?[.!?])(\s|$)/.exec(line)?.[1] ?? line.slice(0, 240);
      // A numbered source ("[2] Heading") is cited by its number, as the prompt asks a model to.
      const cited = /^\s*\[(\d+)\]/.exec(lines[i] ?? '')?.[1];
      return { text: `According to the handbook (${heading}): ${sentence}${cited === undefined ? '' : ` [${cited}]`}`, stopReason: 'end_turn' };
    }
  }
  return { text: 'According to the handbook, I could not find anything about that.', stopReason: 'end_turn' };
}

// ---------------------------------------------------------------------------------------------------
// One request/response, whichever protocol carried it

interface Exchange {
  readonly protocol: 'h2' | 'http/1.1';
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Aborted when the client goes away before we finished answering. */
  readonly signal: AbortSignal;
  readBody(): Promise<Buffer>;
  respond(status: number, headers: Record<string, string>): void;
  write(chunk: Uint8Array): Promise<void>;
  end(chunk?: Uint8Array): Promise<void>;
  /** Abrupt end without (the rest of) a response. */
  reset(): void;
}

/** The async iterator throws on a premature close, so a vanished client can never leave us waiting. */
async function readAll(source: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function writeTo(target: NodeJS.WritableStream, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    target.write(chunk, (err?: Error | null) => (err ? reject(err) : resolve()));
  });
}

function h2Exchange(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, onError: (err: Error) => void): Exchange {
  const controller = new AbortController();
  let finished = false;
  // A client reset surfaces as 'error' (or just 'close' for CANCEL); either way the answer is moot.
  stream.on('error', onError);
  stream.on('close', () => {
    if (!finished) controller.abort(new Error('client went away'));
  });
  return {
    protocol: 'h2',
    method: String(headers[':method'] ?? ''),
    path: String(headers[':path'] ?? ''),
    headers,
    signal: controller.signal,
    readBody: () => readAll(stream),
    respond: (status, responseHeaders) => stream.respond({ ':status': status, ...responseHeaders }),
    write: (chunk) => writeTo(stream, chunk),
    end: async (chunk) => {
      finished = true;
      stream.end(chunk);
      // Settles even when the stream is already gone (then it rejects: the client left before the end).
      await streamFinished(stream);
    },
    reset: () => {
      finished = true;
      // Not stream.close(code): that ends the writable side first, so a client whose request is complete
      // sees END_STREAM — a clean end — and ignores the RST_STREAM after it. destroy() skips the end, so the
      // client gets RST_STREAM(INTERNAL_ERROR) while it still expects data.
      stream.destroy(new Error('fake Bedrock reset the stream'));
    },
  };
}

function h1Exchange(req: IncomingMessage, res: ServerResponse): Exchange {
  const controller = new AbortController();
  let finished = false;
  res.on('close', () => {
    if (!finished) controller.abort(new Error('client went away'));
  });
  return {
    protocol: 'http/1.1',
    method: req.method ?? '',
    path: req.url ?? '',
    headers: req.headers,
    signal: controller.signal,
    readBody: () => readAll(req),
    respond: (status, responseHeaders) => {
      res.writeHead(status, responseHeaders);
    },
    write: (chunk) => writeTo(res, chunk),
    end: async (chunk) => {
      finished = true;
      res.end(chunk);
      await streamFinished(res);
    },
    reset: () => {
      finished = true;
      req.socket.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Helpers

const ROUTE = /^\/model\/([^/]+)\/(converse|converse-stream|invoke)$/;

const CORAL = 'http://internal.amazon.com/coral/com.amazon.bedrock/';
/** The message real Bedrock sends with a ThrottlingException. */
const THROTTLE_MESSAGE = 'Too many requests, please wait before trying again.';

/** Sleep that ends early (returning false) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** `promise`'s value, or undefined as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function textBlocks(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .map((block: unknown) =>
      block !== null && typeof block === 'object' && typeof (block as { text?: unknown }).text === 'string'
        ? (block as { text: string }).text
        : '',
    )
    .filter((text) => text !== '')
    .join('\n\n');
}

function toFakeRequest(operation: FakeOperation, modelId: string, body: unknown): FakeRequest {
  const record = (body ?? {}) as { system?: unknown; messages?: unknown };
  const messages = Array.isArray(record.messages)
    ? record.messages.map((m: unknown) => {
        const message = (m ?? {}) as { role?: unknown; content?: unknown };
        return { role: typeof message.role === 'string' ? message.role : '', text: textBlocks(message.content) };
      })
    : [];
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  return { operation, modelId, body, system: textBlocks(record.system), messages, question: lastUser?.text ?? '' };
}

/** Roughly four characters per token, which is close enough for usage accounting in tests. */
function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    // Not JSON: the caller answers 400 ValidationException, as Bedrock does for a malformed body.
    return { ok: false };
  }
}

function attemptOf(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['amz-sdk-request'];
  const match = typeof value === 'string' ? /attempt=(\d+)/.exec(value) : null;
  return match?.[1] ? Number(match[1]) : undefined;
}

function isRejection(fault: FakeFault | undefined): fault is Extract<FakeFault, { kind: 'throttle' | 'status' | 'reset' }> {
  return fault?.kind === 'throttle' || fault?.kind === 'status' || fault?.kind === 'reset';
}


function checkRandomFaults(faults: RandomFaults): void {
  const { throttle, error } = faults;
  if (!(throttle >= 0 && error >= 0 && throttle + error <= 1)) throw new RangeError(`Expected 0 <= throttle, error and throttle + error <= 1, got ${throttle}, ${error}`);
}

type Outcome = 'succeeded' | 'throttled' | 'failed';
/** Records a request's outcome once; later calls are ignored. */
type Settle = (outcome: Outcome) => void;

// ---------------------------------------------------------------------------------------------------
// The server

class FakeBedrockServer implements FakeBedrock {
  url = '';
  readonly calls: FakeCall[] = [];
  readonly stats: FakeStats = { requests: 0, throttled: 0, failed: 0, succeeded: 0, inFlight: 0, concurrentMax: 0 };
  readonly transportErrors: Error[] = [];

  readonly #options: Required<Omit<FakeBedrockOptions, 'quota' | 'reply' | 'randomFaults'>> & Pick<FakeBedrockOptions, 'quota' | 'reply' | 'randomFaults'>;
  #reply: ReplyFn;
  #queued: { fault: FakeFault; operation: FakeOperation | undefined }[] = [];
  #fault: { fault: FakeFault; operation: FakeOperation | undefined } | null = null;
  #quota: QuotaOptions | null;
  #randomFaults: { faults: RandomFaults; next: () => number } | null = null;
  /** Admission times (ms) inside the current quota window, oldest first. */
  #admitted: number[] = [];
  #latencyMs: number;
  #chunkChars: number;
  #chunkDelayMs: number;

  readonly #net = net.createServer((socket) => this.#route(socket));
  readonly #h2 = http2.createServer();
  readonly #h1 = http.createServer();
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #pending = new Set<Promise<void>>();
  readonly #closing = new AbortController();

  constructor(options: FakeBedrockOptions) {
    this.#options = {
      timeScale: options.timeScale ?? 1,
      latencyMs: options.latencyMs ?? 0,
      chunkChars: options.chunkChars ?? 16,
      chunkDelayMs: options.chunkDelayMs ?? 0,
      maxCalls: options.maxCalls ?? Number.POSITIVE_INFINITY,
      quota: options.quota,
      reply: options.reply,
      randomFaults: options.randomFaults,
    };
    if (!(this.#options.timeScale > 0)) throw new RangeError('timeScale must be > 0');
    this.#reply = options.reply ?? defaultReply;
    this.#quota = options.quota ?? null;
    this.setRandomFaults(options.randomFaults ?? null);
    this.#latencyMs = this.#options.latencyMs;
    this.#chunkChars = Math.max(1, this.#options.chunkChars);
    this.#chunkDelayMs = this.#options.chunkDelayMs;

    const onError = (err: Error): void => {
      this.transportErrors.push(err);
    };
    this.#h2.on('session', (session) => {
      this.#sessions.add(session);
      session.on('close', () => this.#sessions.delete(session));
      session.on('error', onError);
    });
    this.#h2.on('stream', (stream, headers) => this.#track(h2Exchange(stream, headers, onError)));
    this.#h1.on('request', (req, res) => this.#track(h1Exchange(req, res)));
    this.#h1.on('clientError', (err, socket) => {
      onError(err);
      socket.destroy();
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#net.once('error', reject);
      this.#net.listen(0, '127.0.0.1', () => {
        this.#net.off('error', reject);
        resolve();
      });
    });
    const { port } = this.#net.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Peek at the first bytes: the HTTP/2 client preface is "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". */
  #route(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', (err) => this.transportErrors.push(err));
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      socket.off('data', onData);
      socket.pause();
      socket.unshift(buffered);
      if (buffered.subarray(0, 4).toString('latin1') === 'PRI ') {
        this.#h2.emit('connection', socket);
      } else {
        this.#h1.emit('connection', socket);
        // The HTTP/1.1 server reads the handle natively; resuming flushes the bytes we unshifted into it.
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  #track(exchange: Exchange): void {
    const done = this.#handle(exchange).finally(() => this.#pending.delete(done));
    this.#pending.add(done);
  }

  async #handle(exchange: Exchange): Promise<void> {
    this.stats.requests++;
    this.stats.inFlight++;
    this.stats.concurrentMax = Math.max(this.stats.concurrentMax, this.stats.inFlight);
    // Outcomes are counted when the last bytes are handed over, not when the client has read them, so a
    // test that checks `stats` right after the SDK call returns sees them already.
    let settled = false;
    const settle: Settle = (outcome) => {
      if (settled) return;
      settled = true;
      this.stats.inFlight--;
      this.stats[outcome]++;
    };
    // Closing the fake aborts every request still waiting, so close() never hangs on a slow answer.
    const signal = AbortSignal.any([exchange.signal, this.#closing.signal]);
    try {
      settle(await this.#serve(exchange, signal, settle));
    } catch (err) {
      // A write to a stream the client already reset lands here; the request simply failed.
      this.transportErrors.push(err instanceof Error ? err : new Error(String(err)));
      settle('failed');
      if (!signal.aborted) exchange.reset();
    }
  }

  async #serve(exchange: Exchange, signal: AbortSignal, settle: Settle): Promise<Outcome> {
    const at = Date.now();
    const raw = await exchange.readBody();
    const route = ROUTE.exec(exchange.path.split('?')[0] ?? '');
    const parsed = parseJson(raw.toString('utf8'));
    // Unparsable bodies keep their raw text in `calls`, so a test can see what was sent.
    const body = parsed.ok ? parsed.value : raw.toString('utf8');
    const operation: FakeOperation = route?.[2] === 'converse-stream' ? 'converse-stream' : route?.[2] === 'invoke' ? 'invoke' : 'converse';
    const modelId = route?.[1] ? decodeURIComponent(route[1]) : '';
    const { protocol, headers } = exchange;
    if (this.calls.length < this.#options.maxCalls) this.calls.push({ operation, modelId, body, at, protocol, attempt: attemptOf(headers), headers });

    if (!route || exchange.method !== 'POST') {
      return this.#sendError(exchange, settle, 404, 'UnknownOperationException', `No operation at ${exchange.method} ${exchange.path}`);
    }
    if (!parsed.ok) return this.#sendError(exchange, settle, 400, 'ValidationException', 'Request body is not valid JSON.');

    // Queued faults go first, then the standing one; rejections never count against the quota.
    const applies = (entry: { operation: FakeOperation | undefined }): boolean => entry.operation === undefined || entry.operation === operation;
    const queuedAt = this.#queued.findIndex(applies);
    const fault = (queuedAt === -1 ? undefined : this.#queued.splice(queuedAt, 1)[0]?.fault) ?? (this.#fault !== null && applies(this.#fault) ? this.#fault.fault : undefined);
    if (isRejection(fault)) {
      switch (fault.kind) {
        case 'throttle':
          return this.#sendError(
            exchange,
            settle,
            429,
            'ThrottlingException',
            THROTTLE_MESSAGE,
            fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) },
          );
        case 'status':
          return this.#sendError(exchange, settle, fault.status, fault.errorType, fault.message ?? `Fake ${fault.errorType}.`);
        case 'reset':
          exchange.reset();
          return 'failed';
      }
    }

    // Random faults come next, and like the other rejections never count against the quota.
    const draw = this.#randomFaults?.next();
    if (draw !== undefined && this.#randomFaults !== null) {
      const { throttle, error } = this.#randomFaults.faults;
      if (draw < throttle) return this.#sendError(exchange, settle, 429, 'ThrottlingException', THROTTLE_MESSAGE);
      if (draw < throttle + error / 2) return this.#sendError(exchange, settle, 500, 'InternalServerException', 'Fake random internal error.');
      if (draw < throttle + error) return this.#sendError(exchange, settle, 503, 'ServiceUnavailableException', 'Fake random unavailability.');
    }

    const waitMs = this.#admit();
    if (waitMs !== undefined) {
      const hint: Record<string, string> = this.#quota?.retryAfterHint ? { 'x-amz-retry-after': String(Math.ceil(waitMs)) } : {};
      return this.#sendError(exchange, settle, 429, 'ThrottlingException', THROTTLE_MESSAGE, hint);
    }

    const started = Date.now();
    const delay = this.#latencyMs + (fault?.kind === 'slow' ? fault.delayMs : 0);
    if (!(await sleep(delay, signal))) return 'failed';
    if (operation === 'invoke') return isRerankModel(modelId) ? this.#rerank(exchange, settle, modelId, body, fault) : this.#embed(exchange, settle, modelId, body, fault);

    const request = toFakeRequest(operation, modelId, body);
    let answer: FakeAnswer | undefined;
    try {
      // Raced with the signal so a reply function that never settles cannot keep close() waiting.
      answer = await untilAborted(Promise.resolve(this.#reply(request)), signal);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return this.#sendError(exchange, settle, 500, 'InternalServerException', `Fake reply function threw: ${message}`);
    }
    if (answer === undefined || signal.aborted) return 'failed';

    let text = answer.text;
    let stopReason = answer.stopReason ?? 'end_turn';
    let outputTokens = answer.outputTokens;
    let noContent = false;
    if (fault?.kind === 'empty') {
      text = '';
      outputTokens = 0;
      noContent = fault.noContent ?? false;
    } else if (fault?.kind === 'truncated') {
      text = text.slice(0, Math.ceil(text.length / 2));
      stopReason = 'max_tokens';
      const maxTokens = (body as { inferenceConfig?: { maxTokens?: unknown } }).inferenceConfig?.maxTokens;
      outputTokens = typeof maxTokens === 'number' ? maxTokens : outputTokens;
    }
    const inputTokens = answer.inputTokens ?? estimateTokens([request.system, ...request.messages.map((m) => m.text)].join('\n'));
    outputTokens ??= estimateTokens(text);
    const usage = { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens };
    const brk = fault?.kind === 'break-stream' ? fault : undefined;

    if (operation === 'converse') {
      const json = Buffer.from(
        JSON.stringify({
          output: { message: { role: 'assistant', content: noContent ? [] : [{ text }] } },
          stopReason,
          usage,
          metrics: { latencyMs: Date.now() - started },
        }),
        'utf8',
      );
      return this.#sendJson(exchange, settle, json, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() }, brk !== undefined);
    }

    exchange.respond(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': randomUUID() });
    // Real Bedrock pads events with a random "p" field; sending one proves the client ignores unknown members.
    await exchange.write(eventMessage('messageStart', { p: 'abcdefgh', role: 'assistant' }));
    const chunks: string[] = [];
    const codePoints = Array.from(text); // never split a surrogate pair across deltas
    for (let i = 0; i < codePoints.length; i += this.#chunkChars) chunks.push(codePoints.slice(i, i + this.#chunkChars).join(''));
    let sent = 0;
    for (const chunk of noContent ? [] : chunks) {
      if (brk && sent >= brk.afterChunks) break;
      if (sent > 0 && !(await sleep(this.#chunkDelayMs, signal))) return 'failed';
      await exchange.write(eventMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: chunk } }));
      sent++;
    }
    if (brk) {
      if ((brk.how ?? 'destroy') === 'destroy') {
        exchange.reset();
      } else {
        const exceptionType = brk.exceptionType ?? 'modelStreamErrorException';
        const payload =
          exceptionType === 'modelStreamErrorException'
            ? { message: 'Fake model stream error.', originalStatusCode: 500, originalMessage: 'upstream model failed' }
            : { message: `Fake ${exceptionType}.` };
        settle('failed');
        await exchange.end(exceptionMessage(exceptionType, payload));
      }
      return 'failed';
    }
    if (!noContent) await exchange.write(eventMessage('contentBlockStop', { contentBlockIndex: 0 }));
    await exchange.write(eventMessage('messageStop', { stopReason }));
    settle('succeeded');
    await exchange.end(eventMessage('metadata', { usage, metrics: { latencyMs: Date.now() - started } }));
    return 'succeeded';
  }

  /**
   * InvokeModel on Titan Text Embeddings V2 (the only embedding model the fake serves): the body
   * checked as the model does, then a deterministic vector. `empty` and `break-stream` faults send a
   * body without a vector and half a body.
   */
  async #embed(exchange: Exchange, settle: Settle, modelId: string, body: unknown, fault: FakeFault | undefined): Promise<Outcome> {
    if (!modelId.startsWith('amazon.titan-embed-text-v2')) {
      return this.#sendError(exchange, settle, 400, 'ValidationException', `The provided model identifier is invalid for InvokeModel in this fake: ${modelId}.`);
    }
    const request = checkEmbeddingRequest(body);
    if (!request.ok) return this.#sendError(exchange, settle, 400, 'ValidationException', request.message);
    const json = Buffer.from(JSON.stringify(fault?.kind === 'empty' ? { inputTextTokenCount: 0 } : embeddingResponse(request)), 'utf8');
    const headers = { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID(), 'x-amzn-bedrock-input-token-count': String(Math.ceil(request.text.length / 4)) };
    return this.#sendJson(exchange, settle, json, headers, fault?.kind === 'break-stream');
  }

  /** InvokeModel on a rerank model: the body checked, then an order. `empty` and `break-stream` faults send a body without results and half a body. */
  async #rerank(exchange: Exchange, settle: Settle, modelId: string, body: unknown, fault: FakeFault | undefined): Promise<Outcome> {
    const request = checkRerankRequest(modelId, body);
    if (!request.ok) return this.#sendError(exchange, settle, 400, 'ValidationException', request.message);
    const json = Buffer.from(JSON.stringify(fault?.kind === 'empty' ? { id: randomUUID() } : rerankResponse(request)), 'utf8');
    return this.#sendJson(exchange, settle, json, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() }, fault?.kind === 'break-stream');
  }

  /** A 200 JSON body, or (a break-stream fault) half of it and a reset connection. */
  async #sendJson(exchange: Exchange, settle: Settle, json: Buffer, headers: Record<string, string>, breakHalfWay: boolean): Promise<Outcome> {
    exchange.respond(200, headers);
    if (breakHalfWay) {
      await exchange.write(json.subarray(0, Math.floor(json.length / 2)));
      exchange.reset();
      return 'failed';
    }
    settle('succeeded');
    await exchange.end(json);
    return 'succeeded';
  }

  /** An AWS restJson1 error: the SDK takes the error name from x-amzn-errortype (text before the colon). */
  async #sendError(
    exchange: Exchange,
    settle: Settle,
    status: number,
    errorType: string,
    message: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<Outcome> {
    exchange.respond(status, {
      'content-type': 'application/json',
      'x-amzn-requestid': randomUUID(),
      'x-amzn-errortype': `${errorType}:${CORAL}`,
      ...extraHeaders,
    });
    const outcome: Outcome = errorType === 'ThrottlingException' ? 'throttled' : 'failed';
    settle(outcome);
    await exchange.end(Buffer.from(JSON.stringify({ message }), 'utf8'));
    return outcome;
  }

  /** Sliding-window admission; returns undefined when admitted, else ms until a slot frees. */
  #admit(): number | undefined {
    if (!this.#quota) return undefined;
    const windowMs = 60_000 / this.#options.timeScale;
    const now = performance.now();
    while (this.#admitted.length > 0 && now - (this.#admitted[0] ?? now) >= windowMs) this.#admitted.shift();
    if (this.#admitted.length >= this.#quota.requestsPerMinute) {
      return windowMs - (now - (this.#admitted[0] ?? now));
    }
    this.#admitted.push(now);
    return undefined;
  }

  reply(fn: ReplyFn): void {
    this.#reply = fn;
  }

  failNext(n: number, fault: FakeFault, only?: { operation?: FakeOperation }): void {
    for (let i = 0; i < n; i++) this.#queued.push({ fault, operation: only?.operation });
  }

  setFault(fault: FakeFault | null, only?: { operation?: FakeOperation }): void {
    this.#fault = fault === null ? null : { fault, operation: only?.operation };
  }

  setQuota(quota: QuotaOptions | null): void {
    this.#quota = quota;
    this.#admitted = [];
  }

  setRandomFaults(faults: RandomFaults | null): void {
    if (faults === null) {
      this.#randomFaults = null;
      return;
    }
    checkRandomFaults(faults);
    this.#randomFaults = { faults: { ...faults }, next: seededRandom(faults.seed ?? 1) };
  }

  setLatency(latencyMs: number): void {
    this.#latencyMs = latencyMs;
  }

  setStreaming(options: { chunkChars?: number; chunkDelayMs?: number }): void {
    if (options.chunkChars !== undefined) this.#chunkChars = Math.max(1, options.chunkChars);
    if (options.chunkDelayMs !== undefined) this.#chunkDelayMs = options.chunkDelayMs;
  }

  reset(): void {
    this.calls.length = 0;
    this.transportErrors.length = 0;
    Object.assign(this.stats, { requests: 0, throttled: 0, failed: 0, succeeded: 0, concurrentMax: this.stats.inFlight });
    this.#queued = [];
    this.#fault = null;
    this.#quota = this.#options.quota ?? null;
    this.#admitted = [];
    this.setRandomFaults(this.#options.randomFaults ?? null);
    this.#reply = this.#options.reply ?? defaultReply;
    this.#latencyMs = this.#options.latencyMs;
    this.#chunkChars = Math.max(1, this.#options.chunkChars);
    this.#chunkDelayMs = this.#options.chunkDelayMs;
  }

  async close(): Promise<void> {
    this.#closing.abort(new Error('fake Bedrock closing'));
    const closed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.allSettled([...this.#pending]);
    await closed;
  }
}

/** Start a fake Bedrock Runtime on 127.0.0.1 and an ephemeral port. */
export async function startFakeBedrock(options: FakeBedrockOptions = {}): Promise<FakeBedrock> {
  const server = new FakeBedrockServer(options);
  await server.listen();
  return server;
}

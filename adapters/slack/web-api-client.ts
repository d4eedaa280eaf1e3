import { request as httpRequest } from 'node:http';
import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { stringify } from 'node:querystring';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBrotliDecompress, createUnzip } from 'node:zlib';
import { webApi } from '@slack/bolt';
import type { Logger as BoltLogger } from '@slack/bolt';
import PQueue from 'p-queue';
import { HrbotError } from '../../src/errors.ts';

/** Largest Web API response body read, in bytes; a larger one fails the call as a request error. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** Calls of one client in flight at once, when the options give no `maxRequestConcurrency` (the SDK's default). */
const DEFAULT_CONCURRENCY = 100;
/** Slack's Web API, when SLACK_API_URL does not point elsewhere. */
export const DEFAULT_API_URL = 'https://slack.com/api/';
/** Methods whose bodies or answers the SDK handles specially (uploads, binary answers, a token kept out of the body). */
const SDK_ONLY_METHODS = new Set(['files.uploadV2', 'files.upload', 'admin.analytics.getFile', 'apps.event.authorizations.list']);

/** What the SDK's retry option says, the fields this client reads (node-retry's meaning and defaults). */
interface RetryPolicy {
  retries: number;
  factor: number;
  minTimeout: number;
  maxTimeout: number;
  randomize: boolean;
}

/**
 * An error of a Web API call, with the `code` and fields of the SDK's own (`webApi.ErrorCode`:
 * `data` for a platform error, `original` for a request error, `statusCode` for an HTTP error,
 * `retryAfter` for a rate limit), so whatever handles the SDK's errors handles these alike.
 */
export class SlackWebApiError extends HrbotError {
  /** The API's answer, for `slack_webapi_platform_error` (its `error` says why). */
  readonly data?: webApi.WebAPICallResult;
  /** What failed underneath, for `slack_webapi_request_error`. */
  readonly original?: Error;
  /** The HTTP status, for `slack_webapi_http_error`. */
  readonly statusCode?: number;
  readonly statusMessage?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Seconds Slack asked to wait, for `slack_webapi_rate_limited_error`. */
  readonly retryAfter?: number;

  constructor(
    code: webApi.ErrorCode,
    message: string,
    fields: { data?: webApi.WebAPICallResult; original?: Error; statusCode?: number; statusMessage?: string; headers?: Record<string, string>; body?: string; retryAfter?: number } = {},
  ) {
    super(code, message, fields.original === undefined ? undefined : { cause: fields.original });
    Object.assign(this, fields);
  }
}

/** Thrown by one attempt: try again (after the backoff), or not. */
class AttemptFailed extends HrbotError {
  readonly retry: boolean;
  readonly error: SlackWebApiError;

  constructor(error: SlackWebApiError, retry: boolean) {
    super('slack_webapi_attempt_failed', error.message, { cause: error });
    this.error = error;
    this.retry = retry;
  }
}

/** A response as read: status, headers and the whole body as text. */
interface RawResponse {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * The SDK's WebClient with a shorter way for ordinary calls. The WebClient spends about 1 ms of CPU
 * on each call where a plain HTTP request takes 0.4 (on a 2-core VM): axios merges its whole default
 * configuration twice (once only to learn the URL), and the client serialises the body, the headers
 * and the result to JSON for debug lines whatever the log level. A reply in a DM is two calls (the
 * thread's title and the message), so that was a third of hrbot's CPU per reply.
 *
 * A call whose arguments are all text, numbers, booleans or JSON goes straight to Node's HTTP client
 * with the same request the SDK sends (form-encoded, the same fields, the token as a bearer) and the
 * same behaviour: at most `maxRequestConcurrency` calls at once, a 429's Retry-After waited out with
 * the client paused, request and HTTP errors retried by `retryConfig`, `ok: false` thrown as a
 * platform error. Uploads and the few methods the SDK treats specially take the SDK's own path.
 */
export class SlackWebClient extends webApi.WebClient {
  readonly #apiUrl: string;
  readonly #allowAbsoluteUrls: boolean;
  readonly #agent: HttpAgent | undefined;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #teamId: string | undefined;
  readonly #headers: Record<string, string>;
  readonly #logger: BoltLogger | undefined;
  readonly #rejectRateLimited: boolean;
  readonly #queue: PQueue;
  #pausedUntil = 0;

  constructor(token?: string, options: webApi.WebClientOptions = {}) {
    super(token, options);
    this.#apiUrl = options.slackApiUrl ?? DEFAULT_API_URL;
    this.#allowAbsoluteUrls = options.allowAbsoluteUrls ?? true;
    this.#agent = options.agent;
    this.#timeoutMs = options.timeout ?? 0;
    this.#retry = retryPolicy(options.retryConfig ?? webApi.retryPolicies.tenRetriesInAboutThirtyMinutes);
    this.#teamId = options.teamId;
    this.#headers = { 'User-Agent': USER_AGENT, ...options.headers };
    if (token !== undefined && token !== '' && this.#headers.Authorization === undefined) this.#headers.Authorization = `Bearer ${token}`;
    this.#logger = options.logger;
    this.#rejectRateLimited = options.rejectRateLimitedCalls ?? false;
    this.#queue = new PQueue({ concurrency: options.maxRequestConcurrency ?? DEFAULT_CONCURRENCY });
  }

  override async apiCall(method: string, options: Record<string, unknown> = {}): Promise<webApi.WebAPICallResult> {
    const body = SDK_ONLY_METHODS.has(method) ? undefined : formBody(options, this.#teamId);
    if (body === undefined) return super.apiCall(method, options);
    const headers: Record<string, string> = { ...this.#headers, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(Buffer.byteLength(body)) };
    if (typeof options.token === 'string' && options.token !== '') headers.Authorization = `Bearer ${options.token}`;
    const url = this.#allowAbsoluteUrls && /^https?:\/\//.test(method) ? method : `${this.#apiUrl}${method}`;
    const result = buildResult(await this.#withRetries(() => this.#queue.add(() => this.#attempt(url, body, headers, options))));
    if (result.ok !== true) throw new SlackWebApiError(webApi.ErrorCode.PlatformError, `An API error occurred: ${String(result.error)}`, { data: result });
    const metadata = result.response_metadata;
    for (const warning of metadata?.warnings ?? []) this.#logger?.warn(warning);
    for (const message of metadata?.messages ?? []) {
      const [, level, text] = /^\[(ERROR|WARN)\](.*)$/s.exec(message) ?? [];
      if (level === 'ERROR') this.#logger?.error(text?.trim());
      else if (level === 'WARN') this.#logger?.warn(text?.trim());
    }
    return result;
  }

  async #withRetries(attempt: () => Promise<RawResponse>): Promise<RawResponse> {
    for (let failures = 0; ; failures += 1) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof AttemptFailed)) throw error;
        if (!error.retry || failures >= this.#retry.retries) throw error.error;
        await sleep(backoffMs(this.#retry, failures));
      }
    }
  }

  /** One request in a queue slot. A 429 pauses the whole client for its Retry-After, as the SDK's queue does. */
  async #attempt(url: string, body: string, headers: Record<string, string>, options: Record<string, unknown>): Promise<RawResponse> {
    const paused = this.#pausedUntil - Date.now();
    if (paused > 0) await sleep(paused);
    let response: RawResponse;
    try {
      response = await send(url, body, headers, this.#agent, this.#timeoutMs);
    } catch (error) {
      const original = error instanceof Error ? error : new Error(String(error));
      throw new AttemptFailed(new SlackWebApiError(webApi.ErrorCode.RequestError, `A request error occurred: ${original.message}`, { original }), true);
    }
    if (response.status === 429) {
      const retrySec = retryAfter(response.headers);
      if (retrySec === undefined) {
        const message = `Retry header did not contain a valid timeout (url: ${url}, retry-after header: ${String(response.headers['retry-after'])})`;
        throw new AttemptFailed(httpError(message, response), false);
      }
      this.emit(webApi.WebClientEvent.RATE_LIMITED, retrySec, { url, body: options });
      const limited = (message: string): SlackWebApiError => new SlackWebApiError(webApi.ErrorCode.RateLimitedError, message, { retryAfter: retrySec });
      if (this.#rejectRateLimited) throw new AttemptFailed(limited(`A rate-limit has been reached, you may retry this request in ${retrySec} seconds`), false);
      this.#logger?.info(`API Call failed due to rate limiting. Will retry in ${retrySec} seconds.`);
      this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + retrySec * 1000);
      await sleep(retrySec * 1000);
      throw new AttemptFailed(limited(`A rate limit was exceeded (url: ${url}, retry-after: ${retrySec})`), true);
    }
    if (response.status !== 200) {
      throw new AttemptFailed(httpError(`An HTTP protocol error occurred: statusCode = ${response.status}`, response), true);
    }
    return response;
  }
}

/** The User-Agent of the short way's requests: hrbot's name, the Node.js version and the platform (the SDK's path sends its own). */
const USER_AGENT = `hrbot node/${process.versions.node} ${process.platform}`;

/**
 * The form body the SDK sends for `options`: every field but undefined and null ones, objects as
 * JSON; undefined when a field is binary (a Buffer or a stream), which needs the SDK's multipart body.
 */
function formBody(options: Record<string, unknown>, teamId: string | undefined): string | undefined {
  if (typeof options !== 'object' || options === null) return undefined;
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(teamId === undefined ? options : { team_id: teamId, ...options })) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
    else if (Buffer.isBuffer(value) || (typeof value === 'object' && typeof (value as { pipe?: unknown }).pipe === 'function')) return undefined;
    else fields[key] = JSON.stringify(value);
  }
  return stringify(fields);
}

function send(url: string, body: string, headers: Record<string, string>, agent: HttpAgent | undefined, timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { method: 'POST', headers, ...(agent === undefined ? {} : { agent }) }, (response) => {
      readBody(response).then(
        (text) => resolve({ status: response.statusCode ?? 0, statusMessage: response.statusMessage ?? '', headers: response.headers, text }),
        (error: unknown) => {
          request.destroy();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
    request.on('error', reject);
    if (timeoutMs > 0) {
      request.setTimeout(timeoutMs, () => {
        request.destroy(Object.assign(new Error(`timeout of ${timeoutMs}ms exceeded`), { code: 'ECONNABORTED' }));
      });
    }
    request.end(body);
  });
}

/** The body as text, decompressed if the server compressed it anyway, at most {@link MAX_RESPONSE_BYTES}. */
function readBody(response: IncomingMessage): Promise<string> {
  const encoding = response.headers['content-encoding'];
  const source =
    encoding === 'gzip' || encoding === 'deflate' || encoding === 'x-gzip' ? response.pipe(createUnzip()) : encoding === 'br' ? response.pipe(createBrotliDecompress()) : response;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    source.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_RESPONSE_BYTES) chunks.push(chunk);
      else source.destroy(Object.assign(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`), { code: 'ERR_RESPONSE_TOO_LARGE' }));
    });
    source.on('end', () => resolve(Buffer.concat(chunks, bytes).toString('utf8')));
    source.on('error', reject);
    // A connection cut mid-body is an error of the response, which a pipe does not pass on to the decompressor.
    if (source !== response) response.on('error', reject);
  });
}

/** The SDK's result: the JSON answer (or `ok: false` with the text), with scopes and Retry-After from the headers. */
function buildResult(response: RawResponse): webApi.WebAPICallResult {
  let data: webApi.WebAPICallResult;
  try {
    const parsed: unknown = JSON.parse(response.text);
    data = typeof parsed === 'object' && parsed !== null ? (parsed as webApi.WebAPICallResult) : { ok: false, error: response.text };
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    data = { ok: false, error: response.text };
  }
  const metadata: NonNullable<webApi.WebAPICallResult['response_metadata']> = (data.response_metadata ??= {});
  const scopes = response.headers['x-oauth-scopes'];
  if (typeof scopes === 'string') metadata.scopes = scopes.trim().split(/\s*,\s*/);
  const accepted = response.headers['x-accepted-oauth-scopes'];
  if (typeof accepted === 'string') metadata.acceptedScopes = accepted.trim().split(/\s*,\s*/);
  const retrySec = retryAfter(response.headers);
  if (retrySec !== undefined) metadata.retryAfter = retrySec;
  return data;
}

function retryAfter(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['retry-after'];
  if (value === undefined) return undefined;
  const seconds = Number.parseInt(value, 10);
  return Number.isNaN(seconds) ? undefined : seconds;
}

/** The SDK's HTTP error for a response it does not take: its status, headers and body. */
function httpError(message: string, response: RawResponse): SlackWebApiError {
  return new SlackWebApiError(webApi.ErrorCode.HTTPError, message, {
    statusCode: response.status,
    statusMessage: response.statusMessage,
    headers: headerStrings(response.headers),
    body: response.text,
  });
}

function headerStrings(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && value !== '') out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

function retryPolicy(options: webApi.RetryOptions): RetryPolicy {
  return {
    retries: options.retries ?? 10,
    factor: options.factor ?? 2,
    minTimeout: options.minTimeout ?? 1000,
    maxTimeout: options.maxTimeout ?? Number.POSITIVE_INFINITY,
    randomize: options.randomize ?? false,
  };
}

/** node-retry's delay before retry number `failures + 1`, as the SDK's p-retry waits. */
function backoffMs(policy: RetryPolicy, failures: number): number {
  const random = policy.randomize ? Math.random() + 1 : 1;
  return Math.min(Math.round(random * Math.max(policy.minTimeout, 1) * policy.factor ** failures), policy.maxTimeout);
}

/**
 * Which Bedrock failures are worth another attempt, and how long to wait before it. Kept free of SDK
 * imports: errors are read by their `name`, `$metadata` and `$response` fields, which is how the SDK
 * shapes every modelled error.
 */

/** What a failed attempt was, for retry decisions, AIMD and metrics. */
export type FailureKind =
  | 'throttled' // 429 ThrottlingException: the quota, not an outage
  | 'unavailable' // 5xx, ModelNotReady, model timeouts, mid-stream model errors
  | 'timeout' // our own per-attempt deadline
  | 'network' // connection reset, refused, stream cut without a status
  | 'rejected'; // validation, access, not found, quota exhausted: retrying cannot help

export interface Classified {
  kind: FailureKind;
  retryable: boolean;
  /** Server's hint for the earliest retry, in ms (Retry-After or x-amz-retry-after). */
  retryAfterMs?: number;
  /** Short, bounded label for logs and metrics (the error name, never its message). */
  label: string;
}

const THROTTLE_NAMES = new Set(['ThrottlingException', 'TooManyRequestsException']);
const UNAVAILABLE_NAMES = new Set([
  'ServiceUnavailableException',
  'ModelNotReadyException',
  'InternalServerException',
  'ModelTimeoutException',
  'ModelStreamErrorException',
]);
const REJECTED_NAMES = new Set([
  'ValidationException',
  'AccessDeniedException',
  'ResourceNotFoundException',
  'UnrecognizedClientException',
  'ServiceQuotaExceededException',
  'ModelErrorException',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_STREAM_CANCEL']);

interface SdkLike {
  name?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/** Sort a thrown value into a {@link FailureKind}. `timedOut` says our own deadline fired. */
export function classify(error: unknown, timedOut = false): Classified {
  if (timedOut) return { kind: 'timeout', retryable: true, label: 'Timeout' };
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkLike;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const status = e.$metadata?.httpStatusCode;
  const retryAfterMs = retryAfterOf(e.$response?.headers);
  const withHint = <T extends Classified>(c: T): T => (retryAfterMs === undefined ? c : { ...c, retryAfterMs });
  if (THROTTLE_NAMES.has(name) || (status === 429 && !UNAVAILABLE_NAMES.has(name))) {
    return withHint({ kind: 'throttled', retryable: true, label: 'ThrottlingException' });
  }
  if (UNAVAILABLE_NAMES.has(name)) return withHint({ kind: 'unavailable', retryable: true, label: name });
  if (REJECTED_NAMES.has(name)) return { kind: 'rejected', retryable: false, label: name };
  if (status !== undefined) {
    if (status === 408 || status >= 500) return withHint({ kind: 'unavailable', retryable: true, label: `http_${status}` });
    return { kind: 'rejected', retryable: false, label: `http_${status}` };
  }
  // Programming errors are not transient: retrying would only repeat them.
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) {
    return { kind: 'rejected', retryable: false, label: name };
  }
  if (name === 'TimeoutError') return { kind: 'timeout', retryable: true, label: 'Timeout' };
  const code = typeof e.code === 'string' ? e.code : undefined;
  // No HTTP status at all means the transport failed: a reset, a refused connection, or a stream cut
  // half way (which the SDK surfaces as a plain Error inside the event loop).
  return { kind: 'network', retryable: true, label: code !== undefined && NETWORK_CODES.has(code) ? code : 'network' };
}

/** Retry-After in seconds or as an HTTP date, or the SDK's x-amz-retry-after in ms. */
export function retryAfterOf(headers: Record<string, string | undefined> | undefined, now = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const amz = headers['x-amz-retry-after'];
  if (amz !== undefined && /^\d+$/.test(amz.trim())) return Number(amz.trim());
  const standard = headers['retry-after'];
  if (standard === undefined) return undefined;
  const trimmed = standard.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Backoff settings; defaults are in `.env.example` (LLM_BACKOFF_BASE_MS, LLM_BACKOFF_MAX_MS). */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with full jitter (a random wait between 0 and base·2^retry, capped), so many
 * callers throttled at once spread out instead of retrying in step. A server hint is a floor, still
 * capped: a Retry-After longer than the cap means the caller should give up instead.
 */
export function backoffDelay(retry: number, options: BackoffOptions, retryAfterMs?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, retry));
  const jittered = Math.floor(random() * ceiling);
  return retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs);
}

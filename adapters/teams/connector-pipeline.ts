import type { Logger } from '../../src/log/logger.ts';

/** Retry limits for calls to the Bot Framework connector; defaults stated once, here. */
export interface ConnectorRetryOptions {
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number;
  /** First backoff step in ms, doubled each retry, with full jitter. Default 500. */
  baseDelayMs?: number;
  /** Longest wait before one retry, in ms. A Retry-After asking for more ends the retries. Default 10 000. */
  maxDelayMs?: number;
  /** Per-attempt timeout in ms for requests that set none. Default 15 000. */
  attemptTimeoutMs?: number;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
}

const DEFAULTS = { maxRetries: 3, baseDelayMs: 500, maxDelayMs: 10_000, attemptTimeoutMs: 15_000 } as const;

// The structural slice of @azure/core-rest-pipeline we touch. Typed here rather than imported: that
// package is the connector's transitive dependency, not ours.
interface PipelineHeaders {
  get(name: string): string | undefined;
}
interface PipelineResponse {
  status: number;
  headers: PipelineHeaders;
}
interface PipelineRequest {
  method: string;
  url: string;
  timeout: number;
  body?: unknown;
  abortSignal?: AbortSignal;
}
type SendRequest = (request: PipelineRequest) => Promise<PipelineResponse>;
/** A core-rest-pipeline policy, structurally. */
export interface PipelinePolicy {
  name: string;
  sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse>;
}
interface Pipeline {
  addPolicy(policy: PipelinePolicy, options?: { phase?: 'Retry' }): void;
  removePolicy(options: { name: string }): unknown;
}

const POLICY_NAME = 'hrbotConnectorRetry';
const STREAM_INFO = 'hrbotStreamInfo';

/** Is this status one the connector may answer differently on a retry (throttled or a server fault)? */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

// Transport failures worth another attempt, by the `code` Node puts on the error (core-rest-pipeline's
// RestError keeps it). The first group means the request never reached the connector: a retry is safe.
// The second may strike after the connector received the request and posted the message; the Bot
// Framework has no idempotency key, so that retry can show the message twice. We take the risk: a lost
// final reply leaves the user with nothing (or a placeholder forever), a rare duplicate is visible and
// harmless, and most resets are a pooled keep-alive socket the server had already closed, where nothing
// was received. (Updates are PUTs to the same activity id, so those repeat harmlessly.) The SDK's own
// retry policy, which ours replaces, retried these codes too. Our per-attempt timeout is not retried.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);
const MAYBE_SENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNABORTED']);

/** The network error code of a failed send when another attempt may succeed, else undefined. */
export function retryableNetworkCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && (NOT_SENT_CODES.has(code) || MAYBE_SENT_CODES.has(code)) ? code : undefined;
}

/** Retry-After in ms (seconds or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterMs(headers: PipelineHeaders, now = Date.now()): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/**
 * A pipeline policy that retries the connector's 429 and 5xx answers, and sends that failed on a
 * transient network error (a reset or refused connection, see above), with exponential backoff and
 * full jitter, never sooner than Retry-After says, at most `maxRetries` times in all. It replaces the
 * SDK's default retry policy so there is one retry layer with limits we state, not two stacked
 * (which would multiply attempts and let a long Retry-After stall a reply indefinitely).
 */
export function connectorRetryPolicy(log: Logger, options: ConnectorRetryOptions = {}): PipelinePolicy {
  const maxRetries = options.maxRetries ?? DEFAULTS.maxRetries;
  const baseDelayMs = options.baseDelayMs ?? DEFAULTS.baseDelayMs;
  const maxDelayMs = options.maxDelayMs ?? DEFAULTS.maxDelayMs;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULTS.attemptTimeoutMs;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (const [name, value] of Object.entries({ maxRetries, baseDelayMs, maxDelayMs, attemptTimeoutMs })) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`Expected \`${name}\` to be a finite number >= 0, got ${value}`);
  }
  return {
    name: POLICY_NAME,
    async sendRequest(request, next) {
      if (request.timeout === 0) request.timeout = attemptTimeoutMs;
      const backoff = (attempt: number): number => Math.round(Math.min(maxDelayMs, baseDelayMs * 2 ** attempt) * Math.random());
      for (let attempt = 0; ; attempt += 1) {
        let response: PipelineResponse;
        try {
          response = await next(request);
        } catch (error) {
          const code = retryableNetworkCode(error);
          if (code === undefined || attempt >= maxRetries || request.abortSignal?.aborted === true) throw error;
          const delay = backoff(attempt);
          log.info({ code, attempt: attempt + 1, delayMs: delay }, 'teams connector call retried after a network error');
          await sleep(delay);
          continue;
        }
        if (!isRetryableStatus(response.status) || attempt >= maxRetries) return response;
        const asked = retryAfterMs(response.headers);
        if (asked !== undefined && asked > maxDelayMs) {
          log.warn({ status: response.status, retryAfterMs: asked, attempt }, 'teams connector asked to wait longer than allowed; giving up');
          return response;
        }
        const delay = Math.max(asked ?? 0, backoff(attempt));
        log.info({ status: response.status, attempt: attempt + 1, delayMs: delay }, 'teams connector call retried');
        await sleep(delay);
      }
    },
  };
}

/** The channelData key that carries an activity's entities, whole, past the SDK's serializer. */
export const WIRE_ENTITIES = 'hrbotEntities';

// The fields botframework-connector's Entity mapper keeps; any other field of an entity it drops.
const SERIALIZED_ENTITY_FIELDS = new Set(['type', 'text', 'mentioned']);

/**
 * Keep an outgoing activity's entities whole: the SDK's serializer keeps only `type`, `text` and
 * `mentioned` of each, so the AI label's `additionalType` and the `citation` list would never reach
 * Teams. The entities ride in channelData (serialized as-is) and {@link streamInfoPolicy} puts them
 * back on the wire body, removing the key. Mutates and returns `activity`.
 */
export function carryEntities<T extends { entities?: unknown[]; channelData?: unknown }>(activity: T): T {
  const entities = activity.entities;
  const rich = entities?.some((entity) => typeof entity === 'object' && entity !== null && Object.keys(entity).some((key) => !SERIALIZED_ENTITY_FIELDS.has(key)));
  if (entities === undefined || rich !== true) return activity;
  const channelData = typeof activity.channelData === 'object' && activity.channelData !== null ? activity.channelData : {};
  activity.channelData = { ...channelData, [WIRE_ENTITIES]: entities };
  return activity;
}

/**
 * Put back the entities the SDK's serializer strips: those {@link carryEntities} put in channelData,
 * and the `streaminfo` entity. botframework-connector's Entity
 * mapper knows only `type`, `text` and `mentioned`, so `streamId`, `streamType` and
 * `streamSequence` never reach Teams; the same fields travel in channelData, which is serialized
 * as-is, and are copied back into the entity on the wire body.
 */
export function streamInfoPolicy(): PipelinePolicy {
  return {
    name: STREAM_INFO,
    sendRequest(request, next) {
      if (typeof request.body === 'string' && request.body.includes(`"${WIRE_ENTITIES}"`)) {
        const activity = JSON.parse(request.body) as { channelData?: Record<string, unknown>; entities?: unknown };
        const carried = activity.channelData?.[WIRE_ENTITIES];
        if (activity.channelData !== undefined && Array.isArray(carried)) {
          activity.entities = carried;
          delete activity.channelData[WIRE_ENTITIES];
          request.body = JSON.stringify(activity);
        }
      }
      if (typeof request.body === 'string' && request.body.includes('"streamType"')) {
        const activity = JSON.parse(request.body) as { channelData?: Record<string, unknown>; entities?: Array<{ type?: unknown }> };
        const { streamId, streamType, streamSequence } = activity.channelData ?? {};
        if (typeof streamType === 'string') {
          const info = { type: 'streaminfo', streamType, ...(streamId === undefined ? {} : { streamId }), ...(streamSequence === undefined ? {} : { streamSequence }) };
          activity.entities = [...(activity.entities ?? []).filter((entity) => entity.type !== 'streaminfo'), info];
          request.body = JSON.stringify(activity);
        }
      }
      return next(request);
    },
  };
}

/**
 * Configure a connector client's HTTP pipeline: swap the default retry policy for ours and add the
 * streaminfo fix. The client keeps its core-client ServiceClient on a field the SDK marks private,
 * so this is checked at run time: if a later SDK moves it, the SDK's own retry stays in place and
 * we say so once.
 */
export function configureConnectorPipeline(connectorClient: unknown, policy: PipelinePolicy, log: Logger): boolean {
  const pipeline = (connectorClient as { client?: { pipeline?: Partial<Pipeline> } } | undefined)?.client?.pipeline;
  if (pipeline?.addPolicy === undefined || pipeline.removePolicy === undefined) {
    if (!warnedMissingPipeline) {
      warnedMissingPipeline = true;
      log.warn('teams connector client has no pipeline to configure; using the SDK default retries');
    }
    return false;
  }
  pipeline.removePolicy({ name: 'defaultRetryPolicy' });
  pipeline.removePolicy({ name: POLICY_NAME });
  pipeline.removePolicy({ name: STREAM_INFO });
  pipeline.addPolicy(policy, { phase: 'Retry' });
  // No phase: runs after the Serialize phase has turned the activity into the JSON body.
  pipeline.addPolicy(streamInfoPolicy());
  return true;
}

let warnedMissingPipeline = false;

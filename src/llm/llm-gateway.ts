import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { BusyError, LlmUnavailableError, toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics.ts';
import { AdaptiveLimit } from './adaptive-limit.ts';
import { AdaptiveRate } from './adaptive-rate.ts';
import type { RateTicket, ThrottleResponse } from './adaptive-rate.ts';
import type { Embedding, ModelClient, ModelRequest, ModelResponse, Ranking } from './bedrock-client.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import type { BreakerState } from './circuit-breaker.ts';
import type { Classified } from './retry-policy.ts';
import { backoffDelay, classify } from './retry-policy.ts';

/** Gateway limits; each has its default in `.env.example`. */
export interface LlmGatewayOptions {
  /** Calls in flight at most (LLM_CONCURRENCY); AIMD moves the live limit between 1 and this. */
  concurrency: number;
  /** Calls that may wait for a slot (LLM_QUEUE_LIMIT); past it callers get a BusyError at once. */
  queueLimit: number;
  /**
   * Ceiling of the adaptive request rate, attempts per minute (LLM_REQUESTS_PER_MINUTE). 0 = no fixed
   * ceiling: the rate is learnt from the first throttle on (0.7 × the send rate measured then).
   */
  requestsPerMinute: number;
  /** Deadline of one attempt once it has started, ms (LLM_TIMEOUT_MS). */
  timeoutMs: number;
  /** Attempts per call, first included, that failed for any reason but throttling (LLM_MAX_ATTEMPTS). */
  maxAttempts: number;
  /**
   * Throttled attempts per call before it gives up (LLM_MAX_THROTTLED_ATTEMPTS). Apart from maxAttempts:
   * a throttle is the quota speaking, not a fault, and the adaptive rate paces the retry.
   */
  maxThrottledAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  breakerFailures: number;
  breakerCooldownMs: number;
}

/** Per-call options. */
export interface CallOptions {
  /**
   * Calls with the same key while one is in flight share its result (one Bedrock call). Only give a
   * key for requests whose answer may be shared, i.e. the answer-cache key of a context-free question.
   */
  coalesceKey?: string;
  /** Stream the answer: called with each text piece, awaited, in order. */
  onDelta?: (text: string) => Promise<void>;
}

/** A model answer plus how it was obtained. */
export interface GatewayResult extends ModelResponse {
  attempts: number;
  /** True for a caller that joined another caller's identical call (its usage is the leader's). */
  shared: boolean;
  streamed: boolean;
}

/** An embedding plus how it was obtained. */
export interface EmbeddingResult extends Embedding {
  attempts: number;
}

/** One attempt's work: the Bedrock call, given the attempt's abort signal and (for a stream) where text goes. */
type Operation<T> = (signal: AbortSignal, onDelta: ((text: string) => Promise<void>) | undefined) => Promise<T>;

/** Totals since start, for the benchmark and tests. */
export interface GatewayStats {
  calls: number;
  attempts: number;
  throttles: number;
  failures: number;
  coalesced: number;
  busy: number;
  breakerRejections: number;
}

const BREAKER_GAUGE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
/** Times one attempt may reserve its send slot again after a cut during its wait. */
const MAX_REPACES = 3;
/**
 * Buckets (seconds) of one Bedrock attempt. A throttle or a refusal comes back in tens of ms; a short
 * answer in 0.5 to 2 s; a full streamed answer in 2 to 15 s; LLM_TIMEOUT_MS (30 s by default) ends
 * the rest, and 60 s catches a raised timeout.
 */
const ATTEMPT_BUCKETS: readonly number[] = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];
/**
 * Buckets (seconds) of the wait for a slot: none at all while fewer than LLM_CONCURRENCY calls run;
 * under load about one answer's time (seconds) per LLM_CONCURRENCY calls ahead, up to minutes with
 * a long waiting line (LLM_QUEUE_LIMIT 2000 / 16 slots x 8 s is far past any user's patience).
 */
const QUEUE_WAIT_BUCKETS: readonly number[] = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Every Bedrock call goes through here: one p-queue (bounded concurrency adjusted by AIMD, a bounded
 * waiting line), an adaptive request rate every attempt waits for (learnt from throttles, capped by
 * LLM_REQUESTS_PER_MINUTE when set), one retry loop with full-jitter backoff on
 * retryable errors only, a per-attempt deadline, a circuit breaker, and coalescing of identical calls.
 */
export class LlmGateway {
  readonly #client: ModelClient;
  readonly #options: LlmGatewayOptions;
  readonly #queue: PQueue;
  readonly #limit: AdaptiveLimit;
  readonly #rate: AdaptiveRate;
  readonly #breaker: CircuitBreaker;
  readonly #log: Logger | undefined;
  readonly #metrics: Metrics | undefined;
  /** In-flight calls by coalesce key; bounded because every entry is an admitted call (queueLimit + concurrency). */
  readonly #inflight = new Map<string, Promise<GatewayResult>>();
  readonly #closing = new AbortController();
  /** Calls admitted and not finished: waiting, running or sleeping between attempts. */
  #admitted = 0;
  readonly #stats: GatewayStats = { calls: 0, attempts: 0, throttles: 0, failures: 0, coalesced: 0, busy: 0, breakerRejections: 0 };

  constructor(client: ModelClient, options: LlmGatewayOptions, deps: { log?: Logger; metrics?: Metrics } = {}) {
    validate(options);
    this.#client = client;
    this.#options = options;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    this.#rate = new AdaptiveRate({
      ...(options.requestsPerMinute > 0 ? { ceiling: options.requestsPerMinute / 60 } : {}),
      // A cut that its probe found useless (background throttling) is undone; so is the concurrency cut made with it.
      onCutUndone: () => {
        this.#limit.undoDecrease();
        this.#log?.debug({ background: this.#rate.background }, 'llm throttles are background; cut undone');
      },
    });
    this.#limit = new AdaptiveLimit({
      max: options.concurrency,
      onChange: (limit) => {
        this.#queue.concurrency = limit;
        this.#log?.debug({ concurrency: limit }, 'llm concurrency adjusted');
      },
    });
    this.#queue = new PQueue({ concurrency: this.#limit.limit });
    this.#breaker = new CircuitBreaker({ failureThreshold: options.breakerFailures, cooldownMs: options.breakerCooldownMs });
    // Every admitted call may listen on the closing signal at once (a backoff or pacing sleep, an
    // attempt); that number is bounded by the waiting line and the concurrency, so say so to Node.
    setMaxListeners(options.queueLimit + 2 * options.concurrency + 1, this.#closing.signal);
    this.#metrics?.collect(() => {
      const m = this.#metrics;
      if (m === undefined) return;
      m.set('hrbot_llm_queue_depth', 'LLM calls waiting for a slot', this.waiting);
      m.set('hrbot_llm_in_flight', 'LLM attempts running', this.#queue.pending);
      m.set('hrbot_llm_concurrency', 'Live LLM concurrency limit (AIMD)', this.#limit.limit);
      // Infinity (not pacing yet) is reported as 0.
      m.set('hrbot_llm_rate_limit', 'Live LLM request rate limit, per second (0 = not pacing)', Number.isFinite(this.#rate.rate) ? this.#rate.rate : 0);
      m.set('hrbot_llm_breaker_state', 'Circuit breaker: 0 closed, 1 half-open, 2 open', BREAKER_GAUGE[this.#breaker.state], {}, 'max');
    });
  }

  /** Calls waiting for a slot (admitted, not running). */
  get waiting(): number {
    return Math.max(0, this.#admitted - this.#queue.pending);
  }

  /** True when the waiting line is 90% full: readiness reports it so a balancer can route elsewhere. */
  get saturated(): boolean {
    return this.waiting >= this.#options.queueLimit * 0.9;
  }

  get breakerState(): BreakerState {
    return this.#breaker.state;
  }

  get concurrency(): number {
    return this.#limit.limit;
  }

  /** Live request rate limit, per second; Infinity while nothing is paced (no ceiling, no throttle yet). */
  get rateLimit(): number {
    return this.#rate.rate;
  }

  get stats(): Readonly<GatewayStats> {
    return { ...this.#stats };
  }

  /**
   * Ask the model. Rejects with BusyError when the waiting line is full, LlmUnavailableError when the
   * breaker is open, retries are spent, the error is not retryable, or a stream broke half way.
   */
  complete(request: ModelRequest, options: CallOptions = {}): Promise<GatewayResult> {
    const key = options.coalesceKey;
    if (key !== undefined) {
      const leader = this.#inflight.get(key);
      if (leader !== undefined) {
        this.#stats.coalesced += 1;
        this.#metrics?.increment('hrbot_llm_coalesced_total', 'LLM calls answered by an identical call in flight');
        return leader.then((result) => ({ ...result, shared: true }));
      }
    }
    const call = this.#call<ModelResponse>(
      (signal, onDelta) => (onDelta === undefined ? this.#client.converse(request, signal) : this.#client.converseStream(request, signal, onDelta)),
      options,
    ).then(({ value, attempts }) => ({ ...value, attempts, shared: false, streamed: options.onDelta !== undefined }));
    if (key !== undefined) {
      this.#inflight.set(key, call);
      const forget = (): void => {
        if (this.#inflight.get(key) === call) this.#inflight.delete(key);
      };
      // The caller handles the outcome; this branch only cleans the map either way.
      void call.then(forget, forget);
    }
    return call;
  }

  /**
   * Embed a text (the client's model must be an embedding model), with the same waiting line,
   * adaptive rate, retries and breaker as {@link complete}. Rejects like it.
   */
  async embed(text: string): Promise<EmbeddingResult> {
    const { value, attempts } = await this.#call<Embedding>((signal) => this.#client.embed(text, signal), {});
    return { ...value, attempts };
  }

  /**
   * Order documents by relevance to a query (the client's model must be a rerank model), with the
   * same waiting line, adaptive rate, retries and breaker as {@link complete}. Rejects like it.
   */
  async rerank(query: string, documents: readonly string[], topN: number): Promise<Ranking & { attempts: number }> {
    const { value, attempts } = await this.#call<Ranking>((signal) => this.#client.rerank(query, documents, topN, signal), {});
    return { ...value, attempts };
  }

  /** Abort attempts in flight and stop retries; later calls are refused. */
  close(): void {
    // Waiting tasks are not dropped (their callers would never hear back): each starts, sees the
    // aborted signal and fails at once.
    this.#closing.abort(new LlmUnavailableError('llm_closed', 'LLM gateway closed'));
    this.#client.destroy();
  }

  async #call<T>(operation: Operation<T>, options: CallOptions): Promise<{ value: T; attempts: number }> {
    if (this.#closing.signal.aborted) throw new LlmUnavailableError('llm_closed', 'LLM gateway closed');
    if (!this.#breaker.tryAcquire()) {
      this.#stats.breakerRejections += 1;
      this.#count('breaker_open');
      throw new LlmUnavailableError('llm_breaker_open', `Circuit breaker open; next trial in ${this.#breaker.retryInMs} ms`);
    }
    if (this.waiting >= this.#options.queueLimit) {
      this.#breaker.recordNeutral();
      this.#stats.busy += 1;
      this.#count('busy');
      throw new BusyError(`LLM waiting line full (${this.#options.queueLimit})`);
    }
    this.#admitted += 1;
    this.#stats.calls += 1;
    try {
      const result = await this.#attempts(operation, options);
      this.#breaker.recordSuccess();
      this.#count('ok');
      return result;
    } finally {
      this.#admitted -= 1;
    }
  }

  async #attempts<T>(operation: Operation<T>, options: CallOptions): Promise<{ value: T; attempts: number }> {
    let throttled = 0;
    for (let attempt = 1; ; attempt++) {
      let emitted = false;
      const onDelta =
        options.onDelta === undefined
          ? undefined
          : async (text: string): Promise<void> => {
              emitted = true;
              await options.onDelta?.(text);
            };
      let timedOut = false;
      let ticket: RateTicket | undefined;
      const queued = performance.now();
      /** When the attempt was sent, for its latency; undefined until then (it failed waiting). */
      let sent: number | undefined;
      try {
        // Retries jump the line: they were admitted earlier, and a user already waited for them.
        const response = await this.#queue.add(
          async () => {
            this.#metrics?.observe('hrbot_llm_queue_wait_seconds', 'Time an LLM attempt waited for a concurrency slot', (performance.now() - queued) / 1000, {}, QUEUE_WAIT_BUCKETS);
            this.#closing.signal.throwIfAborted();
            // Every attempt, first or retry, waits for the adaptive rate. The wait is bounded: at most
            // LLM_CONCURRENCY tasks hold a reservation, each 1/rate apart, and the rate has a floor.
            // A slot reserved before a cut, while the quota's window is still full, was spaced at a rate
            // just found too high: reserve again at the corrected one (a bounded number of times) rather
            // than send into the throttles.
            ticket = this.#rate.acquire();
            for (let repaced = 0; ; repaced++) {
              if (ticket.waitMs > 0) await sleep(ticket.waitMs, undefined, { signal: this.#closing.signal });
              if (!this.#rate.isStale(ticket) || repaced >= MAX_REPACES) break;
              ticket = this.#rate.acquire(ticket);
            }
            this.#stats.attempts += 1;
            sent = performance.now();
            const controller = new AbortController();
            const timer = setTimeout(() => {
              timedOut = true;
              controller.abort(new LlmUnavailableError('llm_timeout', `LLM attempt exceeded ${this.#options.timeoutMs} ms`));
            }, this.#options.timeoutMs);
            // Closing the gateway aborts the attempt too. The listener is removed when the attempt
            // ends, so none outlives its request (AbortSignal.any would leave that to the GC).
            const onClose = () => controller.abort(this.#closing.signal.reason);
            this.#closing.signal.addEventListener('abort', onClose, { once: true });
            try {
              return await operation(controller.signal, onDelta);
            } finally {
              clearTimeout(timer);
              this.#closing.signal.removeEventListener('abort', onClose);
            }
          },
          { priority: attempt > 1 ? 1 : 0 },
        );
        this.#attempt('ok', sent);
        this.#limit.onSuccess();
        this.#rate.onSuccess(ticket);
        return { value: response, attempts: attempt };
      } catch (error) {
        if (this.#closing.signal.aborted) throw new LlmUnavailableError('llm_closed', 'LLM gateway closed', { cause: error });
        const failure = classify(error, timedOut);
        this.#attempt(failure.kind, sent);
        let throttle: ThrottleResponse | undefined;
        if (failure.kind === 'throttled') {
          this.#stats.throttles += 1;
          throttled += 1;
          // Concurrency follows the rate's verdict: a throttle the rate takes for background (or one of a
          // burst already answered) cuts neither. Concurrency alone cannot hold a quota anyway.
          throttle = ticket === undefined ? 'held' : this.#rate.onThrottle(ticket);
          if (throttle === 'cut') this.#limit.onThrottle();
        }
        const giveUp = this.#giveUpReason(failure, attempt - throttled, throttled, emitted);
        if (giveUp !== undefined) throw this.#fail(failure, attempt, giveUp, error);
        // A background throttle is as likely to hit the next attempt as this one, however long we wait, and
        // the rate already paces the retry: wait one backoff step, not a growing one (the tail of unlucky
        // calls would otherwise wait seconds for nothing).
        const step = throttle === 'background' ? 0 : attempt - 1;
        const delay = backoffDelay(step, { baseMs: this.#options.backoffBaseMs, maxMs: this.#options.backoffMaxMs }, failure.retryAfterMs);
        try {
          await sleep(delay, undefined, { signal: this.#closing.signal });
        } catch (aborted) {
          throw new LlmUnavailableError('llm_closed', 'LLM gateway closed during backoff', { cause: aborted });
        }
      }
    }
  }

  /** `faults` and `throttles` count this call's failed attempts so far, by kind. */
  #giveUpReason(failure: Classified, faults: number, throttles: number, emitted: boolean): string | undefined {
    if (!failure.retryable) return 'not retryable';
    // Text already reached the user: a retry would stream a second copy. The caller falls back instead.
    if (emitted) return 'stream broke after text was shown';
    if (failure.kind === 'throttled' ? throttles >= this.#options.maxThrottledAttempts : faults >= this.#options.maxAttempts) return 'attempts spent';
    if (failure.retryAfterMs !== undefined && failure.retryAfterMs > this.#options.backoffMaxMs) return 'retry-after beyond the backoff cap';
    return undefined;
  }

  #fail(failure: Classified, attempts: number, reason: string, error: unknown): LlmUnavailableError {
    this.#stats.failures += 1;
    // A rejected request (bad input) says nothing about Bedrock's health. Neither does a throttle while
    // the adaptive rate can still go lower: opening the breaker would send everyone to the fallback for
    // a cool-down, when slowing down is the cure. Throttling at the rate floor is treated as an outage.
    const neutral = (failure.kind === 'rejected' && failure.label === 'ValidationException') || (failure.kind === 'throttled' && !this.#rate.atFloor);
    if (neutral) this.#breaker.recordNeutral();
    else this.#breaker.recordFailure();
    this.#count('failed');
    this.#log?.warn({ err: toError(error), kind: failure.kind, label: failure.label, attempts, reason, breaker: this.#breaker.state }, 'llm call failed');
    const code = failure.kind === 'timeout' ? 'llm_timeout' : failure.kind === 'throttled' ? 'llm_throttled' : 'llm_failed';
    return new LlmUnavailableError(code, `LLM call failed after ${attempts} attempt(s): ${failure.label} (${reason})`, { cause: error });
  }

  #count(outcome: 'ok' | 'failed' | 'busy' | 'breaker_open'): void {
    this.#metrics?.increment('hrbot_llm_calls_total', 'LLM calls by outcome', { outcome });
  }

  /** `sent`: when the attempt reached Bedrock; undefined when it failed before (its latency is not Bedrock's). */
  #attempt(outcome: string, sent: number | undefined): void {
    this.#metrics?.increment('hrbot_llm_attempts_total', 'LLM attempts by outcome', { outcome });
    if (sent !== undefined) {
      this.#metrics?.observe(
        'hrbot_llm_attempt_seconds',
        'Bedrock latency of one attempt, from sending to the last byte (or failure), by outcome',
        (performance.now() - sent) / 1000,
        { outcome },
        ATTEMPT_BUCKETS,
      );
    }
  }
}

function validate(options: LlmGatewayOptions): void {
  const checks: Array<[keyof LlmGatewayOptions, number]> = [
    ['concurrency', 1],
    ['queueLimit', 1],
    ['requestsPerMinute', 0],
    ['timeoutMs', 1],
    ['maxAttempts', 1],
    ['maxThrottledAttempts', 1],
    ['backoffBaseMs', 0],
    ['backoffMaxMs', 0],
    ['breakerFailures', 1],
    ['breakerCooldownMs', 0],
  ];
  for (const [name, min] of checks) {
    const value = options[name];
    if (!Number.isFinite(value) || value < min) throw new RangeError(`Expected \`${name}\` to be a finite number >= ${min}, got ${value}`);
  }
}

/** Breaker settings; defaults in `.env.example` (LLM_BREAKER_FAILURES, LLM_BREAKER_COOLDOWN_MS). */
export interface CircuitBreakerOptions {
  /** Consecutive failed calls that open the breaker. */
  failureThreshold: number;
  /** How long it stays open before one trial call is let through, in ms. */
  cooldownMs: number;
  now?: () => number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * Stops calling a backend that keeps failing. Closed: every call goes through. After
 * `failureThreshold` consecutive failures it opens: calls are refused at once (the user gets the
 * handbook excerpts without waiting) for `cooldownMs`. Then exactly one trial call goes through
 * (half-open); its success closes the breaker, its failure opens it for another cool-down.
 */
export class CircuitBreaker {
  readonly #options: Required<CircuitBreakerOptions>;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #trialInFlight = false;

  constructor(options: CircuitBreakerOptions) {
    if (!(options.failureThreshold >= 1)) throw new RangeError(`Expected failureThreshold >= 1, got ${options.failureThreshold}`);
    if (!(options.cooldownMs >= 0)) throw new RangeError(`Expected cooldownMs >= 0, got ${options.cooldownMs}`);
    this.#options = { now: Date.now, ...options };
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#options.now() - this.#openedAt >= this.#options.cooldownMs) return 'half-open';
    return this.#state;
  }

  /** Whether a call may start now. In half-open state only the first caller gets true. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open') return false;
    if (this.#trialInFlight) return false;
    this.#trialInFlight = true;
    this.#state = 'half-open';
    return true;
  }

  /** Milliseconds until a trial call will be allowed (0 when calls go through). */
  get retryInMs(): number {
    if (this.#state !== 'open') return 0;
    return Math.max(0, this.#openedAt + this.#options.cooldownMs - this.#options.now());
  }

  recordSuccess(): void {
    this.#failures = 0;
    this.#trialInFlight = false;
    this.#state = 'closed';
  }

  recordFailure(): void {
    this.#failures += 1;
    if (this.#state === 'half-open' || this.#failures >= this.#options.failureThreshold) {
      this.#state = 'open';
      this.#openedAt = this.#options.now();
      this.#trialInFlight = false;
    }
  }

  /** A call that neither proved nor disproved health (e.g. a validation error): release a trial slot. */
  recordNeutral(): void {
    if (this.#state === 'half-open') this.#trialInFlight = false;
  }
}

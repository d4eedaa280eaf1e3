/** AIMD settings. */
export interface AdaptiveLimitOptions {
  /** The ceiling (LLM_CONCURRENCY). */
  max: number;
  /**
   * The starting value. Default 1: the first calls also open the connection, and calls started
   * together during that stall reach Bedrock bunched, which a per-minute quota counts as a burst.
   */
  initial?: number;
  /** The floor. Default 1. */
  min?: number;
  /** Factor applied on a throttle. Default 0.5. */
  decreaseFactor?: number;
  /**
   * At most one decrease per this many ms. Default 1000. Throttles arrive in bursts (every call in
   * flight hits the same quota); one burst is one signal, not N, or the limit would collapse to the floor.
   */
  decreaseIntervalMs?: number;
  /** Called whenever the limit changes, to apply it (the p-queue's concurrency). */
  onChange: (limit: number) => void;
  now?: () => number;
}

/**
 * Additive increase, multiplicative decrease of the number of calls in flight, the way TCP finds a
 * link's capacity: a slow start (one more per success, so the limit doubles each window) until the
 * first throttle, then halve on a throttle and add one after a full "window" of successes (one per
 * call in flight). Under sustained throttling the bot settles near the quota instead of a retry storm.
 */
export class AdaptiveLimit {
  readonly #max: number;
  readonly #min: number;
  readonly #factor: number;
  readonly #intervalMs: number;
  readonly #onChange: (limit: number) => void;
  readonly #now: () => number;
  #limit: number;
  #credit = 0;
  #lastDecrease = -Infinity;
  #slowStart = true;
  /** The state before the latest decrease, for {@link undoDecrease}. */
  #beforeDecrease: { limit: number; slowStart: boolean } | undefined;

  constructor(options: AdaptiveLimitOptions) {
    this.#max = options.max;
    this.#min = options.min ?? 1;
    this.#factor = options.decreaseFactor ?? 0.5;
    this.#intervalMs = options.decreaseIntervalMs ?? 1000;
    this.#onChange = options.onChange;
    this.#now = options.now ?? Date.now;
    if (!(this.#min >= 1 && this.#max >= this.#min)) throw new RangeError(`Expected 1 <= min <= max, got min ${this.#min}, max ${this.#max}`);
    if (!(this.#factor > 0 && this.#factor < 1)) throw new RangeError(`Expected 0 < decreaseFactor < 1, got ${this.#factor}`);
    const initial = options.initial ?? 1;
    if (!(initial >= this.#min && initial <= this.#max)) throw new RangeError(`Expected min <= initial <= max, got ${initial}`);
    this.#limit = initial;
  }

  get limit(): number {
    return this.#limit;
  }

  /** A call succeeded: creep back up by one per `limit` successes. */
  onSuccess(): void {
    if (this.#limit >= this.#max) return;
    if (this.#slowStart) {
      this.#set(this.#limit + 1);
      return;
    }
    this.#credit += 1;
    if (this.#credit >= this.#limit) {
      this.#credit = 0;
      this.#set(this.#limit + 1);
    }
  }

  /** The backend said "too many": back off multiplicatively, once per burst. */
  onThrottle(): void {
    const now = this.#now();
    if (now - this.#lastDecrease < this.#intervalMs) {
      // This signal made no decrease, so an undo of it must not take back the earlier one.
      this.#beforeDecrease = undefined;
      return;
    }
    this.#lastDecrease = now;
    this.#beforeDecrease = { limit: this.#limit, slowStart: this.#slowStart };
    this.#slowStart = false;
    this.#credit = 0;
    this.#set(Math.max(this.#min, Math.floor(this.#limit * this.#factor)));
  }

  /** The latest decrease answered throttles that turned out not to depend on the load: take it back. */
  undoDecrease(): void {
    const before = this.#beforeDecrease;
    if (before === undefined) return;
    this.#beforeDecrease = undefined;
    this.#slowStart = before.slowStart;
    this.#set(Math.max(this.#limit, before.limit));
  }

  #set(limit: number): void {
    if (limit === this.#limit) return;
    this.#limit = limit;
    this.#onChange(limit);
  }
}

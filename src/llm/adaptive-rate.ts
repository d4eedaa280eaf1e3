import { ThrottleEvidence } from './throttle-evidence.ts';
import type { ThrottleEvidenceOptions } from './throttle-evidence.ts';

/** Adaptive request-rate settings; the gateway fills them from LLM_REQUESTS_PER_MINUTE. */
export interface AdaptiveRateOptions {
  /**
   * Highest rate, requests per second (LLM_REQUESTS_PER_MINUTE / 60). When set, the limiter starts at
   * it and always returns to it. Undefined = no fixed ceiling: nothing is paced until the first
   * throttle, which sets the rate from the send rate measured just before it.
   */
  ceiling?: number;
  /** Lowest rate, requests per second. Default 0.5 (the AWS SDK's floor): a probe every 2 s finds the quota back. */
  minRate?: number;
  /** Factor applied to the recent send rate on a throttle. Default 0.7 (CUBIC's beta, as in the AWS SDK). */
  decreaseFactor?: number;
  /**
   * CUBIC's scale constant, (requests/s) per s³. Default 2 (the AWS SDK uses 0.4): back to 50/s within
   * about 1.5 s of a throttle instead of 3.4 s; time below the quota is time lost for good.
   */
  growth?: number;
  /** Sends allowed back to back after an idle spell, as seconds of the current rate. Default 0.1 (at least one). */
  burstSeconds?: number;
  /** Length of one send-rate measurement bucket, ms. Default 500. */
  measureIntervalMs?: number;
  /**
   * Tells a quota's throttles from background ones (see ThrottleEvidence); `false` reacts to every
   * throttle as a quota's. Default: on, with that class's defaults.
   */
  evidence?: ThrottleEvidenceOptions | false;
  /** Called when a probe found that its cut did not help and the cut was undone (the gateway undoes its own). */
  onCutUndone?: () => void;
  now?: () => number;
}

/** Milliseconds a caller must wait before sending; the ticket goes back with a throttle. */
export interface RateTicket {
  waitMs: number;
  /** How many decreases had happened when the slot was reserved. */
  generation: number;
}

/**
 * What a throttle did: `cut` the rate; nothing, because it is `background` (a steady share a lower rate
 * did not remove); or nothing, `held` because a cut already answers it (its burst, or a probe under way).
 */
export type ThrottleResponse = 'cut' | 'background' | 'held';

const SMOOTHING = 0.8;

/**
 * A token bucket whose fill rate follows what Bedrock accepts, like the AWS SDK's "adaptive" retry
 * mode: a throttle cuts the rate to `decreaseFactor` × the recently measured send rate; successes grow
 * it back along a cubic curve (fast towards the rate that was last throttled, carefully around it,
 * then faster again beyond it), up to the ceiling. Concurrency limits cannot hold a per-minute quota
 * when Bedrock answers fast (16 calls of 100 ms are 160 requests/s); a rate can.
 *
 * Not every throttle is the quota's: Bedrock also throttles a share of requests when on-demand capacity
 * is short, whatever our rate. Cutting for those only lowers throughput, cut after cut down to the floor.
 * So each cut is checked by {@link ThrottleEvidence}: if the throttled fraction at the lower rate is the
 * same as before, the cut is undone and that fraction is tolerated as background until it expires.
 *
 * Time is injected (`now`) and the caller does the waiting, so the class is deterministic under test.
 */
export class AdaptiveRate {
  readonly #ceiling: number;
  readonly #min: number;
  readonly #beta: number;
  readonly #c: number;
  readonly #burstSeconds: number;
  readonly #measureMs: number;
  readonly #now: () => number;
  /** False until the first throttle when there is no ceiling: nothing to pace against yet. */
  #enabled: boolean;
  #rate: number;
  /** Earliest time the next send may go (a reservation clock: drift does not accumulate). */
  #nextAt = -Infinity;
  /** The rate at the last throttle that followed a success: the top of the cubic curve. */
  #lastMax: number;
  #lastDecreaseAt = -Infinity;
  #generation = 0;
  #successSinceDecrease = true;
  #measured = 0;
  #bucketStart: number;
  #bucketCount = 0;
  readonly #evidence: ThrottleEvidence | undefined;
  readonly #onCutUndone: (() => void) | undefined;
  /** The state before the latest cut, to restore when its probe finds the throttles were background. */
  #beforeCut: { rate: number; lastMax: number; enabled: boolean } | undefined;

  constructor(options: AdaptiveRateOptions = {}) {
    this.#ceiling = options.ceiling ?? Infinity;
    this.#min = options.minRate ?? 0.5;
    this.#beta = options.decreaseFactor ?? 0.7;
    this.#c = options.growth ?? 2;
    this.#burstSeconds = options.burstSeconds ?? 0.1;
    this.#measureMs = options.measureIntervalMs ?? 500;
    this.#now = options.now ?? Date.now;
    if (!(this.#min > 0 && this.#ceiling >= this.#min)) throw new RangeError(`Expected 0 < minRate <= ceiling, got ${this.#min}, ${this.#ceiling}`);
    if (!(this.#beta > 0 && this.#beta < 1)) throw new RangeError(`Expected 0 < decreaseFactor < 1, got ${this.#beta}`);
    if (!(this.#c > 0 && this.#burstSeconds >= 0 && this.#measureMs > 0)) throw new RangeError('Expected growth > 0, burstSeconds >= 0, measureIntervalMs > 0');
    this.#enabled = Number.isFinite(this.#ceiling);
    this.#rate = this.#enabled ? this.#ceiling : Infinity;
    this.#lastMax = this.#enabled ? this.#ceiling : 0;
    this.#bucketStart = this.#now();
    this.#evidence = options.evidence === false ? undefined : new ThrottleEvidence({ now: this.#now, ...options.evidence });
    this.#onCutUndone = options.onCutUndone;
  }

  /** Current fill rate, requests per second; Infinity while nothing is paced. */
  get rate(): number {
    return this.#enabled ? this.#rate : Infinity;
  }

  /** Smoothed send rate, requests per second. */
  get measuredRate(): number {
    return this.#measured;
  }

  /**
   * Whether a reservation should be made again before sending: it was made before the latest cut, and no
   * attempt has got through since, so the quota's window is still full and the old spacing would only
   * send into it. (After a single throttle among successes the old spacing is kept: it was nearly right.)
   */
  isStale(ticket: RateTicket): boolean {
    return ticket.generation !== this.#generation && !this.#successSinceDecrease;
  }

  /** The throttled fraction currently taken for background, not answered by a cut (0 = none known). */
  get background(): number {
    return this.#evidence?.background ?? 0;
  }

  /** True when the rate sits at its floor: throttling persists although the limiter cannot go lower. */
  get atFloor(): boolean {
    return this.#enabled && this.#rate <= this.#min;
  }

  /**
   * Reserve the next send slot. The caller waits `waitMs`, then sends. Reservations are handed out in
   * order at 1/rate apart, so n callers holding reservations wait at most n / rate (the gateway holds at
   * most LLM_CONCURRENCY of them, and the rate is never below `minRate`).
   *
   * `previous`: a ticket of the same send found {@link isStale}; the send is reserved again at the
   * corrected rate instead of going out at the old one, and is not counted twice.
   */
  acquire(previous?: RateTicket): RateTicket {
    const now = this.#now();
    if (!this.#enabled) {
      if (previous === undefined) this.#count(now);
      return { waitMs: 0, generation: this.#generation };
    }
    const spacing = 1000 / this.#rate;
    // After an idle spell allow a small burst, never a backlog of unused slots.
    const burstMs = Math.max(spacing, this.#burstSeconds * 1000);
    const sendAt = Math.max(this.#nextAt, now - burstMs + spacing);
    this.#nextAt = sendAt + spacing;
    if (previous === undefined) this.#count(now);
    return { waitMs: Math.max(0, sendAt - now), generation: this.#generation };
  }

  /**
   * An attempt got through: grow the rate along the cubic curve towards (and past) the last throttled
   * rate. `ticket` tells whether it was sent at the current rate (part of a probe after a cut).
   */
  onSuccess(ticket?: RateTicket): void {
    this.#successSinceDecrease = true;
    if (this.#evidence?.record(false, ticket?.generation === this.#generation) === 'background') this.#undoCut();
    if (!this.#enabled || this.#rate >= this.#ceiling) return;
    const t = (this.#now() - this.#lastDecreaseAt) / 1000;
    const k = Math.cbrt((this.#lastMax * (1 - this.#beta)) / this.#c);
    const cubic = this.#c * (t - k) ** 3 + this.#lastMax;
    // Back to the last throttled rate at once is fine (it was just measured); beyond it, grow no faster
    // than twice what is actually being sent, so an idle bot does not drift to a huge rate.
    const cap = Math.max(this.#lastMax, 2 * this.#measured);
    const next = Math.min(this.#ceiling, cap, cubic);
    if (next > this.#rate) this.#rate = next;
  }

  /**
   * Bedrock said "too many" to the attempt holding `ticket`. Attempts reserved before the last decrease
   * were paced at a rate already corrected, so one burst of their throttles counts once. Throttles the
   * evidence takes for background (a steady share that a lower rate did not remove) do not cut either.
   * Says what was done, so the caller can cut its concurrency along with the rate, and retry a background
   * throttle without growing waits.
   */
  onThrottle(ticket: RateTicket): ThrottleResponse {
    const current = ticket.generation === this.#generation;
    if (this.#evidence?.record(true, current) === 'background') this.#undoCut();
    if (!current) return 'held';
    if (this.#evidence?.shouldCut() === false) return this.#evidence.probing ? 'held' : 'background';
    this.#generation += 1;
    const now = this.#now();
    this.#count(now, 0);
    // Before the first full bucket the sends counted so far are the best measure (a throttle in the first
    // half second would otherwise drop an unpaced limiter straight to its floor), else the paced rate.
    const partial = now > this.#bucketStart ? (this.#bucketCount * 1000) / Math.max(now - this.#bucketStart, 100) : 0;
    const measured = this.#measured > 0 ? this.#measured : partial > 0 ? partial : this.#enabled ? this.#rate : this.#min;
    // A throttle with no success since the last cut means the quota's window is still full: step down from
    // the rate itself. The send rate measured meanwhile mostly shows our own waiting (slots reserved again
    // after the cut), and cutting from it would compound each step into a plunge to the floor.
    const echo = this.#enabled && !this.#successSinceDecrease;
    const base = Math.max(this.#min, echo ? this.#rate : this.#enabled ? Math.min(this.#rate, measured) : measured);
    // A throttle after successes measures the quota; throttles with no success in between only mean the
    // quota's window is still full, and must not pull the top of the curve down with them.
    // One episode lowers the top by at most the decrease factor: a quota that "echoes" earlier bursts
    // (a sliding window) throttles a probe early, which says little about the quota itself.
    this.#beforeCut = { rate: this.#rate, lastMax: this.#lastMax, enabled: this.#enabled };
    if (this.#successSinceDecrease) this.#lastMax = Math.min(this.#ceiling, Math.max(base, this.#lastMax * this.#beta));
    this.#successSinceDecrease = false;
    this.#rate = Math.max(this.#min, Math.min(this.#ceiling, base * this.#beta));
    this.#lastDecreaseAt = now;
    if (!this.#enabled) {
      this.#enabled = true;
      this.#nextAt = now;
    }
    this.#evidence?.startProbe(this.#rate / base);
    return 'cut';
  }

  /** The throttles that made the latest cut do not follow the send rate: going slower only loses answers. */
  #undoCut(): void {
    const before = this.#beforeCut;
    if (before === undefined) return;
    this.#beforeCut = undefined;
    this.#lastMax = Math.max(this.#lastMax, before.lastMax);
    if (before.enabled) this.#rate = Math.max(this.#rate, before.rate);
    else {
      this.#enabled = false;
      this.#rate = Infinity;
    }
    this.#onCutUndone?.();
  }

  /** Count one send (or just roll the buckets with `n` = 0) into the smoothed send rate. */
  #count(at: number, n = 1): void {
    const elapsed = at - this.#bucketStart;
    if (elapsed >= this.#measureMs) {
      const current = (this.#bucketCount * 1000) / elapsed;
      this.#measured = SMOOTHING * current + (1 - SMOOTHING) * this.#measured;
      this.#bucketStart = at;
      this.#bucketCount = 0;
    }
    this.#bucketCount += n;
  }
}

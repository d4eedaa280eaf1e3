/** Settings of the throttle classifier; defaults stated here. */
export interface ThrottleEvidenceOptions {
  /** Latest attempt outcomes kept to measure the throttled fraction "now". Default 50. */
  recentSamples?: number;
  /** Outcomes after a cut that make up the probe at the lower rate. Default 20. */
  probeSamples?: number;
  /** How long a measured background fraction is trusted before a throttle probes again, ms. Default 30 000. */
  backgroundTtlMs?: number;
  /**
   * Highest throttled fraction ever taken for background. Default 0.5: a probe that finds more is
   * overload (or a quota window still full), whatever the cause, and its cut stays.
   */
  maxBackground?: number;
  now?: () => number;
}

/** What a finished probe found: the cut removed throttles or found overload (`quota`), or did not help (`background`). */
export type ProbeVerdict = 'quota' | 'background';

interface Probe {
  /** Throttled fraction of the recent outcomes when the cut was made, and how many outcomes that was. */
  before: number;
  beforeCount: number;
  /** New rate / old rate. */
  ratio: number;
  throttled: number;
  total: number;
}

/**
 * Tells throttling that tracks the send rate (a quota) from throttling that does not (a backend that
 * throttles a share of requests whatever the rate), so that the rate limiter cuts only for the first.
 *
 * A quota's throttles go away at a lower rate; background throttles stay at about the same fraction.
 * So every cut is also a probe: the throttled fraction of the next `probeSamples` attempts, sent at
 * the lower rate, is compared with the fraction of the recent outcomes just before the cut. If it did
 * not fall, that fraction is background: the cut is undone, and until the background expires a
 * throttle cuts again only when the recent fraction rises clearly above it. If it fell (or is above
 * `maxBackground`), the throttles were the quota's, and every throttle cuts, as before.
 * During a probe a throttle cuts again only when the probe is already clearly overloaded (more than
 * `maxBackground` throttled, with 95% confidence: four in a row), which is how a full quota window looks.
 */
export class ThrottleEvidence {
  readonly #recentSize: number;
  readonly #probeSize: number;
  readonly #ttlMs: number;
  readonly #maxBackground: number;
  readonly #now: () => number;
  /** Ring of the latest outcomes, true = throttled, and how many of them are true. */
  readonly #recent: boolean[] = [];
  #next = 0;
  #recentThrottled = 0;
  #background = 0;
  #backgroundUntil = -Infinity;
  #probe: Probe | undefined;

  constructor(options: ThrottleEvidenceOptions = {}) {
    this.#recentSize = options.recentSamples ?? 50;
    this.#probeSize = options.probeSamples ?? 20;
    this.#ttlMs = options.backgroundTtlMs ?? 30_000;
    this.#maxBackground = options.maxBackground ?? 0.5;
    this.#now = options.now ?? Date.now;
    if (!(Number.isInteger(this.#recentSize) && this.#recentSize >= 1 && Number.isInteger(this.#probeSize) && this.#probeSize >= 1)) {
      throw new RangeError(`Expected whole recentSamples >= 1 and probeSamples >= 1, got ${this.#recentSize}, ${this.#probeSize}`);
    }
    if (!(this.#ttlMs >= 0)) throw new RangeError(`Expected backgroundTtlMs >= 0, got ${this.#ttlMs}`);
    if (!(this.#maxBackground >= 0 && this.#maxBackground < 1)) throw new RangeError(`Expected 0 <= maxBackground < 1, got ${this.#maxBackground}`);
  }

  /** The throttled fraction taken for background now (0 when none is known or it expired). */
  get background(): number {
    return this.#now() <= this.#backgroundUntil ? this.#background : 0;
  }

  /** True while the attempts after a cut are being measured. */
  get probing(): boolean {
    return this.#probe !== undefined;
  }

  /**
   * Count one attempt's outcome (errors other than throttles are not counted). `sentAtCurrentRate`: the
   * attempt was paced after the latest cut, so it belongs to the probe. Returns the probe's verdict when
   * this outcome finished it.
   */
  record(throttled: boolean, sentAtCurrentRate: boolean): ProbeVerdict | undefined {
    if (this.#recent.length < this.#recentSize) {
      this.#recent.push(throttled);
    } else {
      if (this.#recent[this.#next] === true) this.#recentThrottled -= 1;
      this.#recent[this.#next] = throttled;
    }
    if (throttled) this.#recentThrottled += 1;
    this.#next = (this.#next + 1) % this.#recentSize;
    const probe = this.#probe;
    if (probe === undefined || !sentAtCurrentRate) return undefined;
    probe.total += 1;
    if (throttled) probe.throttled += 1;
    return probe.total >= this.#probeSize ? this.#conclude(probe) : undefined;
  }

  /** A throttle of an attempt sent at the current rate was just recorded: should the rate be cut? */
  shouldCut(): boolean {
    const probe = this.#probe;
    if (probe !== undefined) return wilsonLower(probe.throttled, probe.total) > this.#maxBackground;
    const background = this.background;
    if (background === 0) return true;
    const n = this.#recent.length;
    return this.#recentThrottled / n > background + 2 * Math.sqrt((background * (1 - background)) / n) + 0.05;
  }

  /** The caller cut its rate to `ratio` × what it was: measure the next attempts against the fraction just before. */
  startProbe(ratio: number): void {
    const n = this.#recent.length;
    this.#probe = { before: n === 0 ? 1 : this.#recentThrottled / n, beforeCount: n, ratio, throttled: 0, total: 0 };
  }

  #conclude(probe: Probe): ProbeVerdict {
    this.#probe = undefined;
    const after = probe.throttled / probe.total;
    // Background throttles stay at about `before` at the lower rate; a quota's go down. The fraction must
    // fall by more than chance would explain (two standard errors, plus 0.05 for the pacing's own jitter)
    // to count as the quota's: wrongly taking background for a quota costs throughput, cut after cut,
    // while the opposite costs throttled attempts until the background expires or the fraction rises.
    // A "cut" that could not lower the rate (at the floor) tells nothing, and the cut stays.
    const beforeCount = Math.max(1, probe.beforeCount);
    const pooled = (probe.before * beforeCount + probe.throttled) / (beforeCount + probe.total);
    const margin = 2 * Math.sqrt(pooled * (1 - pooled) * (1 / beforeCount + 1 / probe.total)) + 0.05;
    const informative = probe.ratio < 0.95;
    const verdict: ProbeVerdict = !informative || after < probe.before - margin || after > this.#maxBackground ? 'quota' : 'background';
    // Background: that much stays whatever the rate. Quota: what is left at the lower rate is at most
    // background, and may still be the quota's, so the known background only goes down.
    this.#background = verdict === 'background' ? after : Math.min(this.background, after);
    this.#backgroundUntil = this.#now() + this.#ttlMs;
    return verdict;
  }
}

/** Lower bound of the 95% Wilson score interval of k successes in n trials. */
function wilsonLower(k: number, n: number): number {
  if (n === 0) return 0;
  const z = 1.96;
  const p = k / n;
  const denominator = 1 + (z * z) / n;
  const centre = p + (z * z) / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return (centre - spread) / denominator;
}

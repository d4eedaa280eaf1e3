import type { IntervalHistogram } from 'node:perf_hooks';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { HrbotError, toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics.ts';
import { REPLY_SECONDS_BUCKETS } from '../metrics.ts';
import type { Admission } from '../store/usage-store.ts';
import type { AnswerPace } from './backlog-notice.ts';
import type { InboxItem, InboxStore } from './inbox-store.ts';
import { PROCESS_ID } from './process-id.ts';

/** How the worker takes items; every bound has its default in DEFAULT_WORKER_OPTIONS. */
export interface InboxWorkerOptions {
  /** Items worked on at once, each from a different lane. */
  concurrency: number;
  /** Lease of a taken item in ms, renewed while it is worked on; a dead worker's items return after it. */
  leaseMs: number;
  /** How often the inbox is checked for items written by other processes or retries come due, in ms. */
  pollMs: number;
  /** Attempts per item; the last one is told so, to answer with an apology rather than nothing. */
  maxAttempts: number;
  /** First retry delay in ms, doubled per attempt up to 30 s. */
  retryBaseMs: number;
  /** A message still waiting after this many ms, with nothing shown yet, gets a notice (where its platform gives one). */
  longWaitMs: number;
  /** How often done keys past their retention are pruned, in ms. */
  pruneEveryMs: number;
  /**
   * How often the items of processes on this host that died (a crashed worker of WORKERS > 1, while
   * its siblings run on) are looked for and taken up, in ms, rather than after their leases.
   */
  deadWorkerCheckMs: number;
  /**
   * The event loop's delay, in ms, above which fewer items are taken at once (halved per check, down to
   * `minConcurrency`; raised again as it recovers, starting from `minConcurrency`): acks share the loop
   * with answers, and an ack that waits behind answers misses the platform's deadline, while an item
   * that waits is only later.
   */
  maxEventLoopDelayMs: number;
  /** Items worked on at once however busy the loop is (at most `concurrency`). */
  minConcurrency: number;
}

export const DEFAULT_WORKER_OPTIONS: InboxWorkerOptions = {
  concurrency: 64,
  leaseMs: 30_000,
  pollMs: 500,
  maxAttempts: 5,
  retryBaseMs: 1_000,
  longWaitMs: 20_000,
  pruneEveryMs: 10 * 60_000,
  deadWorkerCheckMs: 2_000,
  maxEventLoopDelayMs: 150,
  minConcurrency: 4,
};

/** Weight of the latest item in the moving average of item times (see InboxWorker.itemMs). */
const PACE_WEIGHT = 0.1;

/** How often the event loop's delay is checked to set how many items are taken at once, in ms. */
const LIMIT_CHECK_MS = 100;

/** Notices sent per poll at most, so a huge backlog is told about over a few seconds, not in one burst. */
const MAX_NOTICES_PER_POLL = 20;
/** How long an item is held while its long-wait notice is sent, in ms. */
const NOTICE_HOLD_MS = 5_000;

/**
 * Tells a user whose message has waited long that it is still coming. Resolves with what it showed
 * (saved as the item's progress, so the answer replaces it), or undefined when nothing was shown.
 */
export type LongWaitNotice = (item: InboxItem, waitedMs: number, markShowing: (progress: string) => Promise<void>) => Promise<string | undefined>;

const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Buckets (seconds) of `hrbot_inbox_wait_seconds`. A free worker takes an item within milliseconds
 * (enqueue notifies it); one written by another process waits for the next poll (pollMs, 0.5 s); an
 * item held for a notice waits its hold (seconds); a backlog or a restart, minutes.
 */
const INBOX_WAIT_BUCKETS: readonly number[] = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** What a handler may do besides its work. */
export interface InboxWorkContext {
  /** This is the item's last attempt: a failure now is final. */
  lastAttempt: boolean;
  /** Record what the user has been shown so far, so a retry (after a crash too) completes it instead of repeating it. */
  saveProgress(progress: string): Promise<void>;
  /** Aborted when the worker stops: finish quickly or give the item back by throwing. */
  signal: AbortSignal;
  /** Whether the item is still this worker's to answer (an erasure deletes it): check it right before storing anything. */
  stillOpen(): Promise<boolean>;
  /** Mark the item done now (before the reply is on its way, where a platform cannot be asked twice); false when it was erased meanwhile. */
  complete(): Promise<boolean>;
  /**
   * Whether an earlier attempt already counted the message against its user's limits, and the item
   * the counting transaction marks as counted: hand it to the engine.
   */
  admission: Admission;
  /** When the inbox received the item, the same on every attempt (ms). */
  receivedAt: number;
}

/** Answers one item; the platform's adapter registers one per platform. */
export type InboxHandler = (item: InboxItem, context: InboxWorkContext) => Promise<void>;

/** A handler failure that should be retried later (the platform was unreachable). */
export class InboxRetryError extends HrbotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('inbox_retry', message, options);
  }
}

/**
 * Takes items from the inbox and hands each to its platform's handler: different lanes in
 * parallel, one lane's items one at a time in order (the store's claim guarantees both, across
 * processes too). A failed item is retried with backoff; after the last attempt it is closed and
 * logged. Stopping hands unfinished items back at once, for the next start or another process.
 */
export class InboxWorker implements AnswerPace {
  readonly #store: InboxStore;
  readonly #log: Logger;
  readonly #options: InboxWorkerOptions;
  /** `host:pid`, written on the items this process takes. */
  readonly #id = PROCESS_ID;
  readonly #handlers = new Map<string, InboxHandler>();
  readonly #notices = new Map<string, LongWaitNotice>();
  #lastPrune = Date.now();
  #lastDeadCheck = Date.now();
  #housekeeping = false;
  #claiming = false;
  #notifiedWhileClaiming = false;
  readonly #active = new Map<number, { done: Promise<void>; abort: AbortController; startedAt: number }>();
  /** Moving average of the time items took, in ms (see itemMs). */
  #meanItemMs: number | undefined;
  #poll: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #pace: NodeJS.Timeout | undefined;
  #running = false;
  #pumpQueued = false;
  #metrics: Metrics | undefined;
  /** Items taken at once now: `concurrency`, lowered while the event loop is slow. */
  #limit: number;
  #loopDelay: IntervalHistogram | undefined;

  constructor(store: InboxStore, log: Logger, options: Partial<InboxWorkerOptions> = {}) {
    this.#store = store;
    this.#log = log;
    this.#options = { ...DEFAULT_WORKER_OPTIONS, ...options };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected inbox worker option \`${name}\` to be an integer >= 1, got ${value}`);
    }
    // A concurrency set below the floor is the floor: the limit never rises above what was asked.
    this.#options.minConcurrency = Math.min(this.#options.minConcurrency, this.#options.concurrency);
    // Slow start: a process that starts into a backlog (a restart, a burst) first has acks to send;
    // the limit rises as the loop shows it can take more.
    this.#limit = this.#options.minConcurrency;
  }

  /** Items being worked on in this process. */
  get active(): number {
    return this.#active.size;
  }

  /** Items taken at once now: `minConcurrency` at start, up to `concurrency` while the event loop keeps up. */
  get limit(): number {
    return this.#limit;
  }

  /** Register the handler for one platform's items; only platforms with a handler are taken. */
  handle(platform: string, handler: InboxHandler): void {
    this.#handlers.set(platform, handler);
    this.notify();
  }

  /** Register how one platform tells a user their message is still waiting (see `longWaitMs`). */
  noticeLongWaits(platform: string, notice: LongWaitNotice): void {
    this.#notices.set(platform, notice);
  }

  /** Inbox gauges on `/metrics`, and the wait and reply-time histograms. */
  collectMetrics(metrics: Metrics): void {
    this.#metrics = metrics;
    metrics.collect(async () => {
      const stats = await this.#store.stats();
      // Read from the shared store: every worker process sees the same figures.
      metrics.set('hrbot_inbox_pending', 'Inbox items waiting to be answered', stats.pending, {}, 'max');
      metrics.set('hrbot_inbox_working', 'Inbox items being answered, by any process', stats.working, {}, 'max');
      metrics.set('hrbot_inbox_oldest_wait_seconds', 'How long the oldest waiting inbox item has waited', stats.oldestWaitMs / 1000, {}, 'max');
    });
  }

  /**
   * Start taking items. Returns how many unfinished items the inbox holds now: those an earlier run
   * left (taken up as their leases expire) and those other processes are working on.
   */
  async start(): Promise<number> {
    if (this.#running) return 0;
    this.#running = true;
    // A process that died on this host (a crash, SIGKILL) leaves leases that would hold its items
    // for up to leaseMs; its pid tells it is gone, so they are taken up now. Other hosts' leases run out.
    await this.#releaseDeadWorkers();
    const stats = await this.#store.stats();
    const resumed = stats.pending + stats.working;
    if (!this.#running) return resumed; // halted meanwhile
    this.#loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.#loopDelay.enable();
    this.#poll = setInterval(() => this.#tick(), this.#options.pollMs);
    // Checked more often than the poll: a burst fills the loop within a fraction of a second. Only a
    // limit raised while every slot was taken can let more in at once; otherwise enqueues, finished
    // items and the poll look for work (an idle bot used to run ten empty claims a second).
    this.#pace = setInterval(() => {
      const full = this.#active.size >= this.#limit;
      const before = this.#limit;
      this.#adjustLimit();
      if (full && this.#limit > before) this.notify();
    }, Math.min(this.#options.pollMs, LIMIT_CHECK_MS));
    this.#pace.unref();
    this.#heartbeat = setInterval(() => this.#renew(), Math.max(1, Math.floor(this.#options.leaseMs / 3)));
    this.#poll.unref();
    this.#heartbeat.unref();
    this.notify();
    return resumed;
  }

  /** Something was enqueued or finished: look for work soon (coalesced). */
  notify(): void {
    if (this.#claiming) this.#notifiedWhileClaiming = true;
    if (!this.#running || this.#pumpQueued) return;
    this.#pumpQueued = true;
    setImmediate(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  /**
   * Stop taking items, wait up to `drainMs` for those in hand, then abort the rest and hand them
   * back. Resolves with how many were handed back.
   */
  async stop(drainMs: number): Promise<number> {
    this.halt();
    const inHand = [...this.#active.values()].map((entry) => entry.done);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(inHand), new Promise((resolve) => (timer = setTimeout(resolve, drainMs)))]);
    clearTimeout(timer);
    const left = [...this.#active.keys()];
    const handedBack: Promise<void>[] = [];
    for (const [id, entry] of this.#active) {
      // The handler is told, and the item is no longer its own: whatever it finishes late is not delivered.
      entry.abort.abort();
      handedBack.push(this.#store.release(id));
    }
    await Promise.all(handedBack);
    return left.length;
  }

  /** Stop taking items and renewing leases, without waiting (the store is closing; items in hand return when their leases expire). */
  halt(): void {
    this.#running = false;
    clearInterval(this.#poll);
    clearInterval(this.#heartbeat);
    clearInterval(this.#pace);
    this.#loopDelay?.disable();
    this.#loopDelay = undefined;
  }

  #tick(): void {
    this.notify();
    // One housekeeping pass at a time: a slow store must not pile them up.
    if (this.#housekeeping) return;
    this.#housekeeping = true;
    this.#housekeep()
      .catch((error: unknown) => this.#log.error({ err: toError(error) }, 'inbox: housekeeping failed'))
      .finally(() => {
        this.#housekeeping = false;
      });
  }

  async #housekeep(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastPrune >= this.#options.pruneEveryMs) {
      this.#lastPrune = now;
      await this.#store.prune(now);
    }
    if (now - this.#lastDeadCheck >= this.#options.deadWorkerCheckMs) {
      this.#lastDeadCheck = now;
      await this.#releaseDeadWorkers();
    }
    const waiting = await this.#store.holdLongWaiting(now - this.#options.longWaitMs, MAX_NOTICES_PER_POLL, NOTICE_HOLD_MS, [...this.#notices.keys()], now);
    for (const item of waiting) void this.#noticeLongWait(item, now - item.receivedAt);
  }

  async #releaseDeadWorkers(): Promise<void> {
    const handedBack = await this.#store.releaseDeadWorkers((worker) => isDeadLocalWorker(worker, this.#id));
    if (handedBack > 0) {
      this.#log.info({ items: handedBack }, 'inbox: took up the items of a process that died');
      this.notify();
    }
  }

  async #noticeLongWait(item: InboxItem, waitedMs: number): Promise<void> {
    let shown: string | undefined;
    try {
      // markShowing lets the platform record a notice as on its way before sending it (a crash then finds it).
      shown = await this.#notices.get(item.platform)?.(item, waitedMs, (progress) => this.#store.saveProgress(item.id, progress));
    } catch (error) {
      this.#log.warn({ err: toError(error), platform: item.platform }, 'inbox: could not send a long-wait notice');
    }
    try {
      // Something always stays recorded, so the item is not picked for a notice again; a mark the
      // notice left (on its way) is kept when it showed nothing it could name.
      if (shown === undefined) await this.#store.saveProgressIfNone(item.id, '{}');
      else await this.#store.saveProgress(item.id, shown);
      await this.#store.makeDue(item.id);
      this.notify();
    } catch (error) {
      this.#log.error({ err: toError(error) }, 'inbox: could not release an item after its notice');
    }
  }

  /** Halve the items taken at once when the loop was slow since the last check; add back a sixteenth when it was quick. */
  #adjustLimit(): void {
    const histogram = this.#loopDelay;
    if (histogram === undefined) return;
    const delayMs = histogram.max / 1e6;
    histogram.reset();
    const { concurrency, minConcurrency, maxEventLoopDelayMs } = this.#options;
    if (delayMs > maxEventLoopDelayMs) this.#limit = Math.max(minConcurrency, Math.floor(this.#limit / 2));
    else if (delayMs < maxEventLoopDelayMs / 2) this.#limit = Math.min(concurrency, this.#limit + Math.max(1, Math.ceil(concurrency / 16)));
  }

  #pump(): void {
    if (!this.#running || this.#claiming) return;
    const free = this.#limit - this.#active.size;
    if (free <= 0) return;
    // One claim at a time: what a claim in flight takes is not free yet, and two would over-take.
    this.#claiming = true;
    this.#store
      .claim(free, this.#options.leaseMs, Date.now(), [...this.#handlers.keys()], this.#id)
      .then(
        (items) => {
          // Stopped while the claim ran: what it took goes back at once, for the next start or another process.
          if (!this.#running) {
            for (const item of items) this.#store.release(item.id).catch((error: unknown) => this.#log.error({ err: toError(error) }, 'inbox: could not hand an item back'));
            return;
          }
          for (const item of items) this.#start(item);
        },
        // The store is briefly unavailable (locked past the busy timeout, disk full): the next poll retries.
        (error: unknown) => this.#log.error({ err: toError(error) }, 'inbox: could not take items'),
      )
      .finally(() => {
        this.#claiming = false;
        // Work finished or arrived during the claim: look again.
        if (this.#notifiedWhileClaiming) {
          this.#notifiedWhileClaiming = false;
          this.notify();
        }
      });
  }

  #start(item: InboxItem): void {
    // The first take only: a retry's time since receipt is the earlier attempts', not a wait for a worker.
    if (item.attempts === 1) {
      this.#metrics?.observe(
        'hrbot_inbox_wait_seconds',
        'Time from the receipt of an event to a worker taking it up (first attempt), by platform',
        secondsSince(item.receivedAt),
        { platform: item.platform },
        INBOX_WAIT_BUCKETS,
      );
    }
    const abort = new AbortController();
    const startedAt = Date.now();
    const done = this.#work(item, abort.signal).finally(() => {
      this.#active.delete(item.id);
      const tookMs = Date.now() - startedAt;
      this.#meanItemMs = this.#meanItemMs === undefined ? tookMs : this.#meanItemMs + PACE_WEIGHT * (tookMs - this.#meanItemMs);
      this.notify();
    });
    this.#active.set(item.id, { done, abort, startedAt });
  }

  /**
   * Typical time to answer an item now, in ms: the moving average of those answered, or the age of
   * the oldest in hand when that is longer (a model that stalls shows here before anything finishes).
   */
  itemMs(now = Date.now()): number | undefined {
    if (this.#meanItemMs === undefined) return undefined;
    let oldest = 0;
    for (const entry of this.#active.values()) oldest = Math.max(oldest, now - entry.startedAt);
    return Math.max(this.#meanItemMs, oldest);
  }

  /** Items answered at once now (see limit). */
  parallel(): number {
    return this.#limit;
  }

  async #work(item: InboxItem, signal: AbortSignal): Promise<void> {
    const handler = this.#handlers.get(item.platform);
    const lastAttempt = item.attempts >= this.#options.maxAttempts;
    let completed = false;
    const context: InboxWorkContext = {
      lastAttempt,
      signal,
      saveProgress: (progress) => this.#store.saveProgress(item.id, progress),
      admission: { done: item.admitted, inboxItemId: item.id },
      receivedAt: item.receivedAt,
      stillOpen: () => this.#store.isOpen(item.id),
      complete: async () => {
        completed = await this.#store.complete(item.id);
        return completed;
      },
    };
    let failure: unknown;
    try {
      if (handler === undefined) throw new HrbotError('inbox_no_handler', `No handler for platform ${item.platform}`);
      await handler(item, context);
    } catch (error) {
      failure = error;
    }
    // stop() handed the item back: it is no longer this worker's to close or retry.
    if (signal.aborted) return;
    try {
      await this.#settle(item, completed, failure, lastAttempt);
    } catch (error) {
      // The store went away under a late handler (shutdown): the lease expiring hands the item on.
      this.#log.error({ err: toError(error), platform: item.platform }, 'inbox: could not record the outcome of an item');
    }
  }

  async #settle(item: InboxItem, completed: boolean, failure: unknown, lastAttempt: boolean): Promise<void> {
    if (failure === undefined) {
      if (!completed) await this.#store.complete(item.id);
      this.#observeReply(item, 'answered');
      return;
    }
    if (lastAttempt) {
      this.#log.error({ err: toError(failure), platform: item.platform, attempts: item.attempts }, 'inbox: item failed for good');
      await this.#store.complete(item.id);
      this.#observeReply(item, 'failed');
      return;
    }
    const delay = Math.min(MAX_RETRY_DELAY_MS, this.#options.retryBaseMs * 2 ** (item.attempts - 1));
    this.#log.warn({ err: toError(failure), platform: item.platform, attempts: item.attempts, retryInMs: delay }, 'inbox: item will be retried');
    await this.#store.release(item.id, delay);
  }

  /** Receipt to done: what the user waited, across retries and restarts. */
  #observeReply(item: InboxItem, outcome: 'answered' | 'failed'): void {
    this.#metrics?.observe(
      'hrbot_reply_seconds',
      'Time from the receipt of an event to its reply being delivered (or given up), by platform and outcome',
      secondsSince(item.receivedAt),
      { platform: item.platform, outcome },
      REPLY_SECONDS_BUCKETS,
    );
  }

  #renew(): void {
    this.#store.renew([...this.#active.keys()], this.#options.leaseMs).catch((error: unknown) => this.#log.error({ err: toError(error) }, 'inbox: could not renew leases'));
  }
}

/** Seconds since a wall-clock time in ms (another process may have written it), never negative. */
function secondsSince(epochMs: number): number {
  return Math.max(0, Date.now() - epochMs) / 1000;
}

/** Whether `worker` (`host:pid`) is a process of this host that no longer runs. Another host's, or this one's own, never is. */
function isDeadLocalWorker(worker: string, self: string): boolean {
  if (worker === self) return false;
  const at = worker.lastIndexOf(':');
  const pid = Number(worker.slice(at + 1));
  if (worker.slice(0, at) !== self.slice(0, self.lastIndexOf(':')) || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // ESRCH: no such process. EPERM: it exists under another user, so it is alive.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

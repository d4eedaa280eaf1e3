import { toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Db } from './database.ts';
import { tryCheckpoint } from './database.ts';

/** Retry bounds of {@link JournalPurge}. */
export interface JournalPurgeOptions {
  /** First wait before retrying a checkpoint a reader blocked, in ms. Default 25. */
  firstRetryMs?: number;
  /** Longest wait between retries (the wait doubles up to it), in ms. Default 2,000. */
  maxRetryMs?: number;
  /** Retrying stops this long after the latest request, in ms; the next request (or retention sweep) starts again. Default 60,000. */
  giveUpAfterMs?: number;
  log?: Logger;
}

const DEFAULTS = { firstRetryMs: 25, maxRetryMs: 2_000, giveUpAfterMs: 60_000 };

/**
 * Empties the write-ahead log after an erase, without ever blocking the event loop: each attempt
 * is a non-waiting TRUNCATE checkpoint, and while a reader (another process, a backup) holds an
 * older snapshot the attempt fails and is retried on a timer with a doubling, capped backoff, for
 * a bounded time. Concurrent requests share one retry loop; any attempt after a request's commit
 * covers it.
 */
export class JournalPurge {
  readonly #db: Db;
  readonly #options: typeof DEFAULTS;
  readonly #log: Logger | undefined;
  #waiters: Array<(purged: boolean) => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #retries = 0;
  #deadline = 0;
  #pending = false;
  #closed = false;

  constructor(db: Db, options: JournalPurgeOptions = {}) {
    this.#db = db;
    this.#options = {
      firstRetryMs: options.firstRetryMs ?? DEFAULTS.firstRetryMs,
      maxRetryMs: options.maxRetryMs ?? DEFAULTS.maxRetryMs,
      giveUpAfterMs: options.giveUpAfterMs ?? DEFAULTS.giveUpAfterMs,
    };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${value}`);
    }
    this.#log = options.log;
  }

  /** True while erased data may still be in the log (a purge is retrying, or gave up and waits for the next request). */
  get pending(): boolean {
    return this.#pending;
  }

  /** Retry window of one request, in ms (for the user-facing wording). */
  get giveUpAfterMs(): number {
    return this.#options.giveUpAfterMs;
  }

  /**
   * Empty the log now if possible, else keep retrying in the background. Resolves true once it is
   * empty, false when `waitMs` passed first (the retries go on), or when retrying gave up or stopped.
   */
  purge(waitMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    this.#deadline = Date.now() + this.#options.giveUpAfterMs;
    this.#pending = true;
    if (this.#timer === undefined) {
      if (this.#attempt()) return Promise.resolve(true);
      this.#retries = 0;
      this.#schedule();
    }
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (purged: boolean) => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((waiter) => waiter !== settle);
        resolve(purged);
      };
      this.#waiters.push(settle);
      if (Number.isFinite(waitMs)) {
        timer = setTimeout(() => settle(false), waitMs);
        timer.unref();
      }
    });
  }

  /** Stop retrying (the database is closing; closing the last connection checkpoints it anyway). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#settle(false);
  }

  #schedule(): void {
    const delay = Math.min(this.#options.maxRetryMs, this.#options.firstRetryMs * 2 ** Math.min(this.#retries, 20));
    this.#retries += 1;
    this.#timer = setTimeout(() => this.#retry(), delay);
    // Never keeps the process alive; an unfinished purge is finished by the next request or the close.
    this.#timer.unref();
  }

  #retry(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    if (this.#attempt()) return;
    if (Date.now() >= this.#deadline) {
      this.#log?.warn({ retries: this.#retries }, 'erased data is still in the database journal: a reader held it; retried until the bound, next purge request retries');
      this.#settle(false);
      return;
    }
    this.#schedule();
  }

  /** One non-waiting checkpoint; true (and waiters told) when the log is empty. */
  #attempt(): boolean {
    let complete = false;
    try {
      complete = tryCheckpoint(this.#db).complete;
    } catch (error) {
      // Not a lock (those come back as incomplete): log it and let the retry or the next request try again.
      this.#log?.error({ err: toError(error) }, 'journal checkpoint failed');
    }
    if (complete) {
      this.#pending = false;
      this.#settle(true);
    }
    return complete;
  }

  #settle(purged: boolean): void {
    for (const waiter of [...this.#waiters]) waiter(purged);
    this.#waiters = [];
  }
}

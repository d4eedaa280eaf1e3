import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import { toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Db } from './database.ts';
import { writeTransaction } from './database.ts';
import { ERASURE_MARK_TTL_MS } from './erasure.ts';
import { EVENT_RETENTION_MS } from './event-ledger.ts';
import type { JournalPurge } from './journal-purge.ts';
import { RATE_WINDOW_MS, utcDay } from './usage-store.ts';

const DAY_MS = 24 * 60 * 60_000;

/**
 * Delete at most `limit` rows of `table` where `condition` holds (its one `?` bound to `bound`), in
 * one short transaction of its own; returns (or resolves with) how many went. One per engine:
 * {@link sqliteDeleteBatch} here, `pgDeleteBatch` in postgres/pg-retention.ts. SQLite's returns at
 * once, so a sweep with little to delete is over before {@link Retention.start} returns.
 */
export type DeleteBatch = (table: string, condition: string, bound: number | string, limit: number, byId?: boolean) => number | Promise<number>;

/**
 * The batch delete's text, the same on both engines but for the row address: SQLite's `rowid`,
 * PostgreSQL's `ctid` (an index scan picks the batch, a TID scan deletes it). `byId`: the table's ids
 * grow with the age the condition tests and no index serves the condition, so the batch is picked
 * from the `limit` lowest ids (the primary key's head), whatever the table holds after them.
 */
export function deleteBatchSql(rowAddress: 'rowid' | 'ctid', table: string, condition: string, byId = false): string {
  const picked = byId
    ? `${condition} AND id <= (SELECT max(id) FROM (SELECT id FROM ${table} ORDER BY id LIMIT ?) AS head)`
    : `${condition} LIMIT ?`;
  return `DELETE FROM ${table} WHERE ${rowAddress} IN (SELECT ${rowAddress} FROM ${table} WHERE ${picked})`;
}

/** {@link DeleteBatch} on SQLite: one BEGIN IMMEDIATE transaction per batch, synchronous, each statement prepared once. */
export function sqliteDeleteBatch(db: Db): DeleteBatch {
  // Bounded by the fixed list of sweep steps.
  const statements = new Map<string, Database.Statement<[number | string, number]>>();
  return (table, condition, bound, limit, byId) => {
    const sql = deleteBatchSql('rowid', table, condition, byId);
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare<[number | string, number]>(sql);
      statements.set(sql, statement);
    }
    const remove = statement;
    return writeTransaction(db, () => remove.run(bound, limit).changes);
  };
}

/** Options for {@link Retention}. */
export interface RetentionOptions {
  /** RETENTION_DAYS: questions, answers, feedback, usage and cached answers older than this many days go; 0 keeps only today's quota counts. */
  days: number;
  /** Time between sweeps, in ms. Default 1 h. */
  intervalMs?: number;
  /** Rows deleted per transaction; the event loop is free between batches. Default 500. */
  batchRows?: number;
  /** Batches per table per sweep at most (what is left goes in the next sweep). Default 10,000. */
  maxBatches?: number;
  /** The clock (tests inject one). */
  now?: () => number;
  log?: Logger;
  /** SQLite only: emptied after a sweep that deleted rows (and retried if an erase's purge gave up). PostgreSQL has none to empty. */
  journal?: JournalPurge;
}

/** Rows one sweep deleted, by what they were, and the transactions it took. */
export interface RetentionReport {
  messages: number;
  feedback: number;
  usageDays: number;
  cachedAnswers: number;
  rateWindows: number;
  erasureMarks: number;
  processedEvents: number;
  batches: number;
}

type Part = Exclude<keyof RetentionReport, 'batches'>;

/**
 * Deletes what is older than RETENTION_DAYS, once at start and then on an unref'd timer, in short
 * batched transactions with the event loop free between them, so a large backlog never stalls
 * replies. Also prunes the bookkeeping rows that are only needed for a while: ended rate-limit
 * windows, old erasure marks and old event ids.
 */
export class Retention {
  readonly #deleteBatch: DeleteBatch;
  readonly #days: number;
  readonly #intervalMs: number;
  readonly #batchRows: number;
  readonly #maxBatches: number;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #journal: JournalPurge | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<RetentionReport> | undefined;
  #stopped = false;

  /**
   * `store`: the engine's {@link DeleteBatch} (`pgDeleteBatch(pool)` on PostgreSQL), or a SQLite
   * connection (shorthand for `sqliteDeleteBatch(db)`).
   */
  constructor(store: Db | DeleteBatch, options: RetentionOptions) {
    if (!Number.isInteger(options.days) || options.days < 0) throw new RangeError(`Expected \`days\` to be an integer >= 0, got ${options.days}`);
    this.#deleteBatch = typeof store === 'function' ? store : sqliteDeleteBatch(store);
    this.#days = options.days;
    this.#intervalMs = options.intervalMs ?? 60 * 60_000;
    this.#batchRows = options.batchRows ?? 500;
    this.#maxBatches = options.maxBatches ?? 10_000;
    for (const name of ['intervalMs', 'batchRows', 'maxBatches'] as const) {
      const value = name === 'intervalMs' ? this.#intervalMs : name === 'batchRows' ? this.#batchRows : this.#maxBatches;
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${value}`);
    }
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#journal = options.journal;
  }

  /** Sweep now, then every interval; the timer never keeps the process alive. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#sweepInBackground();
    this.#timer = setInterval(() => this.#sweepInBackground(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stop the timer; a sweep in progress ends after its current batch (before the database closes). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Run one sweep (joining one already running). */
  sweep(): Promise<RetentionReport> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #sweepInBackground(): void {
    if (this.#running !== undefined) return;
    this.sweep().then(
      (report) => {
        const { batches, ...rows } = report;
        if (Object.values(rows).some((n) => n > 0)) this.#log?.info({ ...rows, batches, retentionDays: this.#days }, 'retention sweep deleted old rows');
      },
      (error: unknown) => {
        // The next tick tries again; nothing is lost by a failed sweep.
        this.#log?.error({ err: toError(error) }, 'retention sweep failed');
      },
    );
  }

  async #sweep(): Promise<RetentionReport> {
    const now = this.#now();
    // days = 0: cutoff is now, so every stored answer goes; today's usage row stays for the quota.
    const cutoff = now - this.#days * DAY_MS;
    const report: RetentionReport = {
      messages: 0,
      feedback: 0,
      usageDays: 0,
      cachedAnswers: 0,
      rateWindows: 0,
      erasureMarks: 0,
      processedEvents: 0,
      batches: 0,
    };
    // [what, table, condition on the row's age, bound, picked by id (see deleteBatchSql)]
    const steps: Array<[Part, string, string, number | string, boolean?]> = [
      ['feedback', 'feedback', 'created_at < ?', cutoff],
      // Feedback on a deleted answer goes with it (ON DELETE CASCADE); counted apart from the rows above.
      // Messages are only ever appended, so the oldest have the lowest ids (no index by age: migration 15).
      ['messages', 'messages', 'created_at < ?', cutoff, true],
      ['usageDays', 'usage_daily', 'day < ?', utcDay(cutoff)],
      ['cachedAnswers', 'answer_cache', 'created_at < ?', cutoff],
      ['rateWindows', 'rate_windows', 'window_start <= ?', now - RATE_WINDOW_MS],
      ['erasureMarks', 'erasures', 'erased_at < ?', now - ERASURE_MARK_TTL_MS],
      ['processedEvents', 'processed_events', 'claimed_at < ?', now - EVENT_RETENTION_MS],
    ];
    for (const [part, table, condition, bound, byId = false] of steps) {
      if (this.#stopped) return report;
      for (let batch = 0; batch < this.#maxBatches; batch++) {
        if (this.#stopped) return report;
        // By id, a batch with fewer rows deleted than it looked at has reached the rows to keep.
        const done = this.#deleteBatch(table, condition, bound, this.#batchRows, byId);
        // Awaited only when the engine is asynchronous: on SQLite a small sweep ends within start().
        const deleted = typeof done === 'number' ? done : await done;
        report[part] += deleted;
        report.batches += 1;
        if (deleted < this.#batchRows) break;
        await yieldToEventLoop();
      }
    }
    if (this.#stopped) return report;
    const deletedText = report.messages + report.feedback + report.cachedAnswers > 0;
    if (this.#journal !== undefined && (deletedText || this.#journal.pending)) {
      // Deleted text may still sit in the write-ahead log; the purge retries on its own, nothing waits for it here.
      this.#journal.purge().catch((error: unknown) => this.#log?.error({ err: toError(error) }, 'journal purge failed'));
    }
    return report;
  }
}

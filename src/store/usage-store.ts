import { RateLimitedError } from '../errors.ts';
import type { Db } from './database.ts';
import { groupWrite, promised, writeTransaction } from './database.ts';
import type { ErasureMark } from './erasure.ts';
import { erasedSince } from './erasure.ts';

/** Limits enforced by {@link UsageStore.admit}. */
export interface UsageLimits {
  /** Messages a user may send per minute. */
  perMinute: number;
  /** Questions (answers that may use the LLM) a user may ask per UTC day. */
  dailyQuestions: number;
}

/**
 * A message's count against its user's limits, where the durable inbox remembers it across attempts:
 * `done` when an earlier attempt counted it (it is then neither counted nor refused again); otherwise
 * the inbox item is marked counted in the counting transaction itself.
 */
export interface Admission {
  done: boolean;
  inboxItemId: number;
}

/** What {@link UsageStore.admit} is told besides the owner. */
export interface AdmitOptions {
  /** Counts against the daily quota too (an answer that may use the LLM). */
  question: boolean;
  /** The owner's erasure mark when the message arrived: nothing is counted if they were erased since. */
  mark?: ErasureMark;
  admission?: Admission;
}

/** One user's usage for a day. */
export interface DailyUsage {
  day: string;
  questions: number;
  inputTokens: number;
  outputTokens: number;
}

/** Totals across a tenant, for admins. */
export interface TenantUsage extends DailyUsage {
  users: number;
}

/**
 * Per-user rate limit and daily quota, on either store. Both are checked and counted in one
 * transaction before any work starts, so a refused request costs nothing and a failed answer still
 * counts: limits cannot leak under concurrency, across processes and replicas included.
 */
export interface UsageStore {
  readonly limits: UsageLimits;
  /**
   * Count one message against the rate limit and, when `question` is true, one question against the
   * daily quota. Rejects with RateLimitedError (nothing counted) when either is spent. Resolves false
   * (nothing counted) when the owner was erased after `mark` was taken: the message arrived before the
   * erase, and its turn must not write anything. With an `admission` already done (an earlier attempt
   * counted this message), admits without counting or checking again.
   */
  admit(ownerKey: string, tenantKey: string, options: AdmitOptions, now?: number): Promise<boolean>;
  /** Add LLM token usage to the user's day (and so the tenant's); false (nothing recorded) when the owner was erased after `mark`. */
  recordTokens(ownerKey: string, tenantKey: string, tokens: { input: number; output: number }, now?: number, mark?: ErasureMark): Promise<boolean>;
  /** The user's usage on the given day (zeros when none). */
  userDay(ownerKey: string, now?: number): Promise<DailyUsage>;
  /** The user's totals over the last `days` days including today. */
  userSince(ownerKey: string, days: number, now?: number): Promise<DailyUsage>;
  /** A tenant's totals for one day. */
  tenantDay(tenantKey: string, now?: number): Promise<TenantUsage>;
}

/** Length of one rate-limit window; a window row older than this counts for nothing and is pruned. */
export const RATE_WINDOW_MS = 60_000;
/** Every this many admits, stale window rows are pruned (at most PRUNE_BATCH per go, so a prune stays short). */
export const PRUNE_WINDOWS_EVERY = 500;
export const PRUNE_WINDOWS_BATCH = 500;

/** The UTC day a timestamp falls on, as YYYY-MM-DD. */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** The first day of the last `days` days, today's included. */
export function sinceDay(days: number, now: number): string {
  return utcDay(now - (days - 1) * 24 * 60 * 60_000);
}

/**
 * The decision of an admit, the same on either store: throws RateLimitedError when the message is
 * over a limit; otherwise says whether it opens a new rate window.
 */
export function checkLimits(
  limits: UsageLimits,
  window: { start: number; count: number } | undefined,
  questionsToday: number | undefined,
  question: boolean,
  now: number,
): { fresh: boolean } {
  const fresh = window === undefined || now - window.start >= RATE_WINDOW_MS;
  if (!fresh && window.count >= limits.perMinute) {
    const retryAfter = Math.max(1, Math.ceil((window.start + RATE_WINDOW_MS - now) / 1000));
    throw new RateLimitedError('rate', retryAfter, `Rate limit of ${limits.perMinute} messages per minute reached`);
  }
  if (question && (questionsToday ?? 0) >= limits.dailyQuestions) {
    const midnight = Date.parse(`${utcDay(now)}T00:00:00.000Z`) + 24 * 60 * 60_000;
    throw new RateLimitedError('daily_quota', Math.ceil((midnight - now) / 1000), `Daily quota of ${limits.dailyQuestions} questions reached`);
  }
  return { fresh };
}

/**
 * The usage statements, one text for both stores (`?` placeholders, numbered for PostgreSQL). Upserts
 * name the table in DO UPDATE, as PostgreSQL requires and SQLite allows; sums are cast to BIGINT, which
 * PostgreSQL would otherwise return as NUMERIC (a string).
 */
export const USAGE_SQL = {
  window: 'SELECT window_start AS start, count FROM rate_windows WHERE owner_key = ?',
  questionsOn: 'SELECT questions FROM usage_daily WHERE owner_key = ? AND day = ?',
  countQuestion: `INSERT INTO usage_daily (owner_key, tenant_key, day, questions) VALUES (?, ?, ?, 1)
    ON CONFLICT (owner_key, day) DO UPDATE SET questions = usage_daily.questions + 1`,
  openWindow: `INSERT INTO rate_windows (owner_key, window_start, count) VALUES (?, ?, 1)
    ON CONFLICT (owner_key) DO UPDATE SET window_start = excluded.window_start, count = 1`,
  countInWindow: 'UPDATE rate_windows SET count = rate_windows.count + 1 WHERE owner_key = ?',
  // The inbox item the message came from is marked counted: a retry after a crash does not count it again.
  markAdmitted: "UPDATE inbox SET admitted = 1 WHERE id = ? AND finished_at IS NULL",
  addTokens: `INSERT INTO usage_daily (owner_key, tenant_key, day, input_tokens, output_tokens) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (owner_key, day) DO UPDATE SET input_tokens = usage_daily.input_tokens + excluded.input_tokens,
      output_tokens = usage_daily.output_tokens + excluded.output_tokens`,
  userDay: `SELECT day, questions, input_tokens AS "inputTokens", output_tokens AS "outputTokens"
    FROM usage_daily WHERE owner_key = ? AND day = ?`,
  userSince: `SELECT CAST(COALESCE(SUM(questions), 0) AS BIGINT) AS questions,
      CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS "inputTokens", CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS "outputTokens"
    FROM usage_daily WHERE owner_key = ? AND day >= ?`,
  tenantDay: `SELECT COUNT(*) AS users, CAST(COALESCE(SUM(questions), 0) AS BIGINT) AS questions,
      CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS "inputTokens", CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS "outputTokens"
    FROM usage_daily WHERE tenant_key = ? AND day = ?`,
} as const;

/**
 * {@link UsageStore} on SQLite: each admit is one transaction (a savepoint in the turn's group
 * commit, see groupWrite; one writer at a time across processes), settled once it is on disk.
 */
export class SqliteUsageStore implements UsageStore {
  readonly #db: Db;
  readonly #sql: ReturnType<typeof prepareUsage>;
  readonly #limits: UsageLimits;
  #admitsSincePrune = 0;

  constructor(db: Db, limits: UsageLimits) {
    this.#db = db;
    this.#sql = prepareUsage(db);
    this.#limits = limits;
  }

  get limits(): UsageLimits {
    return this.#limits;
  }

  admit(ownerKey: string, tenantKey: string, options: AdmitOptions, now = Date.now()): Promise<boolean> {
    if (options.admission?.done === true) return Promise.resolve(true);
    return groupWrite(this.#db, () => this.admitNow(ownerKey, tenantKey, options, now));
  }

  /** {@link admit}, synchronously (scripts and tests that drive SQLite directly). */
  admitNow(ownerKey: string, tenantKey: string, options: AdmitOptions, now = Date.now()): boolean {
    if (options.admission?.done === true) return true;
    const admitted = writeTransaction(this.#db, (): boolean => {
      if (options.mark !== undefined && erasedSince(this.#db, ownerKey, options.mark)) return false;
      const sql = this.#sql;
      const day = utcDay(now);
      const window = sql.window.get(ownerKey) as { start: number; count: number } | undefined;
      const used = options.question ? (sql.questionsOn.get(ownerKey, day) as number | undefined) : undefined;
      const { fresh } = checkLimits(this.#limits, window, used, options.question, now);
      if (options.question) sql.countQuestion.run(ownerKey, tenantKey, day);
      if (fresh) sql.openWindow.run(ownerKey, now);
      else sql.countInWindow.run(ownerKey);
      if (options.admission !== undefined) sql.markAdmitted.run(options.admission.inboxItemId);
      return true;
    });
    if (++this.#admitsSincePrune >= PRUNE_WINDOWS_EVERY) {
      this.#admitsSincePrune = 0;
      this.pruneWindows(now);
    }
    return admitted;
  }

  /** Delete up to `limit` rate-window rows whose window has ended; returns how many went. */
  pruneWindows(now = Date.now(), limit = PRUNE_WINDOWS_BATCH): number {
    return this.#sql.pruneWindows.run(now - RATE_WINDOW_MS, limit).changes;
  }

  recordTokens(ownerKey: string, tenantKey: string, tokens: { input: number; output: number }, now = Date.now(), mark?: ErasureMark): Promise<boolean> {
    // groupWrite runs it in a savepoint of its own: the check and the write commit together.
    return groupWrite(this.#db, (): boolean => {
      if (mark !== undefined && erasedSince(this.#db, ownerKey, mark)) return false;
      this.#sql.addTokens.run(ownerKey, tenantKey, utcDay(now), tokens.input, tokens.output);
      return true;
    });
  }

  userDay(ownerKey: string, now = Date.now()): Promise<DailyUsage> {
    const day = utcDay(now);
    return promised(() => (this.#sql.userDay.get(ownerKey, day) as DailyUsage | undefined) ?? { day, questions: 0, inputTokens: 0, outputTokens: 0 });
  }

  userSince(ownerKey: string, days: number, now = Date.now()): Promise<DailyUsage> {
    const from = sinceDay(days, now);
    return promised(() => ({ day: from, ...(this.#sql.userSince.get(ownerKey, from) as Omit<DailyUsage, 'day'>) }));
  }

  tenantDay(tenantKey: string, now = Date.now()): Promise<TenantUsage> {
    const day = utcDay(now);
    return promised(() => ({ day, ...(this.#sql.tenantDay.get(tenantKey, day) as Omit<TenantUsage, 'day'>) }));
  }
}

// Prepared once: every message is admitted, and every AI answer records its tokens.
function prepareUsage(db: Db) {
  return {
    window: db.prepare(USAGE_SQL.window),
    questionsOn: db.prepare(USAGE_SQL.questionsOn).pluck(),
    countQuestion: db.prepare(USAGE_SQL.countQuestion),
    openWindow: db.prepare(USAGE_SQL.openWindow),
    countInWindow: db.prepare(USAGE_SQL.countInWindow),
    markAdmitted: db.prepare(USAGE_SQL.markAdmitted),
    pruneWindows: db.prepare('DELETE FROM rate_windows WHERE rowid IN (SELECT rowid FROM rate_windows WHERE window_start <= ? LIMIT ?)'),
    addTokens: db.prepare(USAGE_SQL.addTokens),
    userDay: db.prepare(USAGE_SQL.userDay),
    userSince: db.prepare(USAGE_SQL.userSince),
    tenantDay: db.prepare(USAGE_SQL.tenantDay),
  };
}

import { RateLimitedError } from '../errors.ts';
import type { Db } from './database.ts';
import { writeTransaction } from './database.ts';
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
 * A message's count against its user's limits, where something durable remembers it across attempts
 * (the inbox): `done` when an earlier attempt counted it (then it is neither counted nor refused
 * again), and `record`, run inside the counting transaction.
 */
export interface Admission {
  done: boolean;
  record(): void;
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

/** Length of one rate-limit window; a window row older than this counts for nothing and is pruned. */
export const RATE_WINDOW_MS = 60_000;
const WINDOW_MS = RATE_WINDOW_MS;
/** Every this many admits, stale window rows are pruned (at most PRUNE_BATCH per go, so a prune stays short). */
const PRUNE_EVERY = 500;
const PRUNE_BATCH = 500;

/** The UTC day a timestamp falls on, as YYYY-MM-DD. */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/**
 * Per-user rate limit and daily quota. Both are checked and counted in one write transaction
 * before any work starts, so a refused request costs nothing and a failed answer still counts:
 * limits cannot leak under concurrency.
 */
export class UsageStore {
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

  /**
   * Count one message against the rate limit and, when `question` is true, one question against
   * the daily quota. Throws RateLimitedError (nothing counted) when either is spent. Returns false
   * (nothing counted) when the owner was erased after `mark` was taken: the message arrived before
   * the erase, and its turn must not write anything. With an `admission` already done (an earlier
   * attempt counted this message), admits without counting or checking again.
   */
  admit(ownerKey: string, tenantKey: string, options: { question: boolean; mark?: ErasureMark; admission?: Admission }, now = Date.now()): boolean {
    if (options.admission?.done === true) return true;
    const admitted = writeTransaction(this.#db, (): boolean => {
      const db = this.#db;
      if (options.mark !== undefined && erasedSince(db, ownerKey, options.mark)) return false;
      const sql = this.#sql;
      const window = sql.window.get(ownerKey) as
        | { start: number; count: number }
        | undefined;
      const fresh = window === undefined || now - window.start >= WINDOW_MS;
      if (!fresh && window.count >= this.#limits.perMinute) {
        const retryAfter = Math.max(1, Math.ceil((window.start + WINDOW_MS - now) / 1000));
        throw new RateLimitedError('rate', retryAfter, `Rate limit of ${this.#limits.perMinute} messages per minute reached`);
      }
      const day = utcDay(now);
      if (options.question) {
        const used = (sql.questionsOn.get(ownerKey, day) as
          | number
          | undefined) ?? 0;
        if (used >= this.#limits.dailyQuestions) {
          const midnight = Date.parse(`${day}T00:00:00.000Z`) + 24 * 60 * 60_000;
          throw new RateLimitedError('daily_quota', Math.ceil((midnight - now) / 1000), `Daily quota of ${this.#limits.dailyQuestions} questions reached`);
        }
        sql.countQuestion.run(ownerKey, tenantKey, day);
      }
      if (fresh) {
        sql.openWindow.run(ownerKey, now);
      } else {
        sql.countInWindow.run(ownerKey);
      }
      options.admission?.record();
      return true;
    });
    if (++this.#admitsSincePrune >= PRUNE_EVERY) {
      this.#admitsSincePrune = 0;
      this.pruneWindows(now);
    }
    return admitted;
  }

  /** Delete up to `limit` rate-window rows whose window has ended; returns how many went. */
  pruneWindows(now = Date.now(), limit = PRUNE_BATCH): number {
    return this.#sql.pruneWindows.run(now - WINDOW_MS, limit).changes;
  }

  /**
   * Add LLM token usage reported by a response to the user's day (and so to the tenant's); nothing
   * when the owner was erased after `mark` was taken. Returns whether it was recorded.
   */
  recordTokens(ownerKey: string, tenantKey: string, tokens: { input: number; output: number }, now = Date.now(), mark?: ErasureMark): boolean {
    return writeTransaction(this.#db, (): boolean => {
      if (mark !== undefined && erasedSince(this.#db, ownerKey, mark)) return false;
      this.#sql.addTokens.run(ownerKey, tenantKey, utcDay(now), tokens.input, tokens.output);
      return true;
    });
  }

  /** The user's usage on the given day (zeros when none). */
  userDay(ownerKey: string, now = Date.now()): DailyUsage {
    const day = utcDay(now);
    const row = this.#db
      .prepare(
        `SELECT day, questions, input_tokens AS inputTokens, output_tokens AS outputTokens
         FROM usage_daily WHERE owner_key = ? AND day = ?`,
      )
      .get(ownerKey, day) as DailyUsage | undefined;
    return row ?? { day, questions: 0, inputTokens: 0, outputTokens: 0 };
  }

  /** The user's totals over the last `days` days including today. */
  userSince(ownerKey: string, days: number, now = Date.now()): DailyUsage {
    const from = utcDay(now - (days - 1) * 24 * 60 * 60_000);
    const row = this.#db
      .prepare(
        `SELECT COALESCE(SUM(questions), 0) AS questions, COALESCE(SUM(input_tokens), 0) AS inputTokens,
           COALESCE(SUM(output_tokens), 0) AS outputTokens
         FROM usage_daily WHERE owner_key = ? AND day >= ?`,
      )
      .get(ownerKey, from) as Omit<DailyUsage, 'day'>;
    return { day: from, ...row };
  }

  /** A tenant's totals for one day. */
  tenantDay(tenantKey: string, now = Date.now()): TenantUsage {
    const day = utcDay(now);
    const row = this.#db
      .prepare(
        `SELECT COUNT(*) AS users, COALESCE(SUM(questions), 0) AS questions, COALESCE(SUM(input_tokens), 0) AS inputTokens,
           COALESCE(SUM(output_tokens), 0) AS outputTokens
         FROM usage_daily WHERE tenant_key = ? AND day = ?`,
      )
      .get(tenantKey, day) as Omit<TenantUsage, 'day'>;
    return { day, ...row };
  }
}

// Prepared once: every message is admitted, and every AI answer records its tokens.
function prepareUsage(db: Db) {
  return {
    window: db.prepare('SELECT window_start AS start, count FROM rate_windows WHERE owner_key = ?'),
    questionsOn: db.prepare('SELECT questions FROM usage_daily WHERE owner_key = ? AND day = ?').pluck(),
    countQuestion: db.prepare(
      `INSERT INTO usage_daily (owner_key, tenant_key, day, questions) VALUES (?, ?, ?, 1)
       ON CONFLICT (owner_key, day) DO UPDATE SET questions = questions + 1`,
    ),
    openWindow: db.prepare(
      `INSERT INTO rate_windows (owner_key, window_start, count) VALUES (?, ?, 1)
       ON CONFLICT (owner_key) DO UPDATE SET window_start = excluded.window_start, count = 1`,
    ),
    countInWindow: db.prepare('UPDATE rate_windows SET count = count + 1 WHERE owner_key = ?'),
    pruneWindows: db.prepare('DELETE FROM rate_windows WHERE rowid IN (SELECT rowid FROM rate_windows WHERE window_start <= ? LIMIT ?)'),
    addTokens: db.prepare(
      `INSERT INTO usage_daily (owner_key, tenant_key, day, input_tokens, output_tokens) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (owner_key, day) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens,
         output_tokens = output_tokens + excluded.output_tokens`,
    ),
  };
}

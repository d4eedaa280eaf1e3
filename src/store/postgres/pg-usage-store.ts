import { numberedParams } from '../sql-params.ts';
import type { AdmitOptions, DailyUsage, TenantUsage, UsageLimits, UsageStore } from '../usage-store.ts';
import { checkLimits, PRUNE_WINDOWS_BATCH, PRUNE_WINDOWS_EVERY, RATE_WINDOW_MS, sinceDay, USAGE_SQL, utcDay } from '../usage-store.ts';
import type { PgClient, PgPool } from './pg-database.ts';
import { pgTransaction } from './pg-database.ts';
import { erasedSinceOnPg, lockOwner } from './pg-owner.ts';

/** The usage statements in PostgreSQL's placeholders. */
const SQL = Object.fromEntries(Object.entries(USAGE_SQL).map(([name, text]) => [name, numberedParams(text)])) as Record<keyof typeof USAGE_SQL, string>;

/**
 * {@link UsageStore} on PostgreSQL, shared by every replica. An admit holds the user's advisory lock
 * for its transaction (an erase takes the same one), so two replicas admitting one user's messages
 * at once take turns: exactly the limit is admitted, never more.
 */
export class PgUsageStore implements UsageStore {
  readonly #pool: PgPool;
  readonly #limits: UsageLimits;
  #admitsSincePrune = 0;

  constructor(pool: PgPool, limits: UsageLimits) {
    this.#pool = pool;
    this.#limits = limits;
  }

  get limits(): UsageLimits {
    return this.#limits;
  }

  async admit(ownerKey: string, tenantKey: string, options: AdmitOptions, now = Date.now()): Promise<boolean> {
    if (options.admission?.done === true) return true;
    const admitted = await pgTransaction(this.#pool, async (client) => {
      await lockOwner(client, ownerKey);
      if (options.mark !== undefined && (await erasedSinceOnPg(this.#pool, client, ownerKey, options.mark))) return false;
      const day = utcDay(now);
      const window = (await client.query<{ start: number; count: number }>(SQL.window, [ownerKey])).rows[0];
      const used = options.question ? (await client.query<{ questions: number }>(SQL.questionsOn, [ownerKey, day])).rows[0]?.questions : undefined;
      const { fresh } = checkLimits(this.#limits, window, used, options.question, now);
      if (options.question) await client.query(SQL.countQuestion, [ownerKey, tenantKey, day]);
      if (fresh) await client.query(SQL.openWindow, [ownerKey, now]);
      else await client.query(SQL.countInWindow, [ownerKey]);
      if (options.admission !== undefined) await client.query(SQL.markAdmitted, [options.admission.inboxItemId]);
      return true;
    });
    if (++this.#admitsSincePrune >= PRUNE_WINDOWS_EVERY) {
      this.#admitsSincePrune = 0;
      await this.pruneWindows(now);
    }
    return admitted;
  }

  /** Delete up to `limit` rate-window rows whose window has ended; resolves with how many went. */
  async pruneWindows(now = Date.now(), limit = PRUNE_WINDOWS_BATCH): Promise<number> {
    const result = await this.#pool.query(
      'DELETE FROM rate_windows WHERE owner_key IN (SELECT owner_key FROM rate_windows WHERE window_start <= $1 LIMIT $2)',
      [now - RATE_WINDOW_MS, limit],
    );
    return result.rowCount ?? 0;
  }

  recordTokens(ownerKey: string, tenantKey: string, tokens: { input: number; output: number }, now = Date.now(), mark?: number): Promise<boolean> {
    return pgTransaction(this.#pool, async (client: PgClient) => {
      await lockOwner(client, ownerKey);
      if (mark !== undefined && (await erasedSinceOnPg(this.#pool, client, ownerKey, mark))) return false;
      await client.query(SQL.addTokens, [ownerKey, tenantKey, utcDay(now), tokens.input, tokens.output]);
      return true;
    });
  }

  async userDay(ownerKey: string, now = Date.now()): Promise<DailyUsage> {
    const day = utcDay(now);
    const row = (await this.#pool.query<DailyUsage>(SQL.userDay, [ownerKey, day])).rows[0];
    return row ?? { day, questions: 0, inputTokens: 0, outputTokens: 0 };
  }

  async userSince(ownerKey: string, days: number, now = Date.now()): Promise<DailyUsage> {
    const from = sinceDay(days, now);
    const row = (await this.#pool.query<Omit<DailyUsage, 'day'>>(SQL.userSince, [ownerKey, from])).rows[0]!;
    return { day: from, ...row };
  }

  async tenantDay(tenantKey: string, now = Date.now()): Promise<TenantUsage> {
    const day = utcDay(now);
    const row = (await this.#pool.query<Omit<TenantUsage, 'day'>>(SQL.tenantDay, [tenantKey, day])).rows[0]!;
    return { day, ...row };
  }
}

import type { AnswerCacheRows, AnswerRow, KeyedHash } from '../../cache/answer-cache.ts';
import { ANSWER_CACHE_SQL } from '../../cache/answer-cache.ts';
import type { ErasureMark } from '../erasure.ts';
import { numberedParams } from '../sql-params.ts';
import type { PgPool } from './pg-database.ts';
import { pgTransaction } from './pg-database.ts';
import { erasedSinceOnPg, lockOwner } from './pg-owner.ts';
import { pgKeyedHash } from './pg-store-key.ts';

/** The answer-cache statements in PostgreSQL's placeholders. */
const SQL = Object.fromEntries(Object.entries(ANSWER_CACHE_SQL).map(([name, text]) => [name, numberedParams(text)])) as Record<
  keyof typeof ANSWER_CACHE_SQL,
  string
>;

/**
 * Cache writes of every replica take turns on this lock between their insert and their trim, so the
 * count each one reads includes the others' rows and the table never ends a write above `maxRows`.
 * A write is a few short statements once per uncached AI answer: the wait is negligible.
 */
const TRIM_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('answer_cache:trim', 0))";

/**
 * {@link AnswerCacheRows} on PostgreSQL, shared by every replica. A write holds the origin user's
 * advisory lock (as every per-user write does, and the erase), so an erase either commits before it
 * (and the write sees the erasure mark) or waits for it (and deletes the row).
 */
export class PgAnswerCacheRows implements AnswerCacheRows {
  readonly engine = 'postgres';
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async read(key: string): Promise<Omit<AnswerRow, 'key' | 'createdAt'> | undefined> {
    return (await this.#pool.query<Omit<AnswerRow, 'key' | 'createdAt'>>(SQL.read, [key])).rows[0];
  }

  write(row: AnswerRow, maxRows: number, mark?: ErasureMark): Promise<boolean> {
    return pgTransaction(this.#pool, async (client) => {
      await lockOwner(client, row.origin);
      if (mark !== undefined && (await erasedSinceOnPg(this.#pool, client, row.origin, mark))) return false;
      await client.query(TRIM_LOCK);
      await client.query(SQL.put, [row.key, row.payload, row.checksum, row.origin, row.createdAt]);
      const excess = (await client.query<{ count: number }>(SQL.count)).rows[0]!.count - maxRows;
      if (excess > 0) await client.query(SQL.trim, [excess]);
      return true;
    });
  }

  async remove(key: string, checksum: string): Promise<number> {
    return (await this.#pool.query(SQL.remove, [key, checksum])).rowCount ?? 0;
  }

  async count(): Promise<number> {
    return (await this.#pool.query<{ count: number }>(SQL.count)).rows[0]!.count;
  }

  keyedHash(): Promise<KeyedHash> {
    return pgKeyedHash(this.#pool);
  }
}

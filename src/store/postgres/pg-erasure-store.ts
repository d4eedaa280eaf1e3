import { ANSWER_CACHE_SQL } from '../../cache/answer-cache.ts';
import type { ErasureMark, ErasureReport, ErasureStore } from '../erasure.ts';
import { ERASURE_SQL } from '../erasure.ts';
import { numberedParams } from '../sql-params.ts';
import type { PgPool } from './pg-database.ts';
import { pgTransaction } from './pg-database.ts';
import { lockOwner } from './pg-owner.ts';
import { pgKeyedHash } from './pg-store-key.ts';

const ERASE_CACHED_ANSWERS = numberedParams(ANSWER_CACHE_SQL.eraseOwner);
const SQL = Object.fromEntries(Object.entries(ERASURE_SQL).map(([name, text]) => [name, numberedParams(text)])) as Record<keyof typeof ERASURE_SQL, string>;

/**
 * {@link ErasureStore} on PostgreSQL: everything about the user in one transaction holding their
 * advisory lock, which every per-user write takes too, so no replica writes the user's data back
 * between the erase and its mark. Cached answers derived from their questions go in the same
 * transaction; every process drops its in-memory copies (the erasure feed).
 */
export class PgErasureStore implements ErasureStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async mark(ownerKey: string): Promise<ErasureMark> {
    const hash = (await pgKeyedHash(this.#pool))(ownerKey);
    return (await this.#pool.query<{ seq: number }>('SELECT seq FROM erasures WHERE owner_hash = $1', [hash])).rows[0]?.seq ?? 0;
  }

  async erase(ownerKey: string, now = Date.now()): Promise<ErasureReport> {
    const hash = (await pgKeyedHash(this.#pool))(ownerKey);
    return pgTransaction(this.#pool, async (client) => {
      await lockOwner(client, ownerKey);
      const count = async (sql: string, value = ownerKey) => (await client.query(sql, [value])).rowCount ?? 0;
      const feedback = await count(SQL.feedback);
      const conversations = Number((await client.query<{ n: string }>(SQL.conversations, [ownerKey])).rows[0]!.n);
      const messages = await count(SQL.messages);
      const usageDays = await count(SQL.usageDays);
      await count(SQL.rateWindows);
      await client.query(SQL.inbox, [now, hash]);
      const cachedAnswers = await count(ERASE_CACHED_ANSWERS);
      const seq = Number((await client.query<{ value: string }>(SQL.nextSeq)).rows[0]!.value);
      await client.query(SQL.mark, [hash, seq, now]);
      return { conversations, messages, feedback, usageDays, cachedAnswers };
    });
  }
}

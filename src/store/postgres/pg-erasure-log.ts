import type { ErasureLog } from '../erasure-feed.ts';
import { ERASURE_LOG_SQL } from '../erasure-feed.ts';
import { numberedParams } from '../sql-params.ts';
import type { PgPool } from './pg-database.ts';

const SINCE = numberedParams(ERASURE_LOG_SQL.since);

/** {@link ErasureLog} on PostgreSQL: every replica reads the erasures every other made. */
export class PgErasureLog implements ErasureLog {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async latest(): Promise<number> {
    return Number((await this.#pool.query<{ value: string }>(ERASURE_LOG_SQL.latest)).rows[0]?.value ?? 0);
  }

  async since(seq: number, limit: number): Promise<Array<{ seq: number; ownerHash: string }>> {
    return (await this.#pool.query<{ seq: number; ownerHash: string }>(SINCE, [seq, limit])).rows;
  }
}

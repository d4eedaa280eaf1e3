import type { DeleteBatch } from '../retention.ts';
import { deleteBatchSql } from '../retention.ts';
import { numberedParams } from '../sql-params.ts';
import type { PgPool } from './pg-database.ts';

/**
 * {@link DeleteBatch} on PostgreSQL: one statement, so one short transaction, per batch. Rows are
 * addressed by ctid: a row updated since the batch was picked (a conversation that got a new message)
 * has a new ctid and is left alone. Replicas sweeping at once do not delete a row twice: the second
 * finds it gone, deletes fewer than a batch and leaves the rest to the next sweep.
 */
export function pgDeleteBatch(pool: PgPool): DeleteBatch {
  return async (table, condition, bound, limit, byId) =>
    (await pool.query(numberedParams(deleteBatchSql('ctid', table, condition, byId)), [bound, limit])).rowCount ?? 0;
}

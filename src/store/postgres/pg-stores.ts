import type { Logger } from '../../log/logger.ts';
import { sqlState } from './pg-database.ts';
import type { PostgresOptions } from './pg-database.ts';
import { openPostgres } from './pg-database.ts';
import type { SharedStoreOptions, SharedStores } from '../shared-stores.ts';
import { PgErasureLog } from './pg-erasure-log.ts';
import { PgErasureStore } from './pg-erasure-store.ts';
import { PgEventLedger } from './pg-event-ledger.ts';
import { PgHistoryStore } from './pg-history-store.ts';
import { PgInboxStore } from './pg-inbox-store.ts';
import { PgUsageStore } from './pg-usage-store.ts';
import { PgAnswerCacheRows } from './pg-answer-cache-rows.ts';
import { pgDeleteBatch } from './pg-retention.ts';
import { PgReplicaRegistry } from './pg-replica-registry.ts';
import type { PgPool } from './pg-database.ts';

/** The shared stores on PostgreSQL, with the pool they share. */
export interface PostgresStores extends SharedStores {
  pool: PgPool;
}

/**
 * Connect to DATABASE_URL, migrate, and build every shared store on one pool. Rejects with a
 * StoreError that says what to do when the server cannot be used.
 */
export async function openPostgresStores(url: string, options: SharedStoreOptions & { log?: Logger; postgres?: PostgresOptions }): Promise<PostgresStores> {
  const pool = await openPostgres(url, { ...options.postgres, ...(options.log === undefined ? {} : { log: options.log }) });
  let closed = false;
  return {
    engine: 'postgres',
    pool,
    inbox: new PgInboxStore(pool, options.inboxLimits),
    usage: new PgUsageStore(pool, options.limits),
    history: new PgHistoryStore(pool),
    ledger: new PgEventLedger(pool),
    erasure: new PgErasureStore(pool),
    erasureLog: new PgErasureLog(pool),
    answerCacheRows: () => new PgAnswerCacheRows(pool),
    deleteBatch: pgDeleteBatch(pool),
    replicas: new PgReplicaRegistry(pool),
    async writable() {
      try {
        await pool.query("INSERT INTO meta (key, value) VALUES ('ready_probe', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [String(Date.now())]);
        return true;
      } catch (error) {
        // Unreachable, read-only (a standby after failover), out of space: not ready. Anything else is a bug.
        if (sqlState(error) !== undefined || (error instanceof Error && /timeout|terminated|ECONN/i.test(error.message))) return false;
        throw error;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

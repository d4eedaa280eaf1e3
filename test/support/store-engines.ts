import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.ts';
import type { Db } from '../../src/store/database.ts';
import { keyedHash } from '../../src/store/store-key.ts';
import { numberedParams } from '../../src/store/sql-params.ts';
import { openPostgres } from '../../src/store/postgres/pg-database.ts';
import type { PgPool } from '../../src/store/postgres/pg-database.ts';
import { pgKeyedHash } from '../../src/store/postgres/pg-store-key.ts';
import { PgUsageStore } from '../../src/store/postgres/pg-usage-store.ts';
import type { ErasureStore } from '../../src/store/erasure.ts';
import { SqliteErasureStore } from '../../src/store/erasure.ts';
import type { EventLedger } from '../../src/store/event-ledger.ts';
import { SqliteEventLedger } from '../../src/store/event-ledger.ts';
import type { HistoryStore } from '../../src/store/history-store.ts';
import { SqliteHistoryStore } from '../../src/store/history-store.ts';
import { PgErasureStore } from '../../src/store/postgres/pg-erasure-store.ts';
import { PgEventLedger } from '../../src/store/postgres/pg-event-ledger.ts';
import { PgHistoryStore } from '../../src/store/postgres/pg-history-store.ts';
import type { UsageLimits, UsageStore } from '../../src/store/usage-store.ts';
import type { InboxLimits, InboxStore } from '../../src/inbox/inbox-store.ts';
import { SqliteInboxStore } from '../../src/inbox/inbox-store.ts';
import { PgInboxStore } from '../../src/store/postgres/pg-inbox-store.ts';
import { SqliteUsageStore } from '../../src/store/usage-store.ts';
import { createTestDatabase } from './postgres.ts';
import { tempDir } from './temp-bot.ts';

/**
 * One process's view of a shared store, for contract suites that run on both engines: SQLite (one
 * file; each replica its own connection, as each process has) and PostgreSQL (one database on the
 * real server; each replica its own pool).
 */
export interface StoreReplica {
  /** The replica's own handle on the store, for building a store class under test on it. */
  raw: { engine: 'sqlite'; db: Db } | { engine: 'postgres'; pool: PgPool };
  usage(limits: UsageLimits): UsageStore;
  history(): HistoryStore;
  inbox(limits?: Partial<InboxLimits>): InboxStore;
  erasure(): ErasureStore;
  ledger(options?: { leaseMs?: number }): EventLedger;
  /** Run one statement written with `?` placeholders; resolves with the rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The store's keyed hash (erasure marks and inbox owners are stored hashed). */
  hash(value: string): Promise<string>;
}

export interface StoreUnderTest {
  /** A process of its own on the shared store. */
  replica(): Promise<StoreReplica>;
  close(): Promise<void>;
}

export interface StoreEngine {
  name: 'sqlite' | 'postgres';
  open(): Promise<StoreUnderTest>;
}

function sqliteReplica(db: Db): StoreReplica {
  return {
    raw: { engine: 'sqlite', db },
    usage: (limits) => new SqliteUsageStore(db, limits),
    history: () => new SqliteHistoryStore(db),
    inbox: (limits) => new SqliteInboxStore(db, limits),
    erasure: () => new SqliteErasureStore(db),
    ledger: (options) => new SqliteEventLedger(db, options),
    query: <T>(sql: string, params: unknown[] = []) => {
      const statement = db.prepare(sql);
      return Promise.resolve((statement.reader ? statement.all(...params) : (statement.run(...params), [])) as T[]);
    },
    hash: (value) => Promise.resolve(keyedHash(db, value)),
  };
}

function pgReplica(pool: PgPool): StoreReplica {
  return {
    raw: { engine: 'postgres', pool },
    usage: (limits) => new PgUsageStore(pool, limits),
    history: () => new PgHistoryStore(pool),
    inbox: (limits) => new PgInboxStore(pool, limits),
    erasure: () => new PgErasureStore(pool),
    ledger: (options) => new PgEventLedger(pool, options),
    query: async <T>(sql: string, params: unknown[] = []) => (await pool.query(numberedParams(sql), params)).rows as T[],
    hash: async (value) => (await pgKeyedHash(pool))(value),
  };
}

export const STORE_ENGINES: readonly StoreEngine[] = [
  {
    name: 'sqlite',
    open() {
      const dir = tempDir();
      const path = join(dir.path, 'shared.db');
      const open: Db[] = [];
      return Promise.resolve({
        replica() {
          const db = openDatabase(path);
          open.push(db);
          return Promise.resolve(sqliteReplica(db));
        },
        close() {
          for (const db of open) db.close();
          dir.remove();
          return Promise.resolve();
        },
      });
    },
  },
  {
    name: 'postgres',
    async open() {
      const database = await createTestDatabase();
      const pools: PgPool[] = [];
      return {
        async replica() {
          const pool = await openPostgres(database.url, { maxConnections: 8 });
          pools.push(pool);
          return pgReplica(pool);
        },
        async close() {
          await Promise.all(pools.map((pool) => pool.end()));
          await database.drop();
        },
      };
    },
  },
];

/** Run `fn` on a fresh store of `engine`, closed (and on PostgreSQL, dropped) afterwards. */
export async function withStore(engine: StoreEngine, fn: (store: StoreUnderTest) => Promise<void>): Promise<void> {
  const store = await engine.open();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

import type { AnswerCacheRows } from '../cache/answer-cache.ts';
import { SqliteAnswerCacheRows } from '../cache/answer-cache.ts';
import type { InboxLimits, InboxStore } from '../inbox/inbox-store.ts';
import { SqliteInboxStore } from '../inbox/inbox-store.ts';
import type { Db } from './database.ts';
import { isWritable, promised } from './database.ts';
import type { ErasureStep, ErasureStore } from './erasure.ts';
import { SqliteErasureStore } from './erasure.ts';
import type { ErasureLog } from './erasure-feed.ts';
import { SqliteErasureLog } from './erasure-feed.ts';
import type { EventLedger } from './event-ledger.ts';
import { SqliteEventLedger } from './event-ledger.ts';
import type { HistoryStore } from './history-store.ts';
import { SqliteHistoryStore } from './history-store.ts';
import type { ReplicaRegistry } from './replica-registry.ts';
import { SqliteReplicaRegistry } from './replica-registry.ts';
import type { DeleteBatch } from './retention.ts';
import { sqliteDeleteBatch } from './retention.ts';
import type { UsageLimits, UsageStore } from './usage-store.ts';
import { SqliteUsageStore } from './usage-store.ts';

/**
 * Everything the bot keeps about users and their messages, on one engine: SQLite (one file, the
 * processes of one machine) or PostgreSQL (DATABASE_URL, every replica). The handbook index is not
 * here: each process keeps its own, derived from the files.
 */
export interface SharedStores {
  engine: 'sqlite' | 'postgres';
  inbox: InboxStore;
  usage: UsageStore;
  history: HistoryStore;
  ledger: EventLedger;
  erasure: ErasureStore;
  erasureLog: ErasureLog;
  /** The answer cache's shared tier (rows every process reads). */
  answerCacheRows(): AnswerCacheRows;
  /** One batch of a retention sweep's deletes. */
  deleteBatch: DeleteBatch;
  /** The processes sharing the store and their handbook versions. */
  replicas: ReplicaRegistry;
  /** Whether the store takes a write now (`/readyz`). */
  writable(): Promise<boolean>;
  /** Let the store go (the SQLite file is closed by its owner, the core). */
  close(): Promise<void>;
}

/** What the stores are opened with, from the configuration. */
export interface SharedStoreOptions {
  limits: UsageLimits;
  inboxLimits?: Partial<InboxLimits>;
  /** SQLite only: extra per-user tables an erase clears in its transaction (the answer cache). */
  erasureSteps?: readonly ErasureStep[];
}

/** The shared stores on the SQLite file `db` (the embedded default). */
export function sqliteStores(db: Db, options: SharedStoreOptions): SharedStores {
  return {
    engine: 'sqlite',
    inbox: new SqliteInboxStore(db, options.inboxLimits),
    usage: new SqliteUsageStore(db, options.limits),
    history: new SqliteHistoryStore(db),
    ledger: new SqliteEventLedger(db),
    erasure: new SqliteErasureStore(db, options.erasureSteps ?? []),
    erasureLog: new SqliteErasureLog(db),
    answerCacheRows: () => new SqliteAnswerCacheRows(db),
    deleteBatch: sqliteDeleteBatch(db),
    replicas: new SqliteReplicaRegistry(db),
    writable: () => promised(() => isWritable(db)),
    close: () => Promise.resolve(),
  };
}

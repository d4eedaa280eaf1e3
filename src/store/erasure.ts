import type { Db } from './database.ts';
import { groupWrite, promised, writeTransaction } from './database.ts';
import { keyedHash } from './store-key.ts';
import { INBOX_DONE_SET } from '../inbox/inbox-store.ts';

/** What an erase removed, for the confirmation the user sees. */
export interface ErasureReport {
  conversations: number;
  messages: number;
  feedback: number;
  usageDays: number;
  cachedAnswers: number;
}

/**
 * Extra per-user tables registered by later parts (the answer cache), erased in the same
 * transaction. Each entry deletes the owner's rows and returns how many it deleted.
 */
export type ErasureStep = (db: Db, ownerKey: string) => number;

/**
 * An owner's erasure mark as seen when a turn began: 0 when never erased (or erased so long ago that
 * the mark was pruned), else the sequence number of their latest erase. Writes of the turn's data pass
 * {@link erasedSince} inside their own transaction, so an answer in flight never writes back what an
 * erase in between removed.
 */
export type ErasureMark = number;

/**
 * How long a mark is kept: longer than any turn can run (LLM timeouts and queues are bounded in
 * minutes), so every turn that began before an erase still finds its mark.
 */
export const ERASURE_MARK_TTL_MS = 24 * 60 * 60_000;

const statements = new WeakMap<Db, { read: ReturnType<Db['prepare']> }>();

function readMark(db: Db, ownerKey: string): number | undefined {
  let cached = statements.get(db);
  if (cached === undefined) {
    cached = { read: db.prepare('SELECT seq FROM erasures WHERE owner_hash = ?').pluck() };
    statements.set(db, cached);
  }
  return cached.read.get(keyedHash(db, ownerKey)) as number | undefined;
}

/** The owner's erasure mark now; take it when a turn begins. */
export function erasureMark(db: Db, ownerKey: string): ErasureMark {
  return readMark(db, ownerKey) ?? 0;
}

/**
 * Whether the owner was erased after `mark` was taken. Call it inside the write transaction that
 * would store the owner's data, so the answer cannot change before the commit.
 */
export function erasedSince(db: Db, ownerKey: string, mark: ErasureMark): boolean {
  const current = readMark(db, ownerKey);
  // Sequence numbers only grow, so a pruned mark (undefined) means no erase since the turn began.
  return current !== undefined && current !== mark;
}

/**
 * Erasing one user, on either store: the mark a turn takes when it begins, and the erase itself,
 * everything in one transaction that leaves a newer mark.
 */
export interface ErasureStore {
  /** The owner's erasure mark now; take it when a turn begins. */
  mark(ownerKey: string): Promise<ErasureMark>;
  /** Delete everything stored about the owner (see {@link eraseOwner}); resolves with what went. */
  erase(ownerKey: string, now?: number): Promise<ErasureReport>;
}

/** {@link ErasureStore} on SQLite, with the extra steps later parts register (the answer cache's). */
export class SqliteErasureStore implements ErasureStore {
  readonly #db: Db;
  readonly #steps: readonly ErasureStep[];

  constructor(db: Db, steps: readonly ErasureStep[] = []) {
    this.#db = db;
    this.#steps = steps;
  }

  mark(ownerKey: string): Promise<ErasureMark> {
    return promised(() => erasureMark(this.#db, ownerKey));
  }

  erase(ownerKey: string, now = Date.now()): Promise<ErasureReport> {
    return groupWrite(this.#db, () => eraseOwner(this.#db, ownerKey, this.#steps, now));
  }
}

/** Statements of the erase that read the same on both stores (`?` placeholders). */
export const ERASURE_SQL = {
  feedback: 'DELETE FROM feedback WHERE owner_key = ?',
  // Read before the messages go: a conversation is its owner's messages under one key.
  conversations: 'SELECT COUNT(DISTINCT conversation_key) AS n FROM messages WHERE owner_key = ?',
  messages: 'DELETE FROM messages WHERE owner_key = ?',
  usageDays: 'DELETE FROM usage_daily WHERE owner_key = ?',
  rateWindows: 'DELETE FROM rate_windows WHERE owner_key = ?',
  // Messages still waiting in the inbox (owners are hashed, and kept on open rows only) become done
  // rows, the bare key of the event: their text goes, and a redelivery of one is not answered after
  // the erase. Not deleted: an attempt still at work on one (the erase's own command, say) finishes
  // by its id, which SQLite would hand to the next message had the row with the highest id gone.
  inbox: `UPDATE inbox SET ${INBOX_DONE_SET} WHERE owner_hash = ? AND finished_at IS NULL`,
  nextSeq: `INSERT INTO meta (key, value) VALUES ('erasure_seq', '1')
    ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT) RETURNING value`,
  mark: `INSERT INTO erasures (owner_hash, seq, erased_at) VALUES (?, ?, ?)
    ON CONFLICT (owner_hash) DO UPDATE SET seq = excluded.seq, erased_at = excluded.erased_at`,
} as const;

/**
 * Delete everything stored about one user in a single transaction: either all of it goes or
 * none does; the same transaction leaves an erasure mark, so writes of turns that began before it
 * are dropped. secure_delete zeroes the freed pages; emptying the write-ahead log is the caller's
 * next step (see JournalPurge), because it may have to wait for readers.
 */
export function eraseOwner(db: Db, ownerKey: string, cacheSteps: readonly ErasureStep[] = [], now = Date.now()): ErasureReport {
  return writeTransaction(db, (): ErasureReport => {
    const count = (sql: string) => db.prepare(sql).run(ownerKey).changes;
    const feedback = count(ERASURE_SQL.feedback);
    const conversations = Number(db.prepare(ERASURE_SQL.conversations).pluck().get(ownerKey));
    const messages = count(ERASURE_SQL.messages);
    const usageDays = count(ERASURE_SQL.usageDays);
    count(ERASURE_SQL.rateWindows);
    const ownerHash = keyedHash(db, ownerKey);
    db.prepare(ERASURE_SQL.inbox).run(now, ownerHash);
    let cachedAnswers = 0;
    for (const step of cacheSteps) cachedAnswers += step(db, ownerKey);
    const seq = Number(db.prepare(ERASURE_SQL.nextSeq).pluck().get());
    db.prepare(ERASURE_SQL.mark).run(ownerHash, seq, now);
    return { conversations, messages, feedback, usageDays, cachedAnswers };
  });
}

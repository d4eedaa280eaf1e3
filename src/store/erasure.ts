import type { Db } from './database.ts';
import { checkpoint, writeTransaction } from './database.ts';

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
 * Delete everything stored about one user in a single transaction: either all of it goes or
 * none does. secure_delete zeroes the freed pages and the checkpoint empties the WAL, so the
 * erased text leaves no copy in the database files.
 */
export function eraseOwner(db: Db, ownerKey: string, cacheSteps: readonly ErasureStep[] = []): ErasureReport {
  const report = writeTransaction(db, (): ErasureReport => {
    const count = (sql: string) => db.prepare(sql).run(ownerKey).changes;
    const feedback = count('DELETE FROM feedback WHERE owner_key = ?');
    const messages = count('DELETE FROM messages WHERE owner_key = ?');
    const conversations = count('DELETE FROM conversations WHERE owner_key = ?');
    const usageDays = count('DELETE FROM usage_daily WHERE owner_key = ?');
    count('DELETE FROM rate_windows WHERE owner_key = ?');
    let cachedAnswers = 0;
    for (const step of cacheSteps) cachedAnswers += step(db, ownerKey);
    return { conversations, messages, feedback, usageDays, cachedAnswers };
  });
  checkpoint(db);
  return report;
}

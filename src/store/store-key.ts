import { createHmac, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { StoreError } from '../errors.ts';

/** The `meta` row holding the key for {@link keyedHash}; generated once by a migration, never logged. */
export const STORE_KEY_META = 'store_hmac_key';

const keys = new WeakMap<Database.Database, Buffer>();

/** Create the store's hashing key if there is none yet (idempotent, so several processes agree on one). */
export function ensureStoreKey(db: Database.Database): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(STORE_KEY_META, randomBytes(32).toString('base64'));
}

/**
 * A keyed hash (HMAC-SHA256) of an identifier, for rows that must find an identifier again
 * (event dedupe, erasure marks) without keeping it readable in the file.
 */
export function keyedHash(db: Database.Database, value: string): string {
  let key = keys.get(db);
  if (key === undefined) {
    const stored = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(STORE_KEY_META) as string | undefined;
    if (stored === undefined) throw new StoreError('store_key_missing', 'The store key is missing: the database was not migrated');
    key = Buffer.from(stored, 'base64');
    keys.set(db, key);
  }
  return hmacOf(key, value);
}

/** The keyed hash itself, the same on either store (PostgreSQL keeps its key in the same `meta` row). */
export function hmacOf(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

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

/** Base-36 digits of a {@link sortableTime} (milliseconds; eight digits last until 2059). */
const SORTABLE_TIME_DIGITS = 8;

/**
 * A time (ms) as a fixed-width prefix, so that keys starting with it sort by it. An index on keys
 * that are random (a keyed hash) takes every new one on a random page, and a page written is a
 * page written whatever little of it changed; keys that sort by time go to its end, one page for
 * many. The hash after the prefix keeps the key as unguessable as before.
 */
export function sortableTime(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString(36).padStart(SORTABLE_TIME_DIGITS, '0').slice(-SORTABLE_TIME_DIGITS);
}

import { StoreError } from '../../errors.ts';
import { hmacOf, STORE_KEY_META } from '../store-key.ts';
import type { PgPool } from './pg-database.ts';

/** A keyed hash of identifiers with the store's key (see store-key.ts): the same value on every replica. */
export type KeyedHash = (value: string) => string;

const hashers = new WeakMap<PgPool, Promise<KeyedHash>>();

/** The store's keyed hash on PostgreSQL; its key is read once per pool (a migration created it). */
export function pgKeyedHash(pool: PgPool): Promise<KeyedHash> {
  let hasher = hashers.get(pool);
  if (hasher === undefined) {
    hasher = pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [STORE_KEY_META]).then(({ rows }) => {
      const stored = rows[0]?.value;
      if (stored === undefined) throw new StoreError('store_key_missing', 'The store key is missing: the database was not migrated');
      const key = Buffer.from(stored, 'base64');
      return (value: string) => hmacOf(key, value);
    });
    // A failed read is not kept: the next call reads again.
    hasher.catch(() => hashers.delete(pool));
    hashers.set(pool, hasher);
  }
  return hasher;
}

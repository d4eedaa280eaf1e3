import type { ErasureMark } from '../erasure.ts';
import type { PgClient, PgPool } from './pg-database.ts';
import { pgKeyedHash } from './pg-store-key.ts';

/**
 * Hold the user's transaction-scoped advisory lock: every transaction that counts, writes or erases
 * one user's data takes it first, so on PostgreSQL they take turns per user (as SQLite's single writer
 * makes everything take turns), across replicas, while different users' transactions run side by side.
 */
export async function lockOwner(client: PgClient, ownerKey: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended('owner:' || $1, 0))", [ownerKey]);
}

/** Whether the owner was erased after `mark` was taken (see erasure.ts); call it holding {@link lockOwner}. */
export async function erasedSinceOnPg(pool: PgPool, client: PgClient, ownerKey: string, mark: ErasureMark): Promise<boolean> {
  const hash = (await pgKeyedHash(pool))(ownerKey);
  const current = (await client.query<{ seq: number }>('SELECT seq FROM erasures WHERE owner_hash = $1', [hash])).rows[0]?.seq;
  // Sequence numbers only grow, so a pruned mark (none) means no erase since the turn began.
  return current !== undefined && current !== mark;
}

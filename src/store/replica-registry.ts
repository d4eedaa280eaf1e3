import type { Db } from './database.ts';
import { promised } from './database.ts';

/** One serving process as the registry last saw it. */
export interface ReplicaBeat {
  processId: string;
  handbookVersion: string;
  /** When this process began answering from that version (ms). */
  versionSince: number;
}

/** The serving processes of one store and the handbook version each answers from, on either engine. */
export interface ReplicaRegistry {
  /** Record that `beat.processId` is alive now, answering from its version. */
  beat(beat: ReplicaBeat, now: number): Promise<void>;
  /** The processes seen since `since` (ms), this one included. */
  live(since: number): Promise<ReplicaBeat[]>;
  /** Forget a process (it stops); also drops rows not seen since `staleBefore`. */
  leave(processId: string, staleBefore: number): Promise<void>;
}

/** One text for both stores (`?` placeholders, numbered for PostgreSQL). */
export const REPLICA_SQL = {
  beat: `INSERT INTO replicas (process_id, handbook_version, version_since, seen_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (process_id) DO UPDATE SET handbook_version = excluded.handbook_version, version_since = excluded.version_since, seen_at = excluded.seen_at`,
  live: 'SELECT process_id AS "processId", handbook_version AS "handbookVersion", version_since AS "versionSince" FROM replicas WHERE seen_at >= ? ORDER BY process_id',
  leave: 'DELETE FROM replicas WHERE process_id = ? OR seen_at < ?',
} as const;

/** {@link ReplicaRegistry} on SQLite (the processes of one machine, WORKERS). */
export class SqliteReplicaRegistry implements ReplicaRegistry {
  readonly #sql;

  constructor(db: Db) {
    this.#sql = { beat: db.prepare(REPLICA_SQL.beat), live: db.prepare(REPLICA_SQL.live), leave: db.prepare(REPLICA_SQL.leave) };
  }

  beat(beat: ReplicaBeat, now: number): Promise<void> {
    return promised(() => {
      this.#sql.beat.run(beat.processId, beat.handbookVersion, beat.versionSince, now);
    });
  }

  live(since: number): Promise<ReplicaBeat[]> {
    return promised(() => this.#sql.live.all(since) as ReplicaBeat[]);
  }

  leave(processId: string, staleBefore: number): Promise<void> {
    return promised(() => {
      this.#sql.leave.run(processId, staleBefore);
    });
  }
}

/**
 * The version every live process should answer from: the one most of them hold; on a tie, the one
 * most recently taken up (a rolling handbook update moves traffic to the updated processes, and the
 * others follow at their next refresh). One process with odd files never takes the others out.
 */
export function preferredVersion(replicas: readonly ReplicaBeat[]): string | undefined {
  const byVersion = new Map<string, { count: number; since: number }>();
  for (const replica of replicas) {
    const entry = byVersion.get(replica.handbookVersion) ?? { count: 0, since: 0 };
    entry.count += 1;
    entry.since = Math.max(entry.since, replica.versionSince);
    byVersion.set(replica.handbookVersion, entry);
  }
  let best: [string, { count: number; since: number }] | undefined;
  for (const entry of byVersion) {
    if (best === undefined || entry[1].count > best[1].count || (entry[1].count === best[1].count && entry[1].since > best[1].since)) best = entry;
  }
  return best?.[0];
}

import type { ReplicaBeat, ReplicaRegistry } from '../replica-registry.ts';
import { REPLICA_SQL } from '../replica-registry.ts';
import { numberedParams } from '../sql-params.ts';
import type { PgPool } from './pg-database.ts';

const SQL = { beat: numberedParams(REPLICA_SQL.beat), live: numberedParams(REPLICA_SQL.live), leave: numberedParams(REPLICA_SQL.leave) };

/** {@link ReplicaRegistry} on PostgreSQL: every replica of the deployment. */
export class PgReplicaRegistry implements ReplicaRegistry {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async beat(beat: ReplicaBeat, now: number): Promise<void> {
    await this.#pool.query(SQL.beat, [beat.processId, beat.handbookVersion, beat.versionSince, now]);
  }

  async live(since: number): Promise<ReplicaBeat[]> {
    return (await this.#pool.query<ReplicaBeat>(SQL.live, [since])).rows;
  }

  async leave(processId: string, staleBefore: number): Promise<void> {
    await this.#pool.query(SQL.leave, [processId, staleBefore]);
  }
}

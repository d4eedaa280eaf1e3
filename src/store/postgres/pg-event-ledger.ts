import type { ClaimResult, EventLedger, EventLedgerOptions } from '../event-ledger.ts';
import { EVENT_RETENTION_MS, LEDGER_DEFAULTS, LEDGER_SQL } from '../event-ledger.ts';
import { numberedParams } from '../sql-params.ts';
import type { PgPool } from './pg-database.ts';
import { pgTransaction } from './pg-database.ts';
import { pgKeyedHash } from './pg-store-key.ts';

const FINISH = numberedParams(LEDGER_SQL.finish);
const RELEASE = numberedParams(LEDGER_SQL.release);

/**
 * {@link EventLedger} on PostgreSQL, shared by the replicas: an event redelivered to another replica
 * finds the first one's claim. A claim inserts the id, or, when it exists, reads it under a row lock,
 * so two replicas claiming one id at once get one 'claimed' between them.
 */
export class PgEventLedger implements EventLedger {
  readonly #pool: PgPool;
  readonly #leaseMs: number;
  readonly #retentionMs: number;
  readonly #maxRows: number;
  #claimsSincePrune = 0;

  constructor(pool: PgPool, options: EventLedgerOptions = {}) {
    this.#pool = pool;
    this.#leaseMs = options.leaseMs ?? LEDGER_DEFAULTS.leaseMs;
    this.#retentionMs = options.retentionMs ?? EVENT_RETENTION_MS;
    this.#maxRows = options.maxRows ?? LEDGER_DEFAULTS.maxRows;
  }

  async claim(eventId: string, now = Date.now()): Promise<ClaimResult> {
    const eventKey = (await pgKeyedHash(this.#pool))(eventId);
    const result = await pgTransaction(this.#pool, async (client): Promise<ClaimResult> => {
      const inserted = await client.query(
        "INSERT INTO processed_events (event_key, state, claimed_at) VALUES ($1, 'processing', $2) ON CONFLICT (event_key) DO NOTHING",
        [eventKey, now],
      );
      if (inserted.rowCount === 1) return 'claimed';
      const row = (await client.query<{ state: 'processing' | 'done'; claimedAt: number }>('SELECT state, claimed_at AS "claimedAt" FROM processed_events WHERE event_key = $1 FOR UPDATE', [eventKey])).rows[0];
      // Pruned between the two statements: as good as new.
      if (row === undefined) return (await client.query("INSERT INTO processed_events (event_key, state, claimed_at) VALUES ($1, 'processing', $2) ON CONFLICT (event_key) DO NOTHING", [eventKey, now])).rowCount === 1 ? 'claimed' : 'in_progress';
      if (row.state === 'done') return 'done';
      if (now - row.claimedAt < this.#leaseMs) return 'in_progress';
      await client.query('UPDATE processed_events SET claimed_at = $1 WHERE event_key = $2', [now, eventKey]);
      return 'claimed';
    });
    if (++this.#claimsSincePrune >= LEDGER_DEFAULTS.pruneEvery) {
      this.#claimsSincePrune = 0;
      await this.prune(now);
    }
    return result;
  }

  async finish(eventId: string, now = Date.now()): Promise<void> {
    await this.#pool.query(FINISH, [now, (await pgKeyedHash(this.#pool))(eventId)]);
  }

  async release(eventId: string): Promise<void> {
    await this.#pool.query(RELEASE, [(await pgKeyedHash(this.#pool))(eventId)]);
  }

  /** Drop ids past their retention, and the oldest beyond the row bound. */
  async prune(now = Date.now()): Promise<void> {
    await this.#pool.query('DELETE FROM processed_events WHERE claimed_at < $1', [now - this.#retentionMs]);
    await this.#pool.query(
      'DELETE FROM processed_events WHERE event_key IN (SELECT event_key FROM processed_events ORDER BY claimed_at DESC OFFSET $1)',
      [this.#maxRows],
    );
  }
}

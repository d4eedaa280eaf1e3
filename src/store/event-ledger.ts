import type { Db } from './database.ts';
import { groupWrite, writeTransaction } from './database.ts';
import { keyedHash } from './store-key.ts';

/** Options for {@link EventLedger}. */
export interface EventLedgerOptions {
  /** A claim older than this is presumed abandoned (crashed process) and may be taken again. Default 5 min. */
  leaseMs?: number;
  /** Finished event ids are kept this long to catch late redeliveries. Default {@link EVENT_RETENTION_MS}. */
  retentionMs?: number;
  /** At most this many ids are kept; the oldest are pruned first. Default 200,000. */
  maxRows?: number;
}

/** How long a handled event's id is kept by default (also the retention sweep's bound for them): 24 h. */
export const EVENT_RETENTION_MS = 24 * 60 * 60_000;

export type ClaimResult = 'claimed' | 'in_progress' | 'done';

/**
 * Event ids already seen, on either store, so a redelivered event is processed at most once: see
 * {@link SqliteEventLedger}.
 */
export interface EventLedger {
  /** Try to take the event for processing. */
  claim(eventId: string, now?: number): Promise<ClaimResult>;
  /** Mark a claimed event as fully handled. */
  finish(eventId: string, now?: number): Promise<void>;
  /** Give a claim back (the work failed before any reply), so a redelivery may try again. */
  release(eventId: string): Promise<void>;
}

/** The default lease of a claim, retention of ids and bound on rows; stated once for both stores. */
export const LEDGER_DEFAULTS = { leaseMs: 5 * 60_000, maxRows: 200_000, pruneEvery: 1000 } as const;

/**
 * Records platform event ids, as keyed hashes (the raw ids name chats and users), so that a redelivered event is processed at most once. A delivery
 * first claims its id; a redelivery that arrives while the first is still working sees
 * `in_progress` and stays quiet; one that arrives after a crash (lease expired) takes it over,
 * so nothing is lost either.
 */
export class SqliteEventLedger implements EventLedger {
  readonly #db: Db;
  readonly #leaseMs: number;
  readonly #retentionMs: number;
  readonly #maxRows: number;
  #claimsSincePrune = 0;

  constructor(db: Db, options: EventLedgerOptions = {}) {
    this.#db = db;
    this.#leaseMs = options.leaseMs ?? LEDGER_DEFAULTS.leaseMs;
    this.#retentionMs = options.retentionMs ?? EVENT_RETENTION_MS;
    this.#maxRows = options.maxRows ?? LEDGER_DEFAULTS.maxRows;
  }

  claim(eventId: string, now = Date.now()): Promise<ClaimResult> {
    return groupWrite(this.#db, () => this.claimNow(eventId, now));
  }

  /** {@link claim}, synchronously (tests and scripts that drive SQLite directly). */
  claimNow(eventId: string, now = Date.now()): ClaimResult {
    const eventKey = keyedHash(this.#db, eventId);
    const result = writeTransaction(this.#db, (): ClaimResult => {
      const row = this.#db
        .prepare('SELECT state, claimed_at AS claimedAt FROM processed_events WHERE event_key = ?')
        .get(eventKey) as { state: 'processing' | 'done'; claimedAt: number } | undefined;
      if (row === undefined) {
        this.#db.prepare("INSERT INTO processed_events (event_key, state, claimed_at) VALUES (?, 'processing', ?)").run(eventKey, now);
        return 'claimed';
      }
      if (row.state === 'done') return 'done';
      if (now - row.claimedAt < this.#leaseMs) return 'in_progress';
      this.#db.prepare('UPDATE processed_events SET claimed_at = ? WHERE event_key = ?').run(now, eventKey);
      return 'claimed';
    });
    if (++this.#claimsSincePrune >= LEDGER_DEFAULTS.pruneEvery) {
      this.#claimsSincePrune = 0;
      this.prune(now);
    }
    return result;
  }

  finish(eventId: string, now = Date.now()): Promise<void> {
    return groupWrite(this.#db, () => {
      this.#db.prepare(LEDGER_SQL.finish).run(now, keyedHash(this.#db, eventId));
    });
  }

  release(eventId: string): Promise<void> {
    return groupWrite(this.#db, () => {
      this.#db.prepare(LEDGER_SQL.release).run(keyedHash(this.#db, eventId));
    });
  }

  /** Drop ids past their retention, and the oldest beyond the row bound. */
  prune(now = Date.now()): void {
    writeTransaction(this.#db, () => {
      this.#db.prepare('DELETE FROM processed_events WHERE claimed_at < ?').run(now - this.#retentionMs);
      this.#db
        .prepare(
          'DELETE FROM processed_events WHERE event_key IN (SELECT event_key FROM processed_events ORDER BY claimed_at DESC LIMIT -1 OFFSET ?)',
        )
        .run(this.#maxRows);
    });
  }
}

/** Statements that read the same on both stores (`?` placeholders). */
export const LEDGER_SQL = {
  finish: "UPDATE processed_events SET state = 'done', finished_at = ? WHERE event_key = ?",
  release: "DELETE FROM processed_events WHERE event_key = ? AND state = 'processing'",
} as const;

import type { Db } from './database.ts';
import { promised } from './database.ts';

/** Options of {@link ErasureFeed}; each default is stated here. */
export interface ErasureFeedOptions {
  /** How often the store is asked for erasures made since the last look, in ms. Default 1,000. */
  pollMs?: number;
  /** Erasures read per look at most; more wait for the next look. Default 500. */
  batch?: number;
}

const DEFAULTS = { pollMs: 1_000, batch: 500 } as const;

/** The erasure marks in the order they were made, on either store. */
export interface ErasureLog {
  /** The newest erasure's sequence number (0 when none yet). */
  latest(): Promise<number>;
  /** Erasures after `seq`, oldest first, at most `limit`: their sequence numbers and owner hashes. */
  since(seq: number, limit: number): Promise<Array<{ seq: number; ownerHash: string }>>;
}

/** SQL both stores read the log with (`?` placeholders). */
export const ERASURE_LOG_SQL = {
  latest: "SELECT value FROM meta WHERE key = 'erasure_seq'",
  since: 'SELECT seq, owner_hash AS "ownerHash" FROM erasures WHERE seq > ? ORDER BY seq LIMIT ?',
} as const;

/** {@link ErasureLog} on SQLite. */
export class SqliteErasureLog implements ErasureLog {
  readonly #latest;
  readonly #since;

  constructor(db: Db) {
    this.#latest = db.prepare(ERASURE_LOG_SQL.latest).pluck();
    this.#since = db.prepare(ERASURE_LOG_SQL.since);
  }

  latest(): Promise<number> {
    return promised(() => Number(this.#latest.get() ?? 0));
  }

  since(seq: number, limit: number): Promise<Array<{ seq: number; ownerHash: string }>> {
    return promised(() => this.#since.all(seq, limit) as Array<{ seq: number; ownerHash: string }>);
  }
}

/**
 * Erasures made by any process on the same store, in the order they were made, for what a process
 * keeps in memory about a user (the answer cache's memory tier): with WORKERS or replicas, `/hr forget`
 * runs on one process, and every other one drops its copies within one poll. Reads the erasure marks
 * (owner hashes only) by sequence number, so a look that finds nothing costs one indexed read.
 */
export class ErasureFeed {
  readonly #options: Required<ErasureFeedOptions>;
  readonly #log: ErasureLog;
  /** The last erasure seen; undefined until the first look, which starts from the newest (this process held nothing before it). */
  #seen: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #looking = false;

  constructor(log: ErasureLog, options: ErasureFeedOptions = {}) {
    this.#options = { ...DEFAULTS, ...options };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${value}`);
    }
    this.#log = log;
  }

  /** Owner hashes erased since the last call (at most `batch`); the first call only notes where the log stands. */
  async next(): Promise<string[]> {
    if (this.#seen === undefined) {
      this.#seen = await this.#log.latest();
      return [];
    }
    const rows = await this.#log.since(this.#seen, this.#options.batch);
    const last = rows.at(-1);
    if (last !== undefined) this.#seen = last.seq;
    return rows.map((row) => row.ownerHash);
  }

  /** Look every `pollMs` and hand `listener` the owner hashes erased since; `onError` is told when a look fails. */
  start(listener: (ownerHashes: ReadonlySet<string>) => void, onError: (error: unknown) => void): void {
    if (this.#timer !== undefined) return;
    const look = async () => {
      const erased = await this.next();
      if (erased.length > 0) listener(new Set(erased));
    };
    // Where the log stands now, so an erase from here on is seen even before the first tick.
    look().catch(onError);
    this.#timer = setInterval(() => {
      if (this.#looking) return;
      this.#looking = true;
      // A store busy past its timeout: the next look reads from the same place.
      look()
        .catch(onError)
        .finally(() => {
          this.#looking = false;
        });
    }, this.#options.pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

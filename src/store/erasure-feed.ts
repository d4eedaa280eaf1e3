import type { Db } from './database.ts';

/** Options of {@link ErasureFeed}; each default is stated here. */
export interface ErasureFeedOptions {
  /** How often the store is asked for erasures made since the last look, in ms. Default 1,000. */
  pollMs?: number;
  /** Erasures read per look at most; more wait for the next look. Default 500. */
  batch?: number;
}

const DEFAULTS = { pollMs: 1_000, batch: 500 } as const;

/**
 * Erasures made by any process on the same store, in the order they were made, for what a process
 * keeps in memory about a user (the answer cache's memory tier): with WORKERS or replicas, `/hr forget`
 * runs on one process, and every other one drops its copies within one poll. Reads the erasure marks
 * (owner hashes only) by sequence number, so a look that finds nothing costs one indexed read.
 */
export class ErasureFeed {
  readonly #options: Required<ErasureFeedOptions>;
  readonly #read;
  #seen: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(db: Db, options: ErasureFeedOptions = {}) {
    this.#options = { ...DEFAULTS, ...options };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${value}`);
    }
    this.#read = db.prepare('SELECT seq, owner_hash AS ownerHash FROM erasures WHERE seq > ? ORDER BY seq LIMIT ?');
    // From now on: what was erased before this process started, it never held.
    this.#seen = Number(db.prepare("SELECT value FROM meta WHERE key = 'erasure_seq'").pluck().get() ?? 0);
  }

  /** Owner hashes erased since the last call (at most `batch`). */
  next(): string[] {
    const rows = this.#read.all(this.#seen, this.#options.batch) as { seq: number; ownerHash: string }[];
    const last = rows.at(-1);
    if (last !== undefined) this.#seen = last.seq;
    return rows.map((row) => row.ownerHash);
  }

  /** Look every `pollMs` and hand `listener` the owner hashes erased since; `onError` is told when a look fails. */
  start(listener: (ownerHashes: ReadonlySet<string>) => void, onError: (error: unknown) => void): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      try {
        const erased = this.next();
        if (erased.length > 0) listener(new Set(erased));
      } catch (error) {
        // A store busy past its timeout: the next look reads from the same place.
        onError(error);
      }
    }, this.#options.pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { StoreError, toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Source } from '../message.ts';
import type { Metrics } from '../metrics.ts';
import type { Db } from '../store/database.ts';
import { groupWrite } from '../store/database.ts';
import type { ErasureMark, ErasureStep } from '../store/erasure.ts';
import { erasedSince } from '../store/erasure.ts';
import { keyedHash } from '../store/store-key.ts';

/** Bounds of both tiers; defaults in `.env.example` (ANSWER_CACHE_MAX_*). */
export interface AnswerCacheOptions {
  /** Entries kept in memory. */
  maxEntries: number;
  /** Bytes (UTF-16 estimate of text + sources) kept in memory. */
  maxBytes: number;
  /** Rows kept in the store (shared by every process); the oldest are evicted past it. */
  maxRows: number;
}

/** A cached answer: only what may be shown to anyone who asks the same question. */
export interface CachedAnswer {
  text: string;
  sources: Source[];
}

/** What makes two questions "the same" for the cache. */
export interface CacheKeyParts {
  question: string;
  handbookVersion: string;
  modelId: string;
  promptVersion: string;
}

const sourceSchema = z.object({
  file: z.string(),
  title: z.string(),
  heading: z.string(),
  headingPath: z.string(),
  anchor: z.string(),
  citation: z.number().int().positive().optional(),
  passage: z.string().max(300).optional(),
});
const payloadSchema = z.object({ text: z.string().min(1), sources: z.array(sourceSchema) });

interface MemoryEntry {
  answer: CachedAnswer;
  origin: string;
}

/** Lower-case, Unicode-normalized, whitespace collapsed, trailing punctuation dropped. */
export function normalizeQuestion(question: string): string {
  return question
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/[\s?!.。？！]+$/u, '')
    .trim();
}

/** The cache key: a hash, so the table never holds the question text itself. */
export function answerCacheKey(parts: CacheKeyParts): string {
  return createHash('sha256')
    .update(JSON.stringify([normalizeQuestion(parts.question), parts.handbookVersion, parts.modelId, parts.promptVersion]))
    .digest('base64url');
}

function checksum(key: string, payload: string): string {
  return createHash('sha256').update(key).update('\n').update(payload).digest('base64url');
}

/** A keyed hash of identifiers with the store's key: erasure marks hold owners hashed so. */
export type KeyedHash = (value: string) => string;

/** One answer-cache row as stored. */
export interface AnswerRow {
  key: string;
  payload: string;
  checksum: string;
  /** The owner key of the user whose question the answer derives from (erased with them). */
  origin: string;
  createdAt: number;
}

/**
 * The answer cache's store tier, on either engine: the `answer_cache` table shared by every process
 * (and replica) on the store.
 */
export interface AnswerCacheRows {
  readonly engine: 'sqlite' | 'postgres';
  /** The row of `key`, if any. */
  read(key: string): Promise<Omit<AnswerRow, 'key' | 'createdAt'> | undefined>;
  /**
   * Store `row` (replacing one with its key) and delete the oldest rows past `maxRows`, in one
   * transaction. Writes nothing and resolves false when the origin user was erased after `mark` was
   * taken, checked inside that transaction so an erase cannot slip in before the commit.
   */
  write(row: AnswerRow, maxRows: number, mark?: ErasureMark): Promise<boolean>;
  /** Delete the row of `key` if it still holds `checksum` (the corrupt row read, not one written since); resolves with how many went. */
  remove(key: string, checksum: string): Promise<number>;
  /** Rows stored. */
  count(): Promise<number>;
  /** The store's keyed hash, as erasure marks hold owners. */
  keyedHash(): Promise<KeyedHash>;
}

/**
 * The answer-cache statements, one text for both engines (`?` placeholders, numbered for PostgreSQL).
 * The count is cast to BIGINT, which the PostgreSQL pool reads back as a number.
 */
export const ANSWER_CACHE_SQL = {
  read: 'SELECT payload, checksum, origin_owner_key AS origin FROM answer_cache WHERE cache_key = ?',
  put: `INSERT INTO answer_cache (cache_key, payload, checksum, origin_owner_key, created_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (cache_key) DO UPDATE SET payload = excluded.payload, checksum = excluded.checksum,
      origin_owner_key = excluded.origin_owner_key, created_at = excluded.created_at`,
  remove: 'DELETE FROM answer_cache WHERE cache_key = ? AND checksum = ?',
  count: 'SELECT CAST(COUNT(*) AS BIGINT) AS count FROM answer_cache',
  // Oldest first; equal ages in key order, so every engine and replica trims the same rows.
  trim: 'DELETE FROM answer_cache WHERE cache_key IN (SELECT cache_key FROM answer_cache ORDER BY created_at ASC, cache_key ASC LIMIT ?)',
  /** The rows derived from one user's questions; PostgreSQL's erase transaction runs it itself. */
  eraseOwner: 'DELETE FROM answer_cache WHERE origin_owner_key = ?',
} as const;

/**
 * {@link AnswerCacheRows} on SQLite, statements prepared once. Reads are done before the promise
 * returns; writes join the turn's group commit (groupWrite) and settle once it is on disk.
 */
export class SqliteAnswerCacheRows implements AnswerCacheRows {
  readonly engine = 'sqlite';
  readonly #db: Db;
  readonly #sql;

  constructor(db: Db) {
    this.#db = db;
    this.#sql = {
      read: db.prepare(ANSWER_CACHE_SQL.read),
      put: db.prepare(ANSWER_CACHE_SQL.put),
      remove: db.prepare(ANSWER_CACHE_SQL.remove),
      count: db.prepare(ANSWER_CACHE_SQL.count).pluck(),
      trim: db.prepare(ANSWER_CACHE_SQL.trim),
      eraseOwner: db.prepare(ANSWER_CACHE_SQL.eraseOwner),
    };
  }

  read(key: string): Promise<Omit<AnswerRow, 'key' | 'createdAt'> | undefined> {
    // A store error becomes the rejection.
    return new Promise((resolve) => resolve(this.#sql.read.get(key) as Omit<AnswerRow, 'key' | 'createdAt'> | undefined));
  }

  write(row: AnswerRow, maxRows: number, mark?: ErasureMark): Promise<boolean> {
    return groupWrite(this.#db, (): boolean => {
      if (mark !== undefined && erasedSince(this.#db, row.origin, mark)) return false;
      this.#sql.put.run(row.key, row.payload, row.checksum, row.origin, row.createdAt);
      const excess = (this.#sql.count.get() as number) - maxRows;
      if (excess > 0) this.#sql.trim.run(excess);
      return true;
    });
  }

  remove(key: string, checksum: string): Promise<number> {
    return groupWrite(this.#db, () => this.#sql.remove.run(key, checksum).changes);
  }

  count(): Promise<number> {
    return new Promise((resolve) => resolve(this.#sql.count.get() as number));
  }

  keyedHash(): Promise<KeyedHash> {
    return Promise.resolve((value: string) => keyedHash(this.#db, value));
  }

  /** Delete the rows derived from one user's questions; synchronous, for SQLite's erase transaction. */
  deleteOwner(ownerKey: string): number {
    return this.#sql.eraseOwner.run(ownerKey).changes;
  }
}

/**
 * The validated answer cache: an LRU in memory (bounded by entries and bytes) over the store's table
 * (bounded by rows, oldest evicted), on SQLite or PostgreSQL. Callers store only answers that passed
 * validation and did not use a user's conversation context. A row that does not parse or fails its
 * checksum is deleted, logged once and treated as a miss.
 */
export class AnswerCache {
  readonly #rows: AnswerCacheRows;
  readonly #options: AnswerCacheOptions;
  readonly #memory: LRUCache<string, MemoryEntry>;
  readonly #log: Logger | undefined;
  readonly #metrics: Metrics | undefined;
  /** Known once anything reached memory (every way in awaits it first); {@link forgetErased} needs it synchronously. */
  #hash: KeyedHash | undefined;
  /** Counts calls that dropped owners from memory: a store read or write that spans one does not fill memory. */
  #forgets = 0;

  /** `store`: the store tier, or a SQLite connection (shorthand for `new SqliteAnswerCacheRows(db)`). */
  constructor(store: AnswerCacheRows | Db, options: AnswerCacheOptions, deps: { log?: Logger; metrics?: Metrics } = {}) {
    for (const name of ['maxEntries', 'maxBytes', 'maxRows'] as const) {
      if (!Number.isInteger(options[name]) || options[name] < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${options[name]}`);
    }
    this.#rows = 'engine' in store ? store : new SqliteAnswerCacheRows(store);
    this.#options = options;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    this.#memory = new LRUCache<string, MemoryEntry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      // An entry larger than the whole budget is simply not kept in memory (lru-cache skips it).
      sizeCalculation: (entry, key) => Math.max(1, 2 * (key.length + entry.origin.length + entry.answer.text.length) + 2 * JSON.stringify(entry.answer.sources).length),
    });
  }

  /** The cached answer for `key`, from memory or the store; undefined on a miss or a corrupt row. */
  async get(key: string): Promise<CachedAnswer | undefined> {
    const hit = this.#memory.get(key);
    if (hit !== undefined) {
      this.#result('hit_memory');
      return hit.answer;
    }
    this.#hash ??= await this.#rows.keyedHash();
    const forgets = this.#forgets;
    const row = await this.#rows.read(key);
    if (row === undefined) {
      this.#result('miss');
      return undefined;
    }
    const answer = await this.#parse(key, row);
    if (answer === undefined) return undefined;
    this.#result('hit_store');
    // An erase forgotten while the row was read may have been of its origin: the row was read before
    // the erase, so it may answer this once, but memory must not keep it.
    if (forgets === this.#forgets) this.#memory.set(key, { answer, origin: row.origin });
    return answer;
  }

  /**
   * Store a validated, shareable answer derived from `originOwnerKey`'s question. Nothing is stored
   * (resolves false) when that user was erased after `mark` was taken: the row derives from their question.
   */
  async set(key: string, answer: CachedAnswer, originOwnerKey: string, now = Date.now(), mark?: ErasureMark): Promise<boolean> {
    const payload = JSON.stringify({ text: answer.text, sources: answer.sources });
    this.#hash ??= await this.#rows.keyedHash();
    const forgets = this.#forgets;
    const stored = await this.#rows.write({ key, payload, checksum: checksum(key, payload), origin: originOwnerKey, createdAt: now }, this.#options.maxRows, mark);
    // An erase that waited for this write (it takes the same per-user turn) and was forgotten before
    // this line would leave the copy behind: memory keeps it only if nothing was forgotten meanwhile.
    if (stored && forgets === this.#forgets) {
      this.#memory.set(key, { answer: { text: answer.text, sources: [...answer.sources] }, origin: originOwnerKey });
    }
    return stored;
  }

  /**
   * For `/hr forget` on SQLite: deletes rows derived from the owner's questions, in the erase
   * transaction, and their memory copies. On PostgreSQL the erase transaction deletes the rows itself
   * and then calls {@link forgetMemoryOf}: this step refuses to run there.
   */
  readonly erasureStep: ErasureStep = (_db, ownerKey) => {
    if (!(this.#rows instanceof SqliteAnswerCacheRows)) {
      throw new StoreError('answer_cache_erasure_step_sqlite_only', "The answer cache's erasure step runs in SQLite's erase transaction only; on PostgreSQL use forgetMemoryOf");
    }
    const deleted = this.#rows.deleteOwner(ownerKey);
    // Dropping memory entries early is harmless even if the transaction rolls back: it is a cache.
    this.forgetMemoryOf(ownerKey);
    return deleted;
  };

  /**
   * Drop the memory copies of answers derived from one owner's questions (their rows are the erase
   * transaction's to delete); returns how many went.
   */
  forgetMemoryOf(ownerKey: string): number {
    this.#forgets += 1;
    let dropped = 0;
    for (const [key, entry] of this.#memory.entries()) {
      if (entry.origin === ownerKey && this.#memory.delete(key)) dropped += 1;
    }
    return dropped;
  }

  /**
   * Drop the memory copies of answers derived from these owners' questions (owner keys hashed as the
   * erasure marks hold them): another process erased them, and deleted their rows with its erase.
   */
  forgetErased(ownerHashes: ReadonlySet<string>): number {
    this.#forgets += 1;
    const hash = this.#hash;
    // Unknown only while nothing has reached memory.
    if (hash === undefined) return 0;
    let dropped = 0;
    const hashes = new Map<string, string>();
    for (const [key, entry] of this.#memory.entries()) {
      let ownerHash = hashes.get(entry.origin);
      if (ownerHash === undefined) {
        ownerHash = hash(entry.origin);
        hashes.set(entry.origin, ownerHash);
      }
      if (ownerHashes.has(ownerHash) && this.#memory.delete(key)) dropped += 1;
    }
    return dropped;
  }

  /** Size of the memory tier, for tests and metrics. */
  get sizes(): { entries: number; bytes: number } {
    return { entries: this.#memory.size, bytes: this.#memory.calculatedSize };
  }

  /** Rows in the store tier. */
  storedRows(): Promise<number> {
    return this.#rows.count();
  }

  /** Drop the in-memory tier (tests use it to exercise the store tier). */
  clearMemory(): void {
    this.#memory.clear();
  }

  async #parse(key: string, row: { payload: string; checksum: string }): Promise<CachedAnswer | undefined> {
    let problem: string | undefined;
    let answer: CachedAnswer | undefined;
    if (row.checksum !== checksum(key, row.payload)) {
      problem = 'checksum mismatch';
    } else {
      try {
        const parsed = payloadSchema.safeParse(JSON.parse(row.payload));
        if (parsed.success) answer = parsed.data;
        else problem = 'payload shape invalid';
      } catch (error) {
        problem = `payload not JSON: ${toError(error).name}`;
      }
    }
    if (answer !== undefined) return answer;
    this.#result('corrupt');
    // Deleted at once, so the same bad row is never read again; logged by the process that deleted it,
    // so once even when replicas read it together.
    if ((await this.#rows.remove(key, row.checksum)) > 0) this.#log?.warn({ cacheKey: key.slice(0, 12), problem }, 'corrupt answer-cache row deleted');
    return undefined;
  }

  #result(result: 'hit_memory' | 'hit_store' | 'miss' | 'corrupt'): void {
    this.#metrics?.increment('hrbot_answer_cache_total', 'Answer-cache lookups by result', { result });
  }
}

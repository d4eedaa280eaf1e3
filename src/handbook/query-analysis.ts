import type { QueryTerm, TermAlternative } from './passage-ranking.ts';
import { analyzeQuery, isStopWord, isTopicless, normalizeWords } from './query-terms.ts';
import { isNumeric, stemOf } from './terms.ts';
import type { Vocabulary } from './vocabulary.ts';

/** General synonyms of a word (e.g. {@link WordNet}). */
export interface Thesaurus {
  synonyms(word: string): readonly string[];
  /** Looser relatives of a word: more general words, derived forms (see {@link WordNet.related}). */
  related?(word: string): readonly string[];
  knows(word: string): boolean;
}

/** A question turned into scored search concepts, with what was corrected and what the handbook never mentions. */
export interface AnalyzedQuestion {
  terms: QueryTerm[];
  /** Misspelt words and the handbook words they were read as. */
  corrections: [typed: string, read: string][];
  /** Content words the handbook never uses (after correction), numbers excepted. */
  unknown: string[];
}

// How much a match counts, by how the concept was said. A synonym counts half as much as a word the
// employee actually typed, so a large synonym group cannot drown out a rarer word they wrote.
const TYPED = { weight: 1, cover: 1 } as const;
const CORRECTED = { weight: 0.9, cover: 0.9 } as const;
const SYNONYM = { weight: 0.5, cover: 0.75 } as const;
// A general English synonym, from the dictionary ("bicycle" → "bike", "UK" → "United Kingdom"): it
// knows nothing of HR, so it counts for less than the bot's own HR synonyms.
const DICTIONARY = { weight: 0.4, cover: 0.3 } as const;
// A more general word or a derived form ("grandmother" → "grandparent", "ill" → "illness"): looser
// still, and looked up only when neither the word nor any synonym of it is in the handbook.
const RELATED = { weight: 0.3, cover: 0.25 } as const;
// A word the handbook never uses weighs this share of the rarest word's idf in the question's total:
// a question about something the handbook never names is probably not covered, but a stray word
// ("dollar" beside "expense claim") must not sink a question the handbook does answer.
const UNKNOWN_SHARE = 0.6;
const HOW_ADVERBS = new Set(['long', 'soon', 'far', 'often', 'quickly', 'early', 'late', 'fast']);

/**
 * The search concepts of a text: misspelt words corrected against the handbook's vocabulary,
 * synonym phrases and stop words handled by {@link analyzeQuery}, every alternative stemmed and
 * kept only if the handbook uses it. `weight` scales the concepts' scores (1 for the question
 * itself); `own` says whether they count towards confidence.
 */
export function analyzeQuestion(
  text: string,
  vocabulary: Vocabulary,
  options: { weight: number; own: boolean; thesaurus?: Thesaurus },
): AnalyzedQuestion {
  const corrections: [string, string][] = [];
  const corrected = new Set<string>();
  // "how long", "how soon", "how far", "how often": the shape of the question, not its topic.
  const words = normalizeWords(text)
    .filter((word, i, all) => !(HOW_ADVERBS.has(word) && all[i - 1] === 'how'))
    .map((word) => {
    if (isStopWord(word)) return word;
    const read = vocabulary.correct(word);
    if (read === undefined) return word;
    // A real English word is not a misspelling, even when the handbook says it otherwise.
    if (options.thesaurus?.knows(word) === true) return word;
    corrections.push([word, read]);
    corrected.add(read);
    return read;
  });

  const terms: QueryTerm[] = [];
  const unknown: string[] = [];
  for (const concept of analyzeQuery(words.join(' '))) {
    const typedWords = concept.typed.split(' ');
    const typedStyle = typedWords.some((word) => corrected.has(word)) ? CORRECTED : TYPED;
    const found: (TermAlternative & { typed: boolean })[] = [];
    // "one" stems to "on": a word whose stem is a stop word would match every "on", so it is taken as one.
    const typedStems = typedWords.map(stemOf);
    if (typedStems.length === 1 && isStopWord(typedStems[0]!)) continue;
    const consider = (phrase: string, style: { weight: number; cover: number }, typed: boolean): void => {
      const words = phrase.split(' ').filter((word) => word !== '');
      const stems = words.map((word) => stemOf(vocabulary.baseForm(word)));
      if (stems.length === 0) return;
      if (stems.length === 1 && isStopWord(stems[0]!)) return;
      // "vacation" and "vacations" are one alternative.
      if (found.some((other) => sameStems(other.stems, stems))) return;
      // No more passages can hold a phrase than hold its least common word.
      const df = Math.min(...stems.map((stem) => vocabulary.df(stem)));
      if (df === 0) return;
      found.push({ stems, idf: vocabulary.idf(df), weight: style.weight, cover: style.cover, typed });
    };
    concept.alternatives.forEach((phrase, index) => consider(phrase, index === 0 ? typedStyle : SYNONYM, index === 0));
    // A word the handbook never uses is looked up in the dictionary. One it does use already finds its
    // passages, and the dictionary's other single words for it would mostly be other senses of it; only
    // its longer names for the same thing are looked for too ("UK" → "United Kingdom").
    let fromDictionary = false;
    let loose = false;
    if (options.thesaurus !== undefined && typedWords.length === 1 && !typedWords.every(isNumeric)) {
      const handbookSaysIt = found.some((alternative) => alternative.typed);
      const before = found.length;
      for (const phrase of options.thesaurus.synonyms(typedWords[0]!)) {
        const words = normalizeWords(phrase);
        // Phrasal verbs ("give up", "fit out") mean something their words alone do not; initials ("u k")
        // nothing. Numerals stay: "five" is the handbook's "5".
        if (words.some(isTopicless)) continue;
        if (handbookSaysIt && words.length < 2) continue;
        consider(words.join(' '), DICTIONARY, false);
      }
      if (found.length === 0 && options.thesaurus.related !== undefined) {
        for (const phrase of options.thesaurus.related(typedWords[0]!)) {
          const words = normalizeWords(phrase);
          if (words.some(isTopicless)) continue;
          consider(words.join(' '), RELATED, false);
        }
        loose = found.length > 0;
      }
      fromDictionary = before === 0 && found.length > 0;
    }
    // A synonym holding a shorter synonym ("paid time off", "time off") adds nothing (every passage
    // holding the longer holds the shorter) and would count the same words twice.
    const alternatives: TermAlternative[] = found
      .filter((alternative) => alternative.typed || !found.some((other) => !other.typed && other.stems.length < alternative.stems.length && containsRun(alternative.stems, other.stems)))
      .map(({ stems, idf, weight, cover }) => ({ stems, idf, weight, cover }));
    const typedIdf = found.find((alternative) => alternative.typed)?.idf;
    const numeric = typedWords.every(isNumeric);
    let idf = 0;
    if (typedIdf !== undefined) idf = typedIdf;
    else if (alternatives.length > 0) idf = Math.max(...alternatives.map((alternative) => alternative.idf));
    const known = alternatives.length > 0;
    let mass = idf;
    if (numeric) mass = 0;
    else if (!known) {
      mass = UNKNOWN_SHARE * vocabulary.idf(0);
      unknown.push(concept.typed);
    } else if (fromDictionary) {
      // The handbook never says the word itself: it weighs as much as an unknown word, so a question
      // found only through a dictionary's synonym needs that synonym's passage to be confident.
      mass = Math.max(idf, UNKNOWN_SHARE * vocabulary.idf(0));
    }
    terms.push({ label: concept.typed, alternatives, idf, mass, known, ...(loose ? { loose } : {}), weight: options.weight, own: options.own });
  }
  return { terms, corrections, unknown };
}

/** Whether `needle` occurs as a run of consecutive stems in `haystack`. */
function containsRun(haystack: readonly string[], needle: readonly string[]): boolean {
  for (let start = 0; start + needle.length <= haystack.length; start += 1) {
    if (needle.every((stem, k) => haystack[start + k] === stem)) return true;
  }
  return false;
}

function sameStems(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((stem, i) => stem === b[i]);
}

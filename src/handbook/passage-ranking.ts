/**
 * Scoring a passage against a question: BM25 over fields (the passage's own heading, the headings
 * above it, the file title, its body), each query concept counted through its best-matching
 * alternative (the words as typed, a spelling correction, or an HR synonym at a lower weight), with a
 * little credit for words found in the passages beside it in the same section. Also the question's
 * coverage: how much of what was asked (by idf) the passage speaks of, which is how confident a hit is.
 */

/** One way of saying a concept, as stems, with how much a match on it counts. */
export interface TermAlternative {
  stems: readonly string[];
  /** Share of the concept's score a match on this alternative earns (typed 1, synonym less). */
  weight: number;
  /** Share of the concept a match on this alternative covers, for confidence. */
  cover: number;
  /** idf of this alternative in the handbook (> 0: only alternatives the handbook uses are kept). */
  idf: number;
}

/** One concept of the question (or of the question it follows). */
export interface QueryTerm {
  /** The words as typed, normalised (for logs and tests). */
  label: string;
  /** Alternatives the handbook uses; empty for a word the handbook never uses. */
  alternatives: readonly TermAlternative[];
  /** How specific the concept is in this handbook (its typed words' idf, else its rarest synonym's): scales its score. */
  idf: number;
  /** What the concept weighs in the question, for coverage: its idf; a fixed share of the largest idf for a word the handbook never uses; 0 for numbers (amounts and counts are details of a question, not its topic). */
  mass: number;
  /** Whether the handbook uses the concept (in any of its alternatives). */
  known: boolean;
  /**
   * Known only through looser relatives (a more general word, a derived form): the concept counts as
   * known only in passages that hold one of them, so a question about something the handbook never
   * names is not made confident by a passage on something else.
   */
  loose?: boolean;
  /** 1 for the question's own concepts; less for concepts carried over from the question it follows. */
  weight: number;
  /** Whether the concept is the question's own (only those pick the rows of a long table to show). */
  own: boolean;
}

/** A passage's stems per field. */
export interface PassageTerms {
  title: readonly string[];
  /** Headings above the passage's own, below the title. */
  path: readonly string[];
  heading: readonly string[];
  body: readonly string[];
}

export interface PassageScore {
  score: number;
  /** 0–1: the share of the question's concepts (by mass, and by weight for carried-over ones) the passage speaks of. */
  coverage: number;
  /** 0–1: the same, over the concepts the handbook uses. */
  knownCoverage: number;
  /** 0–1: the share of the question's mass made of words the handbook never uses. */
  unknownShare: number;
  /** Stems of the question's own concepts found in the passage, most specific first. */
  matched: string[][];
}

// BM25 saturation and body-length normalisation. b is lower than BM25's usual 0.75 because passages
// are already of similar length, and a short passage should not win merely for being short.
const K1 = 1.2;
const B = 0.4;
// A word in the passage's own heading says far more about what the passage is for than one in its
// body; the headings above it and the file's title say which policy it belongs to.
const FIELD_WEIGHTS = { heading: 3, path: 1.5, title: 1.5 } as const;
// Words found only in the passages just before or after, in the same section: context, weakly
// counted. Words found only elsewhere in the same file (whose opening usually says whom the whole
// page is for: "UK employees") count very little, since they lift every passage of the page alike,
// the wrong ones too (0.1: 0.2 and more lost answers on the sample handbook, 0 lost them on the large one).
const NEIGHBOUR_WEIGHT = 0.3;
const FILE_WEIGHT = 0.1;
const CONTEXT_COVER = 0.5;

type Positions = Map<string, number[]>;

// Only the stems a question asks about are ever looked up, so only theirs are kept: a search scores
// a few hundred passages, and a map of every stem of each was most of its cost.
function positionsOf(stems: readonly string[], wanted: ReadonlySet<string> | undefined): Positions {
  const positions: Positions = new Map();
  for (let i = 0; i < stems.length; i += 1) {
    const stem = stems[i]!;
    if (wanted !== undefined && !wanted.has(stem)) continue;
    const list = positions.get(stem);
    if (list === undefined) positions.set(stem, [i]);
    else list.push(i);
  }
  return positions;
}

// A phrase whose words are all in a field, but not together ("paternity and partner leave" for
// "paternity leave"), counts this much of one found as written.
const SCATTERED_PHRASE = 0.6;

/**
 * Occurrences of a phrase: its stems in order, with at most one other word between two of them
 * ("doctor's note"); failing that, a discounted count when all its words are in the field.
 */
function phraseCount(positions: Positions, stems: readonly string[]): number {
  const first = positions.get(stems[0]!);
  if (first === undefined) return 0;
  if (stems.length === 1) return first.length;
  const together = phraseRuns(positions, stems, first);
  if (together > 0) return together;
  return stems.every((stem) => positions.has(stem)) ? SCATTERED_PHRASE : 0;
}

function phraseRuns(positions: Positions, stems: readonly string[], first: readonly number[]): number {
  let count = 0;
  for (const start of first) {
    let at = start;
    let found = true;
    for (let k = 1; k < stems.length && found; k += 1) {
      const next = positions.get(stems[k]!);
      const hit = next?.find((p) => p > at && p <= at + 2);
      if (hit === undefined) found = false;
      else at = hit;
    }
    if (found) count += 1;
  }
  return count;
}

/** Stem positions of a passage's fields, computed once per passage and reused for every concept. */
export interface IndexedPassage {
  heading: Positions;
  path: Positions;
  title: Positions;
  body: Positions;
  bodyLength: number;
}

/** The passage's stem positions; with `wanted`, of those stems only (the ones the question's terms name: see {@link termStems}). */
export function indexPassage(terms: PassageTerms, wanted?: ReadonlySet<string>): IndexedPassage {
  return {
    heading: positionsOf(terms.heading, wanted),
    path: positionsOf(terms.path, wanted),
    title: positionsOf(terms.title, wanted),
    body: positionsOf(terms.body, wanted),
    bodyLength: terms.body.length,
  };
}

/** Every stem `terms` may look up in a passage. */
export function termStems(terms: readonly QueryTerm[]): Set<string> {
  const stems = new Set<string>();
  for (const term of terms) for (const alternative of term.alternatives) for (const stem of alternative.stems) stems.add(stem);
  return stems;
}

/** Whether a passage's own fields hold any alternative of a concept. */
export function holdsTerm(term: QueryTerm, passage: IndexedPassage): boolean {
  return term.alternatives.some(
    (alternative) =>
      phraseCount(passage.body, alternative.stems) > 0 ||
      phraseCount(passage.heading, alternative.stems) > 0 ||
      phraseCount(passage.path, alternative.stems) > 0 ||
      phraseCount(passage.title, alternative.stems) > 0,
  );
}

/**
 * Score one passage; `neighbours` are the passages beside it in the same section, `inFile` the
 * concepts (by index in `terms`) that other passages of its file hold.
 *
 * Per concept, the alternatives' occurrences are added up as if they were one word (as search
 * engines treat synonyms), each scaled by its weight and by how specific it is compared with the
 * concept (a common synonym such as "leave" adds little to a rare word such as "resign"); fields are
 * weighted before BM25's saturation, and only the body is normalised by length (BM25F).
 */
export function scorePassage(
  terms: readonly QueryTerm[],
  passage: IndexedPassage,
  neighbours: readonly IndexedPassage[],
  averageBodyLength: number,
  inFile: ReadonlySet<number> = new Set(),
): PassageScore {
  const norm = 1 - B + (B * passage.bodyLength) / averageBodyLength;
  let score = 0;
  let covered = 0;
  let mass = 0;
  let knownMass = 0;
  const matched: { stems: string[]; idf: number }[] = [];
  terms.forEach((term, index) => {
    // A follow-up's carried-over concepts count for confidence at their (lower) weight: the earlier
    // question set the topic ("can I split it?" after "how long is paternity leave?").
    mass += term.weight * term.mass;
    if (term.known && term.loose !== true) knownMass += term.weight * term.mass;
    if (term.alternatives.length === 0 || term.idf === 0) return;
    let tf = 0;
    let cover = 0;
    let bestStems: readonly string[] | undefined;
    let bestIdf = 0;
    for (const alternative of term.alternatives) {
      const own =
        phraseCount(passage.body, alternative.stems) / norm +
        FIELD_WEIGHTS.heading * Math.min(1, phraseCount(passage.heading, alternative.stems)) +
        FIELD_WEIGHTS.path * Math.min(1, phraseCount(passage.path, alternative.stems)) +
        FIELD_WEIGHTS.title * Math.min(1, phraseCount(passage.title, alternative.stems));
      let beside = 0;
      for (const neighbour of neighbours) beside += phraseCount(neighbour.body, alternative.stems) + Math.min(1, phraseCount(neighbour.heading, alternative.stems));
      const found = own + NEIGHBOUR_WEIGHT * Math.min(2, beside);
      if (found === 0) continue;
      tf += alternative.weight * Math.min(1, alternative.idf / term.idf) * found;
      const reach = own > 0 ? alternative.cover : alternative.cover * CONTEXT_COVER;
      if (reach > cover) cover = reach;
      if (own > 0 && alternative.idf > bestIdf) {
        bestIdf = alternative.idf;
        bestStems = alternative.stems;
      }
    }
    if (tf === 0 && inFile.has(index)) {
      tf = FILE_WEIGHT;
      cover = CONTEXT_COVER * Math.max(...term.alternatives.map((alternative) => alternative.cover));
    }
    if (tf > 0) score += term.weight * term.idf * ((tf * (K1 + 1)) / (tf + K1));
    covered += term.weight * term.mass * cover;
    if (term.loose === true && cover > 0) knownMass += term.weight * term.mass;
    if (term.own && bestStems !== undefined) matched.push({ stems: [...bestStems], idf: bestIdf });
  });
  matched.sort((a, b) => b.idf - a.idf);
  return {
    score,
    coverage: mass === 0 ? 0 : covered / mass,
    knownCoverage: knownMass === 0 ? 0 : covered / knownMass,
    unknownShare: mass === 0 ? 0 : (mass - knownMass) / mass,
    matched: matched.map((m) => m.stems),
  };
}

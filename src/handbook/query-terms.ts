/**
 * Turning an employee's question into search concepts: normalisation, stop words and HR synonyms.
 * Shared by the full-text search and the contact lookup so both understand the same vocabulary.
 */

/** One thing the user asked about, with the phrases that mean the same (the typed phrase first). */
export interface QueryConcept {
  /** The words as typed (normalised). */
  typed: string;
  /** Normalised phrases to look for, including `typed`; any one of them is a match. */
  alternatives: string[];
}

/** At most this many concepts are taken from one query, so a pasted essay stays a cheap search. */
export const MAX_QUERY_TERMS = 64;
// Characters looked at before tokenising; far more than 64 words need.
const MAX_QUERY_CHARS = 2_000;

// Question scaffolding and function words: they say nothing about which policy is meant, and in
// OR-mode search they would let "how do I" match every section that contains "how" or "do".
const STOP_WORDS = new Set(
  `a about above after again against all also am an and any anybody anyone anything are as at be
  because been before being below between both but by can cannot could did do does doing done down
  during each either else etc even ever every few for from further get gets getting got had has have
  having he hello her here hers herself hey hi him himself his how however i if in into is it its
  itself just know let lets like lot lots many may maybe me might mine more most much must my myself need
  needed needs no nor not now of off ok okay on once only or other others our ours ourselves out own
  per please pls really regarding same shall she should so some somebody someone something such
  supposed sure than thank thanks that the their theirs them themselves then there these they thing
  things this those though through thx to too under until up upon very via want wanted wants was
  we were what whatever when whenever where whether which while who whom whose why will with within
  without would yes yet you your yours yourself yourselves
  im ive id youre youve dont doesnt didnt cant couldnt wont wouldnt shouldnt isnt arent wasnt
  werent havent hasnt hadnt whats wheres whos hows thats theres heres lets lemme gonna wanna
  able allowed possible become becomes became happen happens happened kick kicks soon still already
  usually normally currently actually exactly basically generally typically wondering wonder question
  questions stuff anyway quick guys folks`.split(/\s+/),
);

/** Whether a normalised word is question scaffolding or a function word rather than a topic. */
export function isStopWord(word: string): boolean {
  return STOP_WORDS.has(word);
}

/** Whether a normalised word says nothing of the topic: a stop word, or a lone letter (an initial; a lone digit is a number). */
export function isTopicless(word: string): boolean {
  return STOP_WORDS.has(word) || (word.length === 1 && !/\d/.test(word));
}

/** Every stop word (normalised), e.g. so a misspelt one can be recognised. */
export function stopWords(): ReadonlySet<string> {
  return STOP_WORDS;
}

// Countries an employee might name when asking about working abroad. The two home countries and
// the UK are left out because the handbook names them in their own right.
const FOREIGN_PLACES = `spain france germany italy portugal netherlands holland belgium luxembourg
  switzerland austria poland czechia hungary romania bulgaria greece croatia slovenia slovakia
  sweden norway denmark finland iceland estonia latvia lithuania malta cyprus morocco egypt
  israel uae dubai india pakistan china japan korea thailand vietnam indonesia philippines malaysia
  singapore australia zealand canada mexico brazil argentina chile colombia peru costa rica
  nigeria kenya africa`.split(/\s+/);

/**
 * Groups of phrases an employee may use for the same HR idea. Any phrase in a group found in the
 * question adds the whole group to the search, so "days off" also finds "PTO" and "annual leave".
 * Kept to general HR vocabulary (US and Irish usage), not to the wording of particular test questions.
 */
const SYNONYM_GROUPS: readonly (readonly string[])[] = [
  ['vacation', 'vacations', 'pto', 'paid time off', 'time off', 'annual leave', 'holiday days', 'holiday allowance', 'holiday entitlement', 'days off', 'day off', 'personal days', 'leave balance'],
  ['carry over', 'carryover', 'carried over', 'carry forward', 'roll over', 'rollover', 'unused', 'leftover'],
  ['public holiday', 'public holidays', 'bank holiday', 'bank holidays', 'company holiday', 'company holidays'],
  ['sick', 'ill', 'illness', 'unwell', 'sickness', 'sick leave', 'sick day', 'sick days', 'flu'],
  ['doctors note', 'sick note', 'medical certificate', 'medical note', 'fit note', 'medical certification'],
  ['mental health', 'stress', 'stressed', 'burnout', 'burned out', 'anxiety', 'depression', 'counselling', 'counseling', 'therapy', 'therapist'],
  ['maternity', 'paternity', 'parental', 'parental leave', 'maternity leave', 'paternity leave', 'baby', 'pregnant', 'pregnancy', 'newborn', 'birth', 'expecting a baby'],
  ['adoption', 'adopt', 'adopting', 'adoptive', 'foster', 'fostering', 'surrogacy', 'placement'],
  ['miscarriage', 'stillbirth', 'pregnancy loss'],
  ['fertility', 'ivf', 'fertility treatment'],
  ['401k', '401 k', 'retirement', 'pension', 'pensions', 'retirement plan', 'retirement savings'],
  ['health insurance', 'medical insurance', 'health plan', 'medical plan', 'healthcare', 'health care', 'insurance'],
  ['dental', 'dentist', 'braces', 'orthodontics', 'orthodontist', 'teeth'],
  ['vision', 'glasses', 'contact lenses', 'eye exam', 'optician', 'optical', 'eyes'],
  ['wellness', 'wellbeing', 'well being', 'gym', 'fitness'],
  ['enroll', 'enrol', 'enrollment', 'enrolment', 'open enrollment', 'open enrolment', 'sign up', 'signup'],
  ['married', 'marriage', 'wedding', 'divorce', 'life event', 'qualifying life event'],
  ['wife', 'husband', 'spouse', 'partner', 'dependant', 'dependent', 'dependants', 'dependents'],
  ['kid', 'kids', 'child', 'children', 'son', 'daughter', 'toddler'],
  ['salary', 'payroll', 'payslip', 'pay slip', 'paycheck', 'paycheque', 'wages', 'wage', 'compensation'],
  ['reimburse', 'reimbursed', 'reimbursement', 'reimbursable', 'expense', 'expenses', 'expensed', 'expense report', 'expense claim', 'claim', 'claims', 'refund', 'pay back'],
  ['receipt', 'receipts', 'invoice'],
  ['per diem', 'meal allowance', 'daily allowance', 'meals', 'meal', 'food'],
  ['travel', 'travelling', 'traveling', 'trip', 'business trip'],
  ['flight', 'flights', 'fly', 'flying', 'airfare', 'plane'],
  ['hotel', 'hotels', 'accommodation', 'lodging'],
  ['alcohol', 'alcoholic', 'beer', 'wine', 'drinks', 'drink'],
  ['wfh', 'work from home', 'working from home', 'remote', 'remotely', 'remote work', 'home office', 'hybrid'],
  ['abroad', 'overseas', 'another country', 'other country', 'different country', 'foreign country', 'working abroad', ...FOREIGN_PLACES],
  ['desk', 'chair', 'furniture'],
  ['stipend', 'allowance'],
  ['internet', 'broadband', 'wifi', 'wi fi'],
  ['laptop', 'laptops', 'computer', 'equipment', 'hardware', 'macbook', 'monitor', 'screen'],
  ['password', 'account', 'accounts', 'login', 'log in', 'mfa', 'security key'],
  ['part time', 'reduced hours', 'flexible working', 'flexible hours', 'compressed hours', 'fewer hours'],
  ['harassment', 'harassed', 'harass', 'harassing', 'bullying', 'bullied', 'bully', 'discrimination', 'discriminated', 'inappropriate', 'misconduct', 'conduct', 'abuse', 'unwelcome'],
  ['report', 'complaint', 'complain', 'raise a concern', 'concern', 'speak up', 'whistleblowing', 'whistleblower', 'grievance'],
  ['anonymous', 'anonymously', 'confidential', 'confidentially'],
  ['gift', 'gifts', 'gift card', 'voucher', 'hospitality'],
  ['side job', 'second job', 'side business', 'side hustle', 'moonlighting', 'outside employment', 'freelance', 'freelancing'],
  ['new hire', 'new joiner', 'new starter', 'new employee', 'onboarding', 'first day'],
  ['probation', 'probationary', 'probation period', 'trial period'],
  ['boss', 'manager', 'supervisor', 'line manager'],
  ['quit', 'resign', 'resignation', 'leaving', 'notice period'],
  ['fired', 'dismissal', 'dismissed', 'disciplinary'],
  ['contact', 'contacts', 'talk to', 'speak to', 'email', 'reach out', 'get in touch'],
];

/**
 * Lowercase, strip diacritics and punctuation, split into words. A possessive 's is dropped
 * ("doctor's" → "doctor") and other apostrophes join ("don't" → "dont"), so contractions can be
 * listed as stop words.
 */
export function normalizeWords(text: string): string[] {
  return textWords(text.slice(0, MAX_QUERY_CHARS));
}

/** Lowercase, accents and apostrophes dropped ("St Patrick's" → "st patrick"): how any two texts are compared. */
export function foldText(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/['’‘`]s\b/g, '')
    .replace(/['’‘`]/g, '');
}

/** {@link normalizeWords} for text of any length (handbook passages). */
export function textWords(text: string): string[] {
  return foldText(text)
    // "2,000" and "2000" are the same number; a comma between digit groups is not a word break.
    .replace(/(\d)[,.](?=\d{3}(?!\d))/g, '$1')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
    .split(' ')
    .filter((word) => word !== '');
}

/**
 * A deliberately light stemmer (plural and -ing/-ed endings) used only to compare words in memory;
 * the database side uses FTS5's porter tokenizer.
 */
export function lightStem(word: string): string {
  if (word.length > 5 && word.endsWith('ing')) return word.slice(0, -3);
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 4 && word.endsWith('ed')) return word.slice(0, -2);
  if (word.length > 4 && /(?:ss|sh|ch|x|z)es$/.test(word)) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

interface SynonymPhrase { stems: string[]; group: readonly string[] }

// Groups with every phrase normalised the way queries are, so matches compare like with like.
const NORMALISED_GROUPS: readonly (readonly string[])[] = SYNONYM_GROUPS.map((group) => [
  ...new Set(group.map((phrase) => normalizeWords(phrase).join(' '))),
]);

// Longest phrases first, so "paid time off" wins over "time off" at the same position.
const SYNONYM_PHRASES: readonly SynonymPhrase[] = NORMALISED_GROUPS.flatMap((group) =>
  group.map((phrase) => ({ stems: phrase.split(' ').map(lightStem), group })),
).sort((a, b) => b.stems.length - a.stems.length);

// Every word of the synonym groups: the bot's own HR vocabulary, so never taken for a misspelling.
const LEXICON: ReadonlySet<string> = new Set(NORMALISED_GROUPS.flatMap((group) => group.flatMap((phrase) => phrase.split(' '))));

/** Whether a normalised word belongs to the HR vocabulary the synonyms are made of. */
export function isLexiconWord(word: string): boolean {
  return LEXICON.has(word) || LEXICON.has(lightStem(word));
}

/**
 * The concepts in a question, in order: synonym phrases are recognised first (before stop words are
 * dropped, so "time off" survives), then each remaining content word is its own concept.
 * Stop words and single letters are dropped; at most {@link MAX_QUERY_TERMS} concepts are kept.
 */
export function analyzeQuery(text: string): QueryConcept[] {
  const words = normalizeWords(text);
  const stems = words.map(lightStem);
  const concepts: QueryConcept[] = [];
  const seen = new Set<string>();
  const add = (typed: string, group: readonly string[]): void => {
    // Keyed by the typed words: "vacation pto" keeps both, as both were typed, even though they share a group.
    if (seen.has(typed)) return;
    seen.add(typed);
    concepts.push({ typed, alternatives: [typed, ...group.filter((phrase) => phrase !== typed)] });
  };

  let i = 0;
  while (i < words.length && concepts.length < MAX_QUERY_TERMS) {
    const phrase = SYNONYM_PHRASES.find((candidate) => candidate.stems.every((stem, k) => stems[i + k] === stem));
    if (phrase !== undefined) {
      add(words.slice(i, i + phrase.stems.length).join(' '), phrase.group);
      i += phrase.stems.length;
      continue;
    }
    const word = words[i]!;
    i += 1;
    if (isTopicless(word)) continue;
    add(word, []);
  }
  return concepts;
}

/** Whether `phrase` (normalised words) occurs as consecutive words in `haystack`, comparing light stems. */
export function containsPhrase(haystack: readonly string[], phrase: string): boolean {
  const needle = normalizeWords(phrase).map(lightStem);
  if (needle.length === 0) return false;
  const stems = haystack.map(lightStem);
  for (let start = 0; start + needle.length <= stems.length; start += 1) {
    if (needle.every((stem, k) => stems[start + k] === stem)) return true;
  }
  return false;
}

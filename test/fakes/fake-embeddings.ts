/**
 * The fake Bedrock's Titan Text Embeddings V2: the request checks the model documents, and vectors
 * that are deterministic and carry some meaning, so tests can rely on them without a model.
 *
 * A vector is a hashed bag of word stems (each stem adds to one dimension, with a sign from the hash),
 * so texts sharing words are close. On top of that, words of a few {@link CONCEPTS} also add to one
 * shared dimension per concept, weighted above any single word, so "my nan died" lands near a passage
 * on bereavement that shares none of its words: the one thing lexical search cannot do and embeddings
 * are for. Not a quality model: retrieval figures measured with it say nothing about real embeddings.
 */

/** Output sizes the model accepts (Titan Text Embeddings V2). */
const DIMENSIONS = new Set([256, 512, 1024]);
const DEFAULT_DIMENSIONS = 1024;
/** Titan Text Embeddings V2 limit on `inputText`. */
const MAX_INPUT_CHARS = 50_000;
const EMBEDDING_TYPES = new Set(['float', 'binary']);
const KNOWN_KEYS = new Set(['inputText', 'dimensions', 'normalize', 'embeddingTypes']);

/** Word groups that mean one thing, for tests of what embeddings add. */
export const CONCEPTS: readonly (readonly string[])[] = [
  ['bereavement', 'died', 'death', 'passed', 'funeral', 'grief', 'nan', 'grandmother', 'grandfather', 'mourning'],
  ['injury', 'injured', 'hurt', 'twisted', 'ankle', 'accident', 'sprained', 'fell'],
  ['salary', 'pay', 'raise', 'wage', 'compensation', 'earnings'],
];
const CONCEPT_WEIGHT = 3;

const STOP_WORDS = new Set(
  'a an and are as at be but by can do does for from had has have how i if in into is it its me my of on or our so that the their them then there these they this to up was we were what when where which who why will with you your'.split(' '),
);

export type EmbeddingCheck = { ok: true; text: string; dimensions: number; normalize: boolean; types: string[] } | { ok: false; message: string };

/** Validate an InvokeModel body the way Titan Text Embeddings V2 does (messages close to Bedrock's). */
export function checkEmbeddingRequest(body: unknown): EmbeddingCheck {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, message: 'Malformed input request: expected an object, please reformat your input and try again.' };
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!KNOWN_KEYS.has(key)) return { ok: false, message: `Malformed input request: extraneous key [${key}] is not permitted, please reformat your input and try again.` };
  }
  const text = record['inputText'];
  if (typeof text !== 'string') return { ok: false, message: 'Malformed input request: required key [inputText] not found, please reformat your input and try again.' };
  if (text.trim() === '') return { ok: false, message: 'Malformed input request: expected minLength: 1, actual: 0, please reformat your input and try again.' };
  if (text.length > MAX_INPUT_CHARS) return { ok: false, message: `Malformed input request: expected maxLength: ${MAX_INPUT_CHARS}, actual: ${text.length}, please reformat your input and try again.` };
  const dimensions = record['dimensions'] ?? DEFAULT_DIMENSIONS;
  if (typeof dimensions !== 'number' || !DIMENSIONS.has(dimensions)) return { ok: false, message: `Malformed input request: #/dimensions: ${JSON.stringify(dimensions)} is not a valid enum value, please reformat your input and try again.` };
  const normalize = record['normalize'] ?? true;
  if (typeof normalize !== 'boolean') return { ok: false, message: 'Malformed input request: #/normalize: expected type: Boolean, please reformat your input and try again.' };
  const types = record['embeddingTypes'] ?? ['float'];
  if (!Array.isArray(types) || types.length === 0 || !types.every((type) => typeof type === 'string' && EMBEDDING_TYPES.has(type))) {
    return { ok: false, message: 'Malformed input request: #/embeddingTypes: expected a list of "float" and "binary", please reformat your input and try again.' };
  }
  return { ok: true, text, dimensions, normalize, types: types as string[] };
}

/** The response body for a valid request (as Titan Text Embeddings V2 shapes it). */
export function embeddingResponse(request: Extract<EmbeddingCheck, { ok: true }>): unknown {
  const vector = fakeEmbedding(request.text, request.dimensions, request.normalize);
  const byType: Record<string, number[]> = {};
  if (request.types.includes('float')) byType['float'] = vector;
  if (request.types.includes('binary')) byType['binary'] = vector.map((value) => (value > 0 ? 1 : 0));
  return { embedding: vector, inputTextTokenCount: words(request.text).length, embeddingsByType: byType };
}

/** The fake's vector for a text: hashed bag of stems plus concept dimensions. */
export function fakeEmbedding(text: string, dimensions: number, normalize = true): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of words(text)) {
    if (STOP_WORDS.has(word)) continue;
    const stem = roughStem(word);
    const hash = fnv1a(stem);
    vector[hash % dimensions]! += (hash & 0x80000000) === 0 ? 1 : -1;
    CONCEPTS.forEach((group, index) => {
      if (group.includes(word) || group.includes(stem)) vector[fnv1a(`concept:${index}`) % dimensions]! += CONCEPT_WEIGHT;
    });
  }
  if (!normalize) return vector;
  const norm = Math.hypot(...vector);
  return norm === 0 ? vector : vector.map((value) => value / norm);
}

function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Plural and verb endings off, enough for "days"/"day" and "reported"/"report" to meet. */
function roughStem(word: string): string {
  return word.replace(/(?:ies)$/, 'y').replace(/(?:ing|ed|es|s)$/, '') || word;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

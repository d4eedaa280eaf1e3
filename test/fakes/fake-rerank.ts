/**
 * The fake Bedrock's rerank models (Cohere Rerank 3.5 and Amazon Rerank 1.0 on InvokeModel): the
 * request checked as the models document it, and an order by the cosine of the fake embeddings of
 * the query and each document (see fake-embeddings.ts), so its words' concepts count too ("my nan
 * died" puts a passage on bereavement first). Deterministic; not a quality model.
 */
import { fakeEmbedding } from './fake-embeddings.ts';

/** Model ids the fake serves as rerank models. */
export function isRerankModel(modelId: string): boolean {
  return modelId.startsWith('cohere.rerank') || modelId.startsWith('amazon.rerank');
}

const MAX_DOCUMENTS = 1_000;
const KNOWN_KEYS = new Set(['query', 'documents', 'top_n', 'api_version', 'max_tokens_per_doc', 'return_documents']);

export type RerankCheck = { ok: true; query: string; documents: string[]; topN: number } | { ok: false; message: string };

/** Validate an InvokeModel body the way the rerank models do (messages close to Bedrock's). */
export function checkRerankRequest(modelId: string, body: unknown): RerankCheck {
  const malformed = (problem: string): RerankCheck => ({ ok: false, message: `Malformed input request: ${problem}, please reformat your input and try again.` });
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return malformed('expected an object');
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!KNOWN_KEYS.has(key)) return malformed(`extraneous key [${key}] is not permitted`);
  const { query, documents } = record;
  if (typeof query !== 'string' || query.trim() === '') return malformed('#/query: expected a non-empty string');
  if (!Array.isArray(documents) || documents.length === 0 || documents.length > MAX_DOCUMENTS || !documents.every((document) => typeof document === 'string')) {
    return malformed(`#/documents: expected 1 to ${MAX_DOCUMENTS} strings`);
  }
  // Cohere's models on Bedrock refuse a body without its API version (2 or later).
  if (modelId.startsWith('cohere.') && !(typeof record['api_version'] === 'number' && record['api_version'] >= 2)) {
    return malformed(`#/api_version: ${JSON.stringify(record['api_version'] ?? 1)} is not greater or equal to 2`);
  }
  const topN = record['top_n'] ?? documents.length;
  if (typeof topN !== 'number' || !Number.isInteger(topN) || topN < 1) return malformed('#/top_n: expected an integer >= 1');
  return { ok: true, query, documents, topN: Math.min(topN, documents.length) };
}

/** The response body for a valid request: the best `top_n` documents, most relevant first. */
export function rerankResponse(request: Extract<RerankCheck, { ok: true }>): unknown {
  const question = fakeEmbedding(request.query, 256);
  const scored = request.documents.map((document, index) => {
    const vector = fakeEmbedding(document, 256);
    const cosine = vector.reduce((sum, value, i) => sum + value * (question[i] ?? 0), 0);
    // Relevance in 0..1, as the models give it.
    return { index, relevance_score: Math.max(0, Math.min(1, (cosine + 1) / 2)) };
  });
  scored.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  return { results: scored.slice(0, request.topN) };
}

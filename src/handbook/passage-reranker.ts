import { toError } from '../errors.ts';
import { OccasionalWarning } from '../log/occasional-warning.ts';
import type { WarningLogger } from '../log/occasional-warning.ts';
import type { SearchHit } from './handbook-index.ts';

/** Orders `documents` by relevance to `query`, most relevant first, keeping at most `topN`: each one's index in `documents`, and its relevance. */
export type RerankFunction = (query: string, documents: readonly string[], topN: number) => Promise<readonly { index: number; score: number }[]>;

/** Bounds of {@link PassageReranker}; defaults stated once, in DEFAULT_PASSAGE_RERANKER. */
export interface PassageRerankerOptions {
  /** Candidate passages the model reads per question (the first ranking's best). Default 20. */
  depth: number;
  /** The longest a question waits for the model's order, in ms; past it the first ranking stands. Default 2,000. */
  budgetMs: number;
}

export const DEFAULT_PASSAGE_RERANKER: PassageRerankerOptions = { depth: 20, budgetMs: 2_000 };

/** At most one "not reranked" warning per this many ms (the count of questions since the last is in it). */
const NOT_RERANKED_WARNING_INTERVAL_MS = 60_000;

/**
 * A second reading of a question's best passages by a rerank model (Bedrock's Cohere Rerank or
 * Amazon Rerank), which reads the question and each passage together, where a search compares them
 * word by word or vector by vector: it puts first the passage that answers, in whatever words.
 * It only reorders what the search found; whether the handbook covers the question stays the
 * search's call. Never fails a question: when the model errs or is late, the search's order stands.
 */
export class PassageReranker {
  readonly #rerank: RerankFunction;
  readonly #options: PassageRerankerOptions;
  readonly #notReranked: OccasionalWarning;

  constructor(rerank: RerankFunction, log?: WarningLogger, options: Partial<PassageRerankerOptions> = {}) {
    this.#rerank = rerank;
    this.#options = { ...DEFAULT_PASSAGE_RERANKER, ...options };
    if (!Number.isInteger(this.#options.depth) || this.#options.depth < 1) throw new RangeError(`Expected reranker \`depth\` to be an integer >= 1, got ${this.#options.depth}`);
    if (!Number.isFinite(this.#options.budgetMs) || this.#options.budgetMs < 0) throw new RangeError(`Expected reranker \`budgetMs\` to be a finite number >= 0, got ${this.#options.budgetMs}`);
    this.#notReranked = new OccasionalWarning(log, 'passages not reranked; the search order stands', NOT_RERANKED_WARNING_INTERVAL_MS, 'questions');
  }

  /** Candidate passages to hand to {@link rerank} per question. */
  get depth(): number {
    return this.#options.depth;
  }

  /**
   * The best `limit` of `hits` (a search's candidates, best first) in the model's order, each scored
   * with the model's relevance; the first `limit` of `hits` as they are when the model fails or is late.
   */
  async rerank(query: string, hits: readonly SearchHit[], limit: number): Promise<SearchHit[]> {
    const candidates = hits.slice(0, this.#options.depth);
    if (candidates.length < 2) return hits.slice(0, limit);
    const pending = this.#rerank(query, candidates.map(documentOf), Math.min(limit, candidates.length));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.#options.budgetMs)));
    try {
      const order = await Promise.race([pending, late]);
      if (order === undefined) {
        // Too late for this question; the call ends by itself (the gateway bounds it).
        pending.catch((error: unknown) => this.#notReranked.warn({ err: toError(error) }));
        this.#notReranked.warn({ reason: 'late' });
        return hits.slice(0, limit);
      }
      const reranked: SearchHit[] = [];
      const taken = new Set<number>();
      for (const { index, score } of order) {
        const hit = candidates[index];
        if (hit === undefined || taken.has(index)) continue;
        taken.add(index);
        reranked.push({ ...hit, score });
      }
      return reranked.length === 0 ? hits.slice(0, limit) : reranked.slice(0, limit);
    } catch (error) {
      this.#notReranked.warn({ err: toError(error) });
      return hits.slice(0, limit);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** What the model reads of a passage: where it stands in the handbook, and its text. */
function documentOf(hit: SearchHit): string {
  return `${hit.headingPath}\n\n${hit.text}`;
}

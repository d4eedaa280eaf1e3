import type { SearchHit } from '../handbook/handbook-index.ts';
import type { ReplyHooks, Source } from '../message.ts';
import type { ErasureMark } from '../store/erasure.ts';
import type { StoredMessage } from '../store/history-store.ts';

/** Everything an answerer may use to answer one question. */
export interface AnswerRequest {
  question: string;
  /** Handbook sections retrieved for the question, best first. */
  sections: readonly SearchHit[];
  /** Earlier turns of this conversation, oldest first (empty for a fresh conversation). */
  history: readonly StoredMessage[];
  ownerKey: string;
  tenantKey: string;
  /** The owner's erasure mark when the turn began; what derives from the request is stored only if they were not erased since. */
  erasureMark?: ErasureMark;
  hooks?: ReplyHooks;
}

/** An answer, with what produced it. */
export interface AnswerResult {
  kind: 'answer' | 'excerpts';
  text: string;
  sources: Source[];
  /** LLM tokens spent, when an LLM wrote it. */
  usage?: { input: number; output: number };
  /** The model read the sections and found they do not answer the question (it said so and cited none). */
  notCovered?: boolean;
}

/** Turns a question and handbook sections into an answer (the LLM gateway, or handbook excerpts). */
export interface Answerer {
  answer(request: AnswerRequest): Promise<AnswerResult>;
}

/** The source reference of a handbook section. */
export function sourceOf(hit: SearchHit): Source {
  return { file: hit.file, title: hit.title, heading: hit.heading, headingPath: hit.headingPath, anchor: hit.anchor };
}

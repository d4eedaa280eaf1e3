import type { SearchHit } from '../handbook/handbook-index.ts';
import type { AnswerRequest, AnswerResult, Answerer } from './answerer.ts';
import { sourceOf } from './answerer.ts';

/** The label every excerpt answer starts with, so nobody mistakes it for a written answer. */
export const EXCERPTS_LABEL = '_Handbook excerpts (not an AI answer):_';

/** How much of each section an excerpt shows; the source points to the rest. */
const EXCERPT_CHARS = 700;

/** Cut a section body at a paragraph or sentence boundary near `limit`. */
export function excerpt(text: string, limit = EXCERPT_CHARS): string {
  const trimmed = text.trim();
  if (trimmed.length <= limit) return trimmed;
  const window = trimmed.slice(0, limit);
  const paragraph = window.lastIndexOf('\n\n');
  if (paragraph > limit * 0.5) return `${window.slice(0, paragraph).trimEnd()}\n…`;
  const sentence = Math.max(window.lastIndexOf('. '), window.lastIndexOf('.\n'));
  if (sentence > limit * 0.5) return `${window.slice(0, sentence + 1)} …`;
  return `${window.replace(/\s+\S*$/, '')} …`;
}

/** Render sections as labelled passages. */
export function renderSections(sections: readonly SearchHit[], label: string): string {
  const blocks = sections.map((hit) => `**${hit.headingPath}**\n${excerpt(hit.text)}`);
  return [label, ...blocks].join('\n\n');
}

/** Answers with the best handbook passages, no LLM: used when AI is off and as the LLM's fallback. */
export class HandbookExcerptAnswerer implements Answerer {
  readonly #maxSections: number;

  constructor(maxSections = 2) {
    this.#maxSections = maxSections;
  }

  answer(request: AnswerRequest): Promise<AnswerResult> {
    const sections = request.sections.slice(0, this.#maxSections);
    return Promise.resolve({
      kind: 'excerpts',
      text: renderSections(sections, EXCERPTS_LABEL),
      sources: sections.map(sourceOf),
    });
  }
}

import type { SearchHit } from '../handbook/handbook-index.ts';
import type { AnswerRequest, AnswerResult, Answerer } from './answerer.ts';
import { sourceOf } from './answerer.ts';

/** The label every excerpt answer starts with, so nobody mistakes it for a written answer. */
export const EXCERPTS_LABEL = '_Handbook excerpts (not an AI answer):_';

/**
 * Longest passage text shown whole. Passages are a few hundred words, so this only cuts what a
 * passage cannot split (a long code block); the source points to the rest.
 */
const EXCERPT_CHARS = 2_000;

/** Options for {@link HandbookExcerptAnswerer}; defaults in {@link DEFAULT_EXCERPT_OPTIONS}. */
export interface ExcerptOptions {
  /** Most passages shown. */
  maxPassages: number;
  /** Passages after the first are shown while the reply stays under this many characters. */
  maxChars: number;
  /** A passage after the first is shown only if it scored at least this share of the best one. */
  minRelativeScore: number;
}

export const DEFAULT_EXCERPT_OPTIONS: ExcerptOptions = { maxPassages: 3, maxChars: 3_000, minRelativeScore: 0.5 };

/** Cut text at a paragraph or sentence boundary near `limit`. */
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

/**
 * Render passages under their heading paths, best first. Passages that follow each other in one
 * section are shown together, in the handbook's order, under one heading. A long table shows its
 * header and the matching rows (the hit's `excerpt`).
 */
export function renderSections(sections: readonly SearchHit[], label: string): string {
  const groups: SearchHit[][] = [];
  for (const hit of sections) {
    const group = groups.find((candidate) => candidate.some((other) => adjacent(other, hit)));
    if (group === undefined) groups.push([hit]);
    else group.push(hit);
  }
  const blocks = groups.map((group) => {
    const ordered = [...group].sort((a, b) => (a.part ?? 0) - (b.part ?? 0));
    const first = ordered[0]!;
    const more = (first.parts ?? 1) > 1 ? ` _(part ${ordered.map((hit) => (hit.part ?? 0) + 1).join('–')} of ${first.parts})_` : '';
    return `**${first.headingPath}**${more}\n${ordered.map((hit) => excerpt(hit.excerpt ?? hit.text)).join('\n\n')}`;
  });
  return [label, ...blocks].join('\n\n');
}

function adjacent(a: SearchHit, b: SearchHit): boolean {
  return a.file === b.file && a.anchor === b.anchor && a.part !== undefined && b.part !== undefined && Math.abs(a.part - b.part) === 1;
}

/** The passages worth showing: the best, then the next ones while they score close enough and fit. */
export function passagesToShow(sections: readonly SearchHit[], options: ExcerptOptions = DEFAULT_EXCERPT_OPTIONS): SearchHit[] {
  const [best, ...rest] = sections;
  if (best === undefined) return [];
  const shown = [best];
  let chars = (best.excerpt ?? best.text).length;
  for (const hit of rest) {
    if (shown.length >= options.maxPassages) break;
    const size = (hit.excerpt ?? hit.text).length;
    if (hit.score < best.score * options.minRelativeScore || chars + size > options.maxChars) continue;
    shown.push(hit);
    chars += size;
  }
  return shown;
}

/** Answers with the best handbook passages, no LLM: used when AI is off and as the LLM's fallback. */
export class HandbookExcerptAnswerer implements Answerer {
  readonly #options: ExcerptOptions;

  constructor(options: Partial<ExcerptOptions> = {}) {
    this.#options = { ...DEFAULT_EXCERPT_OPTIONS, ...options };
  }

  answer(request: AnswerRequest): Promise<AnswerResult> {
    const sections = passagesToShow(request.sections, this.#options);
    return Promise.resolve({
      kind: 'excerpts',
      text: renderSections(sections, EXCERPTS_LABEL),
      sources: sections.map(sourceOf),
    });
  }
}

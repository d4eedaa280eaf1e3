import { EXCERPTS_LABEL } from '../answer/handbook-excerpts.ts';
import { citedSections, saysNotCovered } from '../llm/prompt.ts';

/** Shortest answer worth caching, in characters; shorter ones are usually errors or fragments. */
export const MIN_CACHEABLE_CHARS = 20;

/** What validation looks at. */
export interface CandidateAnswer {
  text: string;
  stopReason: string;
  /** Handbook sections the prompt carried. */
  sectionCount: number;
}

export type Verdict = { ok: true } | { ok: false; reason: 'empty' | 'too_short' | 'truncated' | 'ungrounded' | 'fallback' | 'refusal' | 'not_covered' | 'uncited' };

// Phrases of a model declining, or of an error surfacing as text; answers like these must not be served to others.
const REFUSAL = /^(?:i(?:'m| am) (?:sorry|unable|not able)|i can(?:not|'t) (?:help|answer|assist|provide)|as an ai\b|error[:\s]|an error occurred|internal server error)/i;

/**
 * Whether a model answer may be cached (and so shared): non-empty and longer than a floor, finished
 * (end_turn, not truncated), grounded in at least one section, citing at least one of the passages
 * it was given by number ("[2]"), and not a fallback, refusal or error. An answer that cites nothing
 * (or only numbers it was not given) may be the model's own knowledge: it is shown, never shared.
 */
export function validateAnswer(candidate: CandidateAnswer): Verdict {
  const text = candidate.text.trim();
  if (text === '') return { ok: false, reason: 'empty' };
  if (candidate.stopReason !== 'end_turn') return { ok: false, reason: 'truncated' };
  if (candidate.sectionCount < 1) return { ok: false, reason: 'ungrounded' };
  if (text.length < MIN_CACHEABLE_CHARS) return { ok: false, reason: 'too_short' };
  if (text.includes(EXCERPTS_LABEL)) return { ok: false, reason: 'fallback' };
  if (REFUSAL.test(text)) return { ok: false, reason: 'refusal' };
  // "Not covered" is a fine reply but a poor thing to pin: the next question in other words may be covered.
  if (saysNotCovered(text)) return { ok: false, reason: 'not_covered' };
  if (citedSections(text, candidate.sectionCount).length === 0) return { ok: false, reason: 'uncited' };
  return { ok: true };
}

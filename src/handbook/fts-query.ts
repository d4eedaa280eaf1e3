import { lightStem, normalizeWords } from './query-terms.ts';
import type { QueryConcept } from './query-terms.ts';

/**
 * Build an FTS5 MATCH expression from query concepts: every word double-quoted (so user input is
 * only ever a string literal, never FTS5 syntax such as AND/OR/NOT/NEAR/*, column filters or
 * parentheses; the only operators are the NEAR and OR this function writes) and all phrases OR-ed, so sections matching some of the words still rank, and bm25
 * ranks those matching more of them higher. Returns undefined when there is nothing to search for.
 */
export function buildMatchExpression(concepts: readonly QueryConcept[]): string | undefined {
  const phrases: string[][] = [];
  for (const concept of concepts) phrases.push(...concept.alternatives.map(normalizeWords).filter((words) => words.length > 0));
  const kept = withoutRedundantPhrases(phrases);
  return kept.length === 0 ? undefined : kept.map(toFtsPhrase).join(' OR ');
}

/**
 * One word is a quoted term. Several words become a NEAR group allowing one extra token, because
 * FTS5 splits "doctor's note" into doctor + s + note, which an exact phrase "doctor note" would miss.
 */
function toFtsPhrase(words: string[]): string {
  if (words.length === 1) return quote(words[0]!);
  return `NEAR(${words.map(quote).join(' ')}, ${words.length - 1})`;
}

/**
 * bm25 adds up every phrase that matches, so a synonym group listing "days off" and "day off", or
 * "paid time off" and "time off", would count the same words twice and outweigh the rest of the
 * question. Keep one of each stem-equal phrase, and drop a phrase when a shorter one it contains is
 * also searched (every section matching the longer one matches the shorter one anyway).
 */
function withoutRedundantPhrases(phrases: string[][]): string[][] {
  const byStems = new Map<string, string[]>();
  for (const words of phrases) {
    const key = words.map(lightStem).join(' ');
    if (!byStems.has(key)) byStems.set(key, words);
  }
  const stemmed = [...byStems.keys()].map((key) => key.split(' '));
  return [...byStems.values()].filter((_words, i) => {
    const own = stemmed[i]!;
    return !stemmed.some((other, j) => j !== i && other.length < own.length && containsRun(own, other));
  });
}

function containsRun(haystack: readonly string[], needle: readonly string[]): boolean {
  for (let start = 0; start + needle.length <= haystack.length; start += 1) {
    if (needle.every((word, k) => haystack[start + k] === word)) return true;
  }
  return false;
}

/** An FTS5 string literal: wrapped in double quotes, embedded double quotes doubled. */
function quote(phrase: string): string {
  return `"${phrase.replaceAll('"', '""')}"`;
}

/** The two searches {@link HandbookIndex.search} combines: the words as typed, and the words plus synonyms. */
export interface MatchExpressions {
  typed: string;
  expanded: string;
}

/**
 * Match expressions for the typed words alone and for the words with their synonyms, so that
 * ranking can count an exact word more than a synonym. Undefined when there is nothing to search for.
 */
export function buildMatchExpressions(concepts: readonly QueryConcept[]): MatchExpressions | undefined {
  const typed = buildMatchExpression(concepts.map((concept) => ({ typed: concept.typed, alternatives: [concept.typed] })));
  const expanded = buildMatchExpression(concepts);
  return typed === undefined || expanded === undefined ? undefined : { typed, expanded };
}

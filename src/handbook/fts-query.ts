import type { QueryTerm } from './passage-ranking.ts';

/**
 * An FTS5 MATCH expression finding every passage that holds any alternative of any concept: the
 * recall step, before passages are scored. The index holds stems, so the expression is made of
 * stems; every one is double-quoted, so user input is only ever a string literal, never FTS5 syntax
 * (AND/OR/NOT/NEAR/*, column filters, parentheses); the only operators are the NEAR and OR written
 * here. Undefined when there is nothing to search for.
 */
export function buildMatchExpression(terms: readonly QueryTerm[]): string | undefined {
  const seen = new Set<string>();
  const phrases: string[] = [];
  for (const term of terms) {
    for (const alternative of term.alternatives) {
      const key = alternative.stems.join(' ');
      if (alternative.stems.length === 0 || seen.has(key)) continue;
      seen.add(key);
      phrases.push(toFtsPhrase(alternative.stems));
    }
  }
  return phrases.length === 0 ? undefined : phrases.join(' OR ');
}

/** One stem is a quoted term; several are a NEAR group allowing one other word between each ("doctor's note"). */
function toFtsPhrase(stems: readonly string[]): string {
  if (stems.length === 1) return quote(stems[0]!);
  return `NEAR(${stems.map(quote).join(' ')}, ${stems.length - 1})`;
}

/** An FTS5 string literal: wrapped in double quotes, embedded double quotes doubled. */
function quote(phrase: string): string {
  return `"${phrase.replaceAll('"', '""')}"`;
}

import { stemsOf } from './terms.ts';

/** A table with more rows than this is shown as its header and the rows the question matched. */
export const MAX_TABLE_ROWS_SHOWN = 10;

const TABLE_SEPARATOR = /^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

/**
 * The passage as a reader should see it: unchanged, except that a table longer than
 * {@link MAX_TABLE_ROWS_SHOWN} rows keeps its header and only the rows holding the question's most
 * specific matched words (`matched`: stems per concept, most specific first), followed by a note of
 * how many rows were left out. A table whose rows all match, or none, is shown whole.
 */
export function excerptFor(body: string, matched: readonly (readonly string[])[]): string {
  const lines = body.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (!(line.includes('|') && TABLE_SEPARATOR.test(lines[i + 1]?.trim() ?? ''))) {
      out.push(line);
      continue;
    }
    let end = i + 2;
    while (end < lines.length && lines[end]!.includes('|') && lines[end]!.trim() !== '') end += 1;
    const rows = lines.slice(i + 2, end);
    out.push(line, lines[i + 1]!, ...matchingRows(rows, matched));
    i = end - 1;
  }
  return out.join('\n');
}

function matchingRows(rows: readonly string[], matched: readonly (readonly string[])[]): string[] {
  if (rows.length <= MAX_TABLE_ROWS_SHOWN) return [...rows];
  const rowStems = rows.map((row) => new Set(stemsOf(row)));
  // The most specific concept that tells rows apart decides; a concept every row holds says nothing.
  for (const stems of matched) {
    const keep = rows.filter((_row, k) => stems.every((stem) => rowStems[k]!.has(stem)));
    if (keep.length > 0 && keep.length < rows.length && keep.length <= MAX_TABLE_ROWS_SHOWN) {
      const left = rows.length - keep.length;
      return [...keep, '', `_(${left} more row${left === 1 ? '' : 's'} in the handbook)_`];
    }
  }
  return [...rows];
}

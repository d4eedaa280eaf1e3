/**
 * Markdown heading levels for the headings of a converted document, given their raw levels in
 * document order (smaller is more important: h1 = 1, a PDF's largest font = 1).
 *
 * The section splitter reads `#` as the document's title and `##`/`###` as its sections, so a
 * lone heading above all others becomes `#` and the levels under it `##`, `###`, and so on, with
 * gaps closed (h1 then h3 gives `#` then `##`). When no single heading stands above the rest
 * (several h1, or none), the top level becomes `##`, under the title the file name gives.
 */
export function rankHeadingLevels(raw: readonly number[]): number[] {
  const distinct = [...new Set(raw)].sort((a, b) => a - b);
  const top = distinct[0];
  const loneTitle = top !== undefined && raw.filter((level) => level === top).length === 1;
  const offset = loneTitle ? 1 : 2;
  return raw.map((level) => distinct.indexOf(level) + offset);
}

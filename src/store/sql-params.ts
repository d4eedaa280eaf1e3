/**
 * One statement's text for both stores: written with `?` placeholders (SQLite's), and turned into
 * PostgreSQL's `$1, $2, …` here. A `?` inside a quoted string or identifier is left alone.
 */
export function numberedParams(sql: string): string {
  let index = 0;
  let quote: string | undefined;
  let out = '';
  for (const char of sql) {
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      out += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      out += char;
    } else if (char === '?') {
      index += 1;
      out += `$${index}`;
    } else {
      out += char;
    }
  }
  return out;
}

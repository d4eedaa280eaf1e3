/**
 * Text a user typed, made safe to embed in a markdown reply. Every character markdown (or a
 * platform's own markup) could read as syntax is backslash-escaped, so a renderer shows the text
 * literally: `[everyone](!channel)` stays those characters, never a link, `<!channel>` never a
 * broadcast, `*x*` never emphasis. Runs of whitespace (newlines included) become one space, so the
 * text cannot start a heading or list line, and it is cut to `maxChars` characters.
 */
export function quoteUserText(text: string, maxChars = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  // Cut by code points, so a surrogate pair is never split, and before escaping, so an escape is never cut in half.
  const chars = Array.from(flat);
  const cut = chars.length > maxChars ? `${chars.slice(0, maxChars).join('').trimEnd()}…` : flat;
  return cut.replace(MARKUP, '\\$&');
}

/**
 * The characters escaped by {@link quoteUserText}: markdown emphasis, code, links and images,
 * HTML and autolinks, entities, headings, and Slack's `<…|…>` link syntax. All are ASCII
 * punctuation, which CommonMark lets a backslash make literal; renderers read `\x` the same way.
 */
const MARKUP = /[\\`*_~[\]()<>!|#&]/g;

/** Where a markdown link in a reply may point, and how the renderer should show it. */
export type LinkRendering = 'labelled' | 'url-only' | 'text';

/**
 * How a renderer shows `[label](url)` from a reply. Replies can carry text a user steered (an AI
 * answer can be prompt-injected), so a link keeps a label only when the label is the URL itself or
 * the URL is on a host the operator trusts (`trustedHosts`, e.g. the handbook's own site);
 * otherwise it is shown as `label (url)` so the reader sees where it goes (`url-only`). Anything
 * that is not an http(s) URL (`!channel`, `@U123`, `mailto:`, `javascript:`) is no link at all
 * (`text`).
 */
export function linkRendering(label: string, url: string, trustedHosts: ReadonlySet<string> = NO_TRUSTED_HOSTS): LinkRendering {
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) return 'text';
  if (label.trim() === url) return 'labelled';
  return trustedHosts.has(new URL(url).hostname.toLowerCase()) ? 'labelled' : 'url-only';
}

const NO_TRUSTED_HOSTS: ReadonlySet<string> = new Set();

/** Backslash escapes in reply markdown: `\` before ASCII punctuation means that character, literally. */
export const MARKDOWN_ESCAPE = /\\([!-/:-@[-`{-~])/g;

/** One run of reply markdown: code (shown verbatim) or prose. */
export interface MarkdownPart {
  code: boolean;
  text: string;
}

const CODE_OR_ESCAPE = /\\[!-/:-@[-`{-~]|```[\s\S]*?```|`[^`\n]+`/g;

/** Split reply markdown into code spans/fences and the prose between; an escaped backtick is prose. */
export function splitCode(markdown: string): MarkdownPart[] {
  const parts: MarkdownPart[] = [];
  let prose = '';
  let last = 0;
  for (const match of markdown.matchAll(CODE_OR_ESCAPE)) {
    if (match[0].startsWith('\\')) continue;
    prose += markdown.slice(last, match.index);
    parts.push({ code: false, text: prose }, { code: true, text: match[0] });
    prose = '';
    last = match.index + match[0].length;
  }
  parts.push({ code: false, text: prose + markdown.slice(last) });
  return parts;
}

/**
 * Text that no markdown, HTML or chat markup reading can turn into a link, tag, mention or entity:
 * a zero-width space after each `<`, `]` and `&` breaks `<at>`, `<a href>`, `<!channel>`,
 * `[label](url)`, `[label][ref]` and `&lt;` alike while the reader sees the same characters. For
 * places that cannot be escaped reliably (Teams markdown and cards, streamed text).
 */
export function breakMarkup(text: string): string {
  return text.replace(/[<\]&]/g, '$&\u200B');
}

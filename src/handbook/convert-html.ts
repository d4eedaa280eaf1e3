import { Text, isTag, isText } from 'domhandler';
import type { ChildNode, Element } from 'domhandler';
import { parseDocument } from 'htmlparser2';
import { rankHeadingLevels } from './convert-heading-levels.ts';

/** Options for {@link htmlToMarkdown}. */
export interface HtmlToMarkdownOptions {
  /**
   * Treat a short paragraph that is bold from end to end as a heading one level below the heading
   * before it (`##` when there is none). Word authors often make headings that way instead of with
   * heading styles; web pages rarely do, so only the Word path turns it on. Default false.
   */
  boldParagraphsAsHeadings?: boolean;
}

// Never text a reader sees as part of the page.
const SKIPPED = new Set(['head', 'title', 'script', 'style', 'noscript', 'template', 'svg', 'math', 'iframe', 'object', 'embed', 'canvas', 'select', 'nav', 'button']);
// Elements that end the paragraph before them and start a new one.
const BLOCKS = new Set([
  'p', 'div', 'section', 'article', 'main', 'header', 'footer', 'aside', 'blockquote', 'figure', 'figcaption',
  'address', 'details', 'summary', 'dl', 'dt', 'dd', 'form', 'fieldset', 'legend', 'center', 'body', 'html', 'hr',
]);
const HEADING = /^h([1-6])$/;
// A bold paragraph longer than this is emphasis, not a heading.
const MAX_BOLD_HEADING_CHARS = 80;

/**
 * Convert an HTML page (or the HTML mammoth makes from a Word file) to markdown the section splitter
 * reads: headings become `#` headings (levels ranked by {@link rankHeadingLevels}), tables become
 * GFM tables (the first row as the header), lists become `-`/`1.` items, `<pre>` a fenced block;
 * scripts, styles and navigation are dropped. When no single heading stands above the others, the
 * page's `<title>` becomes the `#` title.
 */
export function htmlToMarkdown(html: string, options: HtmlToMarkdownOptions = {}): string {
  const document = parseDocument(html);
  const writer = new MarkdownWriter(options);
  writer.blocks(document.children);
  const title = collapse(textOf(findFirst(document.children, 'title')));
  return writer.finish(title);
}

/**
 * Decode an HTML file's bytes: a byte-order mark wins, then a `<meta charset>` (or http-equiv
 * content type) near the top, else UTF-8, which is what pages saved today are.
 */
export function decodeHtml(bytes: Uint8Array): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return new TextDecoder('utf-8').decode(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes);
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 2048));
  const label = /<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)/i.exec(head)?.[1];
  if (label !== undefined) {
    try {
      const decoder = new TextDecoder(label);
      const text = decoder.decode(bytes);
      return decoder.encoding === 'windows-1252' ? fixWindows1252(text) : text;
    } catch (error) {
      // An unknown label: read it as UTF-8 like any page without one.
      if (!(error instanceof RangeError)) throw error;
    }
  }
  return new TextDecoder('utf-8').decode(bytes);
}

// Windows-1252's characters at 0x80–0x9F (curly quotes, dashes, €, ™), which Node 20's decoder
// leaves as control characters; undefined positions stay as they are.
const WINDOWS_1252 = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function fixWindows1252(text: string): string {
  return text.replace(/[\u0080-\u009f]/g, (char) => WINDOWS_1252[char.charCodeAt(0) - 0x80] ?? char);
}

/** An `<h1>` with this class is the document's title, above every other h1 (the Word path marks Title-style paragraphs with it). */
export const TITLE_CLASS = 'hrbot-title';

type Piece = { heading: number; text: string } | { heading?: undefined; text: string };

class MarkdownWriter {
  readonly #pieces: Piece[] = [];
  #paragraph = '';
  #lastHeadingLevel = 0;
  readonly #options: HtmlToMarkdownOptions;

  constructor(options: HtmlToMarkdownOptions) {
    this.#options = options;
  }

  /** The markdown: headings ranked, `pageTitle` (if any) used as the title when the headings have none. */
  finish(pageTitle: string): string {
    this.#flush();
    const raw = this.#pieces.flatMap((piece) => (piece.heading === undefined ? [] : [piece.heading]));
    let pieces = this.#pieces;
    let levels = rankHeadingLevels(raw);
    if (pageTitle !== '' && !levels.includes(1)) {
      pieces = [{ heading: -1, text: pageTitle }, ...pieces];
      levels = rankHeadingLevels([-1, ...raw]);
    }
    let next = 0;
    return pieces
      .map((piece) => (piece.heading === undefined ? piece.text : `${'#'.repeat(Math.min(levels[next++] ?? 6, 6))} ${piece.text}`))
      .join('\n\n');
  }

  /** Walk nodes in block context: inline content collects into the current paragraph. */
  blocks(nodes: readonly ChildNode[]): void {
    for (const node of nodes) {
      if (isText(node)) {
        this.#paragraph += node.data;
        continue;
      }
      if (!isTag(node) || SKIPPED.has(node.name)) continue;
      const name = node.name;
      const heading = HEADING.exec(name);
      if (heading !== null) {
        const isTitle = name === 'h1' && (node.attribs['class'] ?? '').split(/\s+/).includes(TITLE_CLASS);
        this.#heading(isTitle ? 0 : Number(heading[1]), inlineText(node.children));
      } else if (name === 'table') {
        this.#flush();
        this.#emit(tableToMarkdown(node));
      } else if (name === 'ul' || name === 'ol') {
        this.#flush();
        this.#emit(listToMarkdown(node, 0));
      } else if (name === 'pre') {
        this.#flush();
        this.#emit(fenced(textOf(node.children)));
      } else if (name === 'br') {
        this.#paragraph += '\n';
      } else if (name === 'p' && this.#options.boldParagraphsAsHeadings === true && isBoldHeading(node)) {
        this.#heading(this.#lastHeadingLevel + 1, inlineText(node.children));
      } else if (BLOCKS.has(name) || name === 'li' || containsBlock(node)) {
        // An inline element wrapping blocks (<span><p>…</p></span>, old <font> pages) is walked as a block.
        this.#flush();
        this.blocks(node.children);
        this.#flush();
      } else {
        this.#paragraph += inlineMarkdown([node], true);
      }
    }
  }

  #heading(level: number, text: string): void {
    this.#flush();
    const clean = collapse(text);
    if (clean === '') return;
    this.#lastHeadingLevel = level;
    this.#pieces.push({ heading: level, text: clean });
  }

  #flush(): void {
    const lines = this.#paragraph
      .split('\n')
      .map((line) => collapse(line))
      .filter((line) => line !== '');
    this.#paragraph = '';
    if (lines.length > 0) this.#emit(lines.map(escapeLineStart).join('\n'));
  }

  #emit(block: string): void {
    if (block.trim() !== '') this.#pieces.push({ text: block });
  }
}

const STRUCTURE = new Set([...BLOCKS, 'li', 'ul', 'ol', 'table', 'pre', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);

function containsBlock(element: Element): boolean {
  return element.children.some((child) => isTag(child) && !SKIPPED.has(child.name) && (STRUCTURE.has(child.name) || containsBlock(child)));
}

function isBoldHeading(paragraph: Element): boolean {
  const text = collapse(textOf(paragraph.children));
  if (text === '' || text.length > MAX_BOLD_HEADING_CHARS || /[.,;:!?]$/.test(text)) return false;
  // Every piece of text must sit inside <strong>/<b>; whitespace between them does not count.
  const allBold = (nodes: readonly ChildNode[]): boolean =>
    nodes.every((node) => {
      if (isText(node)) return node.data.trim() === '';
      if (!isTag(node)) return true;
      if (node.name === 'strong' || node.name === 'b') return true;
      return node.name !== 'br' && allBold(node.children);
    });
  return allBold(paragraph.children);
}

/** Inline markdown of some nodes: links to absolute addresses kept, bold as `**` when `bold`, line breaks as `\n`. */
function inlineMarkdown(nodes: readonly ChildNode[], bold: boolean): string {
  let out = '';
  for (const node of nodes) {
    if (isText(node)) {
      out += node.data;
      continue;
    }
    if (!isTag(node) || SKIPPED.has(node.name)) continue;
    if (node.name === 'br') out += '\n';
    else if ((node.name === 'strong' || node.name === 'b') && bold) out += wrap(inlineMarkdown(node.children, bold), '**');
    else if (node.name === 'a') out += link(node, bold);
    else if (node.name === 'img') continue;
    else out += inlineMarkdown(node.children, bold);
  }
  return out;
}

function wrap(text: string, marker: string): string {
  // Markers must hug the text ("**Note:** x", not "** Note: **"), so surrounding spaces move outside.
  const match = /^(\s*)([\s\S]*?)(\s*)$/.exec(text);
  const [, before = '', core = '', after = ''] = match ?? [];
  return core === '' ? text : `${before}${marker}${core}${marker}${after}`;
}

function link(anchor: Element, bold: boolean): string {
  const text = inlineMarkdown(anchor.children, bold);
  const href = anchor.attribs['href'] ?? '';
  if (!/^(https?:|mailto:)/i.test(href) || collapse(text) === '') return text;
  return collapse(text) === href.replace(/^mailto:/i, '') ? text : `[${collapse(text)}](${href})`;
}

/** Plain inline text with line breaks as spaces, for headings and table cells. */
function inlineText(nodes: readonly ChildNode[]): string {
  return collapse(inlineMarkdown(nodes, false).replace(/\n/g, ' '));
}

function tableToMarkdown(table: Element): string {
  const rows: string[][] = [];
  for (const row of tableRows(table)) {
    const cells: string[] = [];
    for (const cell of row.children) {
      if (!isTag(cell) || (cell.name !== 'td' && cell.name !== 'th')) continue;
      cells.push(cellText(cell));
      // A merged cell keeps the columns after it in place.
      const span = Math.min(Number(cell.attribs['colspan'] ?? '1') || 1, 50);
      for (let extra = 1; extra < span; extra += 1) cells.push('');
    }
    if (cells.some((cell) => cell !== '')) rows.push(cells);
  }
  if (rows.length === 0) return '';
  const width = Math.max(...rows.map((row) => row.length));
  const line = (cells: string[]) => `| ${Array.from({ length: width }, (_, i) => cells[i] ?? '').join(' | ')} |`;
  const [header = [], ...body] = rows;
  return [line(header), `|${' --- |'.repeat(width)}`, ...body.map(line)].join('\n');
}

/** The table's own rows (not those of tables nested in its cells), in order. */
function tableRows(table: Element): Element[] {
  const rows: Element[] = [];
  const visit = (nodes: readonly ChildNode[]) => {
    for (const node of nodes) {
      if (!isTag(node)) continue;
      if (node.name === 'tr') rows.push(node);
      else if (node.name === 'thead' || node.name === 'tbody' || node.name === 'tfoot') visit(node.children);
    }
  };
  visit(table.children);
  return rows;
}

/** A cell on one line: its paragraphs, list items and nested tables joined by spaces, pipes escaped. */
function cellText(cell: Element): string {
  const parts: string[] = [];
  const visit = (nodes: readonly ChildNode[]) => {
    let inline: ChildNode[] = [];
    const flush = () => {
      if (inline.length > 0) parts.push(inlineText(inline));
      inline = [];
    };
    for (const node of nodes) {
      if (isTag(node) && (BLOCKS.has(node.name) || HEADING.test(node.name) || ['ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tfoot', 'tr', 'td', 'th', 'pre'].includes(node.name))) {
        flush();
        visit(node.children);
      } else inline.push(node);
    }
    flush();
  };
  visit(cell.children);
  return parts.filter((part) => part !== '').join(' ').replace(/\|/g, '\\|');
}

function listToMarkdown(list: Element, depth: number): string {
  const lines: string[] = [];
  let number = Number(list.attribs['start'] ?? '1') || 1;
  for (const item of list.children) {
    if (!isTag(item)) continue;
    if (item.name === 'ul' || item.name === 'ol') {
      // Some editors nest a list directly in a list instead of inside an item.
      lines.push(listToMarkdown(item, depth + 1));
      continue;
    }
    if (item.name !== 'li') continue;
    const marker = list.name === 'ol' ? `${number}.` : '-';
    number += 1;
    const inline: ChildNode[] = [];
    const nested: string[] = [];
    for (const child of item.children) {
      if (isTag(child) && (child.name === 'ul' || child.name === 'ol')) nested.push(listToMarkdown(child, depth + 1));
      else if (isTag(child) && child.name === 'table') nested.push(tableToMarkdown(child));
      else inline.push(child);
    }
    const text = collapse(inlineMarkdown(blockBreaksToSpaces(inline), true).replace(/\n/g, ' '));
    if (text !== '') lines.push(`${'  '.repeat(depth)}${marker} ${text}`);
    lines.push(...nested.filter((block) => block !== ''));
  }
  return lines.join('\n');
}

/** Paragraphs inside a list item become spaced inline runs, so the item stays one line. */
function blockBreaksToSpaces(nodes: readonly ChildNode[]): ChildNode[] {
  const out: ChildNode[] = [];
  for (const node of nodes) {
    if (isTag(node) && BLOCKS.has(node.name)) out.push(...blockBreaksToSpaces(node.children), new Text(' '));
    else out.push(node);
  }
  return out;
}

function fenced(code: string): string {
  const text = code.replace(/^\n/, '').replace(/\s+$/, '');
  if (text === '') return '';
  // The fence must be longer than any run of backticks inside, or the block would end early.
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((run) => run[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}\n${text}\n${fence}`;
}

function textOf(nodes: readonly ChildNode[] | undefined): string {
  if (nodes === undefined) return '';
  let out = '';
  for (const node of nodes) {
    if (isText(node)) out += node.data;
    else if (isTag(node) && !SKIPPED.has(node.name)) out += node.name === 'br' ? '\n' : textOf(node.children);
  }
  return out;
}

function findFirst(nodes: readonly ChildNode[], name: string): ChildNode[] | undefined {
  for (const node of nodes) {
    if (!isTag(node)) continue;
    if (node.name === name) return node.children;
    const found = findFirst(node.children, name);
    if (found !== undefined) return found;
  }
  return undefined;
}

function collapse(text: string): string {
  return text.replace(/[\s\u00a0]+/g, ' ').trim();
}

/** Text that would read as markdown structure at a line start (a heading, a fence) is escaped. */
function escapeLineStart(line: string): string {
  return line.replace(/^(#|`{3}|~{3})/, '\\$1');
}

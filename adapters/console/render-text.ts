/**
 * Reply markdown rendered for a terminal: wrapped to a width (a word is broken only when it is
 * longer than a line), `**bold**`, `_italic_` and `` `code` `` as ANSI styles (or plain text for a
 * pipe, a file or NO_COLOR), `- ` lists with hanging indents, tables aligned in columns, sources
 * listed under the answer. The output is split into blocks so a streamed answer can print the
 * blocks that are complete and redraw only the last one.
 */
import { linkRendering, MARKDOWN_ESCAPE, splitCode } from '../../src/engine/user-text.ts';
import type { Reply, Source } from '../../src/message.ts';

/** How to lay text out. */
export interface RenderOptions {
  /** ANSI styles (bold, italic, code, dim); off for a pipe, a file or NO_COLOR. */
  color: boolean;
  /** Columns per line: no line is wider; default {@link DEFAULT_WIDTH}, at least {@link MIN_WIDTH}. */
  width?: number;
  /** Shown in bold before the first line (e.g. `hrbot › `): on the same line when that is text, else on its own. */
  lead?: string;
}

/** Width when none is known (a pipe, a file). */
export const DEFAULT_WIDTH = 80;
/** Narrower than this a terminal is taken to be this wide: shorter lines would break every word. */
export const MIN_WIDTH = 20;

// Style bits of one character.
const BOLD = 1;
const ITALIC = 2;
const CODE = 4;
const DIM = 8;
const UNDERLINE = 16;

/** One character on screen: a code point (combining marks have width 0), its style and its columns. */
interface Cell {
  ch: string;
  style: number;
  width: number;
}
type Styled = Cell[];

// ---------------------------------------------------------------------------------------------------
// Blocks

type Block =
  | { kind: 'blank' }
  | { kind: 'text'; indent: number; text: string }
  | { kind: 'heading'; text: string }
  | { kind: 'item'; depth: number; marker: string; text: string }
  | { kind: 'quote'; text: string }
  | { kind: 'rule' }
  | { kind: 'code'; lines: string[] }
  | { kind: 'table'; lines: string[] };

const FENCE = /^\s{0,3}(```|~~~)/;
const BLANK = /^\s*$/;
const TABLE_LINE = /^\s{0,3}\|/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/;
const RULE = /^\s{0,3}([-*_])(?:\s*\1){2,}\s*$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
/** Deepest list nesting shown; deeper items are drawn at this depth. */
const MAX_DEPTH = 4;
/** Indent of a plain line kept at most (leading spaces beyond this are dropped). */
const MAX_INDENT = 8;

/**
 * Split markdown into blocks, one per line except tables (a run of `|` lines) and code fences.
 * A line break in a reply is a line break on screen, as in chat apps. Every block but the last
 * depends only on the text before the next block starts, which is what makes streaming work.
 */
function parseBlocks(markdown: string): Block[] {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  // After a final newline the next line has not begun: it may yet continue a table or a list.
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const fence = FENCE.exec(line);
    if (fence !== null) {
      const body: string[] = [];
      while (i + 1 < lines.length && !(lines[i + 1] ?? '').trimStart().startsWith(fence[1] ?? '```')) body.push(lines[++i] ?? '');
      i++; // the closing fence, if it has arrived
      blocks.push({ kind: 'code', lines: body });
      continue;
    }
    if (BLANK.test(line)) {
      // Leading blanks are dropped and a run of blanks is one.
      if (blocks.length > 0 && blocks.at(-1)?.kind !== 'blank') blocks.push({ kind: 'blank' });
      continue;
    }
    if (TABLE_LINE.test(line)) {
      const rows = [line];
      while (i + 1 < lines.length && TABLE_LINE.test(lines[i + 1] ?? '')) rows.push(lines[++i] ?? '');
      blocks.push({ kind: 'table', lines: rows });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading !== null) {
      blocks.push({ kind: 'heading', text: heading[1] ?? '' });
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ kind: 'rule' });
      continue;
    }
    const item = ITEM.exec(line);
    if (item !== null) {
      const depth = Math.min(MAX_DEPTH, Math.floor((item[1] ?? '').replace(/\t/g, '    ').length / 2));
      blocks.push({ kind: 'item', depth, marker: item[2] ?? '-', text: item[3] ?? '' });
      continue;
    }
    const quote = QUOTE.exec(line);
    if (quote !== null) {
      blocks.push({ kind: 'quote', text: quote[1] ?? '' });
      continue;
    }
    const indent = Math.min(MAX_INDENT, (/^\s*/.exec(line.replace(/\t/g, '    '))?.[0] ?? '').length);
    blocks.push({ kind: 'text', indent, text: line.trim() });
  }
  return blocks;
}

// ---------------------------------------------------------------------------------------------------
// Inline markdown

// Private-use characters mark styles and literal runs while emphasis is read; removed from the input first.
const LITERAL = '\uE002';
const BOLD_ON = '\uE010';
const BOLD_OFF = '\uE011';
const ITALIC_ON = '\uE012';
const ITALIC_OFF = '\uE013';
const PRIVATE_MARKS = /[\uE002-\uE01F]/g;
/**
 * Control characters (C0 but tab and newline, DEL, C1) never reach the terminal: an answer a user
 * steered could otherwise carry escape sequences that move the cursor, retitle the window or worse.
 */
// eslint-disable-next-line no-control-regex -- removing control characters is the point
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;
const LINK = /\[([^\]\n]+)\]\(([^)\s]+)\)/g;

/** Text safe to show on a terminal: no control characters, no private-use marks of this renderer, tabs as spaces. */
function sanitize(text: string): string {
  return text.replace(/\t/g, '    ').replace(CONTROL, '').replace(PRIVATE_MARKS, '');
}

/** Parse one line of inline markdown into styled cells. Code is shown verbatim; `\x` escapes show x. */
function parseInline(markdown: string, base: number): Styled {
  const literals: Array<{ text: string; style: number }> = [];
  const literal = (text: string, style: number) => `${LITERAL}${literals.push({ text, style }) - 1}${LITERAL}`;
  const plain = (marked: string) =>
    marked.replace(new RegExp(`${LITERAL}(\\d+)${LITERAL}`, 'g'), (_match, index: string) => literals[Number(index)]?.text ?? '').replace(/[\uE010-\uE01F]/g, '');
  let marked = '';
  for (const part of splitCode(sanitize(markdown))) {
    if (part.code) marked += literal(part.text.replace(/^`+|`+$/g, '').trim(), CODE);
    else marked += part.text.replace(MARKDOWN_ESCAPE, (_match, char: string) => literal(char, 0));
  }
  marked = marked
    .replace(LINK, (_match, label: string, url: string) => {
      const shown = linkRendering(plain(label), url);
      if (shown === 'text') return label;
      if (plain(label).trim() === url) return literal(url, UNDERLINE);
      return `${label} (${literal(url, UNDERLINE)})`;
    })
    .replace(/\*\*([^*\n]+)\*\*/g, (_match, inner: string) => `${BOLD_ON}${inner}${BOLD_OFF}`)
    .replace(/(^|[^\w*])\*([^*\s](?:[^*\n]*[^*\s])?)\*(?![\w*])/g, (_match, before: string, inner: string) => `${before}${ITALIC_ON}${inner}${ITALIC_OFF}`)
    .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,:;!?]|$)/g, (_match, before: string, inner: string) => `${before}${ITALIC_ON}${inner}${ITALIC_OFF}`);
  const cells: Styled = [];
  let style = base;
  for (const match of marked.matchAll(new RegExp(`${LITERAL}(\\d+)${LITERAL}|[\\uE010-\\uE013]|[\\s\\S]`, 'gu'))) {
    if (match[1] !== undefined) {
      const run = literals[Number(match[1])];
      if (run !== undefined) pushText(cells, run.text, style | run.style);
      continue;
    }
    switch (match[0]) {
      case BOLD_ON:
        style |= BOLD;
        break;
      case BOLD_OFF:
        style = (style & ~BOLD) | (base & BOLD);
        break;
      case ITALIC_ON:
        style |= ITALIC;
        break;
      case ITALIC_OFF:
        style = (style & ~ITALIC) | (base & ITALIC);
        break;
      default:
        pushText(cells, match[0], style);
    }
  }
  return cells;
}

/** Literal text as cells in one style (what a user typed, a path). */
function literalCells(text: string, style: number): Styled {
  const cells: Styled = [];
  pushText(cells, sanitize(text).replace(/\n/g, ' '), style);
  return cells;
}

function pushText(cells: Styled, text: string, style: number): void {
  for (const ch of text) cells.push({ ch, style, width: charWidth(ch) });
}

/**
 * Columns a code point takes: 0 for combining marks and zero-width characters, 2 for East Asian
 * wide characters and most emoji, else 1. Close enough for wrapping; a terminal may differ on rare ones.
 */
function charWidth(ch: string): number {
  const code = ch.codePointAt(0) ?? 0;
  if ((code >= 0x0300 && code <= 0x036f) || (code >= 0x200b && code <= 0x200f) || code === 0xfeff || (code >= 0xfe00 && code <= 0xfe0f)) return 0;
  if (
    (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0xa4cf) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd)
  )
    return 2;
  return 1;
}

function widthOf(cells: Styled): number {
  let width = 0;
  for (const cell of cells) width += cell.width;
  return width;
}

// ---------------------------------------------------------------------------------------------------
// Wrapping and output

/**
 * Greedy word wrap: the first line holds `firstWidth` columns, the others `restWidth`. Runs of
 * spaces are one space and vanish at a break; a word is cut only when it is longer than a line.
 */
function wrap(cells: Styled, firstWidth: number, restWidth: number): Styled[] {
  const words: Styled[] = [];
  const spaces: Array<Cell | undefined> = [];
  let word: Styled = [];
  let space: Cell | undefined;
  for (const cell of cells) {
    if (cell.ch === ' ') {
      if (word.length > 0) {
        words.push(word);
        spaces.push(space);
        word = [];
        space = undefined;
      }
      space ??= cell;
    } else {
      word.push(cell);
    }
  }
  if (word.length > 0) {
    words.push(word);
    spaces.push(space);
  }
  const lines: Styled[] = [];
  let line: Styled = [];
  let used = 0;
  let limit = Math.max(1, firstWidth);
  words.forEach((current, index) => {
    let rest = current;
    let restWidthOf = widthOf(rest);
    if (line.length > 0 && used + 1 + restWidthOf <= limit) {
      line.push(spaces[index] ?? { ch: ' ', style: 0, width: 1 }, ...rest);
      used += 1 + restWidthOf;
      return;
    }
    if (line.length > 0) {
      lines.push(line);
      line = [];
      used = 0;
      limit = Math.max(1, restWidth);
    }
    while (restWidthOf > limit) {
      let taken = 0;
      let columns = 0;
      while (taken < rest.length && (taken === 0 || columns + (rest[taken]?.width ?? 0) <= limit)) columns += rest[taken++]?.width ?? 0;
      lines.push(rest.slice(0, taken));
      rest = rest.slice(taken);
      restWidthOf -= columns;
      limit = Math.max(1, restWidth);
    }
    line = rest;
    used = restWidthOf;
  });
  lines.push(line);
  return lines;
}

const SGR: ReadonlyArray<[number, string]> = [
  [BOLD, '1'],
  [DIM, '2'],
  [ITALIC, '3'],
  [UNDERLINE, '4'],
  [CODE, '36'],
];

/** Cells as a string: with ANSI SGR codes when colour is on (reset at each change and at the end of the line). */
function toText(cells: Styled, color: boolean): string {
  let out = '';
  let current = 0;
  for (const cell of cells) {
    if (color && cell.style !== current) {
      if (current !== 0) out += '\u001b[0m';
      const codes = SGR.filter(([bit]) => (cell.style & bit) !== 0).map(([, code]) => code);
      if (codes.length > 0) out += `\u001b[${codes.join(';')}m`;
      current = cell.style;
    }
    out += cell.ch;
  }
  if (color && current !== 0) out += '\u001b[0m';
  return out;
}

function spacesCells(count: number): Styled {
  return Array.from({ length: count }, () => ({ ch: ' ', style: 0, width: 1 }));
}

/** Wrap `cells` behind a first-line prefix and a continuation prefix (a hanging indent). */
function hanging(cells: Styled, first: Styled, rest: Styled, width: number, color: boolean): string[] {
  return wrap(cells, width - widthOf(first), width - widthOf(rest)).map((line, index) => toText([...(index === 0 ? first : rest), ...line], color));
}

// ---------------------------------------------------------------------------------------------------
// Tables

type Align = 'left' | 'right' | 'center';
const SEPARATOR_CELL = /^\s*:?-+:?\s*$/;
/** Columns between table columns. */
const COLUMN_GAP = 2;

/** The cells of one `| a | b |` line; `\|` is a literal bar. */
function splitRow(line: string): string[] {
  const body = line.trim().replace(/^\|/, '').replace(/(?<!\\)\|\s*$/, '');
  return body.split(/(?<!\\)\|/).map((cell) => cell.trim());
}

function renderTable(lines: string[], width: number, color: boolean): string[] {
  const rows = lines.map(splitRow);
  const separator = rows[1];
  if (rows.length < 2 || separator === undefined || !separator.every((cell) => SEPARATOR_CELL.test(cell))) {
    // Not a table (yet, while it streams): each line as text.
    return lines.flatMap((line) => hanging(parseInline(line.trim(), 0), [], [], width, color));
  }
  const aligns: Align[] = separator.map((cell) => {
    const spec = cell.trim();
    if (spec.startsWith(':') && spec.endsWith(':')) return 'center';
    return spec.endsWith(':') ? 'right' : 'left';
  });
  const header = (rows[0] ?? []).map((cell) => parseInline(cell, BOLD));
  const body = rows.slice(2).map((row) => row.map((cell) => parseInline(cell, 0)));
  const columns = Math.max(header.length, ...body.map((row) => row.length));
  const cellAt = (row: Styled[], column: number): Styled => row[column] ?? [];
  const all = [header, ...body];
  const natural = Array.from({ length: columns }, (_unused, column) => Math.max(1, ...all.map((row) => widthOf(cellAt(row, column)))));
  const longestWord = Array.from({ length: columns }, (_unused, column) =>
    Math.max(1, ...all.map((row) => longestWordOf(cellAt(row, column)))),
  );
  const room = width - COLUMN_GAP * (columns - 1);
  const widths = [...natural];
  let total = widths.reduce((sum, value) => sum + value, 0);
  // Narrow the widest column that can still wrap between words, one column at a time.
  while (total > room) {
    let widest = -1;
    for (let column = 0; column < columns; column++) {
      if ((widths[column] ?? 0) > (longestWord[column] ?? 0) && (widest < 0 || (widths[column] ?? 0) > (widths[widest] ?? 0))) widest = column;
    }
    if (widest < 0) return renderRecords(header, body, width, color);
    widths[widest] = (widths[widest] ?? 1) - 1;
    total--;
  }
  const gap = spacesCells(COLUMN_GAP);
  const renderRow = (row: Styled[]): string[] => {
    const wrapped = widths.map((columnWidth, column) => wrap(cellAt(row, column), columnWidth, columnWidth));
    const height = Math.max(...wrapped.map((cellLines) => cellLines.length));
    const out: string[] = [];
    for (let lineIndex = 0; lineIndex < height; lineIndex++) {
      const line: Styled = [];
      widths.forEach((columnWidth, column) => {
        const content = wrapped[column]?.[lineIndex] ?? [];
        const free = columnWidth - widthOf(content);
        const align = aligns[column] ?? 'left';
        const before = align === 'right' ? free : align === 'center' ? Math.floor(free / 2) : 0;
        if (column > 0) line.push(...gap);
        line.push(...spacesCells(before), ...content, ...spacesCells(free - before));
      });
      while (line.at(-1)?.ch === ' ' && line.at(-1)?.style === 0) line.pop();
      out.push(toText(line, color));
    }
    return out;
  };
  const rule: Styled = [];
  widths.forEach((columnWidth, column) => {
    if (column > 0) rule.push(...gap);
    for (let i = 0; i < columnWidth; i++) rule.push({ ch: color ? '─' : '-', style: DIM, width: 1 });
  });
  return [...renderRow(header), toText(rule, color), ...body.flatMap(renderRow)];
}

function longestWordOf(cells: Styled): number {
  let longest = 0;
  let current = 0;
  for (const cell of cells) {
    current = cell.ch === ' ' ? 0 : current + cell.width;
    longest = Math.max(longest, current);
  }
  return longest;
}

/** A table too wide for the terminal even with every column wrapped: each row as a list of `header: value`. */
function renderRecords(header: Styled[], body: Styled[][], width: number, color: boolean): string[] {
  const bullet = literalCells(color ? '• ' : '- ', 0);
  const indent = spacesCells(widthOf(bullet));
  return body.flatMap((row) =>
    row.flatMap((cell, column) => {
      const name = header[column] ?? [];
      const text = name.length > 0 ? [...name, ...literalCells(': ', 0), ...cell] : cell;
      return hanging(text, column === 0 ? bullet : indent, indent, width, color);
    }),
  );
}

// ---------------------------------------------------------------------------------------------------
// Public API

function lineWidth(options: RenderOptions): number {
  return Math.max(MIN_WIDTH, Math.floor(options.width ?? DEFAULT_WIDTH));
}

function renderBlock(block: Block, width: number, color: boolean): string[] {
  switch (block.kind) {
    case 'blank':
      return [''];
    case 'text':
      return hanging(parseInline(block.text, 0), spacesCells(block.indent), spacesCells(block.indent), width, color);
    case 'heading':
      return hanging(parseInline(block.text, BOLD), [], [], width, color);
    case 'item': {
      const marker = /^\d/.test(block.marker) ? block.marker : color ? '•' : '-';
      const first = literalCells(`${'  '.repeat(block.depth)}${marker} `, 0);
      return hanging(parseInline(block.text, 0), first, spacesCells(widthOf(first)), width, color);
    }
    case 'quote':
      return hanging(parseInline(block.text, ITALIC), literalCells(color ? '│ ' : '> ', DIM), literalCells(color ? '│ ' : '> ', DIM), width, color);
    case 'rule':
      return [toText(literalCells((color ? '─' : '-').repeat(Math.min(width, 40)), DIM), color)];
    case 'code':
      return block.lines.flatMap((line) => {
        // Code keeps its spacing: cut at the width rather than wrapped between words.
        const cells = literalCells(line, CODE);
        const out: string[] = [];
        for (let start = 0; out.length === 0 || start < cells.length; start += width - 2) out.push(toText([...spacesCells(2), ...cells.slice(start, start + width - 2)], color));
        return out;
      });
    case 'table':
      return renderTable(block.lines, width, color);
  }
}

/**
 * Markdown as terminal lines, grouped by block (a blank line is a block of one empty line). Every
 * group but the last is final once the next one has begun, whatever text follows.
 */
export function renderMarkdownBlocks(markdown: string, options: RenderOptions): string[][] {
  const width = lineWidth(options);
  const blocks = parseBlocks(markdown);
  const rendered: string[][] = [];
  blocks.forEach((block, index) => {
    if (index === 0 && options.lead !== undefined) {
      const lead = literalCells(options.lead, BOLD);
      if (block.kind === 'text' || block.kind === 'heading') {
        const cells = parseInline(block.text, block.kind === 'heading' ? BOLD : 0);
        rendered.push(wrap([...lead, ...cells], width, width).map((line) => toText(line, options.color)));
        return;
      }
      rendered.push([toText(lead, options.color).trimEnd(), ...renderBlock(block, width, options.color)]);
      return;
    }
    rendered.push(renderBlock(block, width, options.color));
  });
  if (rendered.length === 0 && options.lead !== undefined) rendered.push([toText(literalCells(options.lead, BOLD), options.color).trimEnd()]);
  return rendered;
}

/** The sources under an answer, dimmed: `Sources:` and one `  - heading path (file#anchor)` each. */
export function renderSources(sources: readonly Source[], options: RenderOptions): string[] {
  if (sources.length === 0) return [];
  const width = lineWidth(options);
  return [
    toText(literalCells('Sources:', DIM), options.color),
    ...sources.flatMap((source) =>
      hanging(literalCells(`${source.headingPath} (${source.file}#${source.anchor})`, DIM), literalCells('  - ', DIM), spacesCells(4), width, options.color),
    ),
  ];
}

/** A reply as blocks: its text (trailing blank lines dropped), then a blank line and its sources. */
export function renderReplyBlocks(reply: Reply, options: RenderOptions): string[][] {
  const blocks = renderMarkdownBlocks(reply.text, options);
  while (blocks.length > 0 && blocks.at(-1)?.every((line) => line === '') === true) blocks.pop();
  const sources = renderSources(reply.sources, options);
  return sources.length === 0 ? blocks : [...blocks, [''], sources];
}

/** A reply as terminal text (no final newline). */
export function renderText(reply: Reply, options: RenderOptions): string {
  return renderReplyBlocks(reply, options)
    .flat()
    .join('\n');
}

/** Literal text (what a user typed, a path) wrapped behind an optional bold lead; never read as markdown. */
export function renderLiteral(text: string, options: RenderOptions & { dim?: boolean }): string[] {
  const width = lineWidth(options);
  const lead = options.lead === undefined ? [] : literalCells(options.lead, BOLD);
  return wrap([...lead, ...literalCells(text, options.dim === true ? DIM : 0)], width, width).map((line) => toText(line, options.color));
}

import { getDocumentProxy, getResolvedPDFJS } from 'unpdf';
import { rankHeadingLevels } from './convert-heading-levels.ts';
import { cellAt, findRuledGrids } from './convert-pdf-rulings.ts';
import type { OperatorList, PathOps, RuledGrid } from './convert-pdf-rulings.ts';

/**
 * Convert a PDF's text to markdown. A PDF has no headings or tables, only text drawn at positions
 * in fonts, so both are inferred:
 * - the body size is the size most of the text is set in; a short line in a larger font, or in
 *   bold at body size, is a heading, its level ranked by size (then weight);
 * - a table drawn with borders is read cell by cell from its borders; without borders, lines
 *   whose pieces stand apart in columns, two or more in a row, are a table; the first row is its
 *   header, a wrapped cell's lines are joined, and a table broken across pages is joined again;
 * - lines repeated on most pages in the top or bottom margin (running headers, footers, page
 *   numbers) and rotated text (watermarks) are dropped; wrapped lines are joined into paragraphs.
 * Rejects when the bytes are not a readable PDF, it needs a password, or it has no text (a scan).
 */
export async function pdfToMarkdown(bytes: Uint8Array): Promise<string> {
  ensureTransferToFixedLength();
  const pdf = await openPdf(bytes);
  const ops = (await getResolvedPDFJS()).OPS as PathOps;
  try {
    const pages: PageLines[] = [];
    for (let number = 1; number <= pdf.numPages; number += 1) {
      const page = await pdf.getPage(number);
      pages.push(await readPage(page, ops));
      // A long PDF would otherwise keep every page's fonts and drawing in memory until the end.
      page.cleanup();
    }
    const lines = dropRunningLines(pages, bodySize(pages.flatMap((page) => page.lines)));
    if (!lines.some((line) => /\p{L}|\p{N}/u.test(line.text))) {
      throw new Error('it has no text layer (a scanned PDF?); it needs OCR before it can be indexed');
    }
    return linesToMarkdown(lines);
  } finally {
    await pdf.destroy();
  }
}

async function openPdf(bytes: Uint8Array): Promise<Awaited<ReturnType<typeof getDocumentProxy>>> {
  try {
    // verbosity 0: pdf.js reports problems by rejecting; its console warnings would bypass our logger.
    return await getDocumentProxy(bytes, { verbosity: 0, isEvalSupported: false, useSystemFonts: false, disableFontFace: true });
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    const message = error instanceof Error ? error.message : String(error);
    if (name === 'PasswordException') throw new Error('it is protected by a password', { cause: error });
    throw new Error(`it is not a readable PDF (${message})`, { cause: error });
  }
}

// --- Reading the text of a page -------------------------------------------------------------

interface Piece { str: string; x: number; y: number; width: number; size: number; bold: boolean }

/** One visual line: its pieces left to right, split into cells where they stand far apart. */
interface Line {
  page: number;
  y: number;
  /** Points from the page's top and bottom edges, for telling margins from the body. */
  fromTop: number;
  fromBottom: number;
  size: number;
  bold: boolean;
  cells: { x: number; end: number; text: string }[];
  text: string;
  /** Set on the line standing for a ruled table: its rows of cell texts. */
  table?: string[][];
}

interface PageLines { height: number; lines: Line[] }

interface TextItemLike { str: string; transform: number[]; width: number; fontName: string }

interface PageLike {
  pageNumber: number;
  view: number[];
  getTextContent(): Promise<{ items: unknown[] }>;
  getOperatorList(): Promise<OperatorList>;
  commonObjs: { has(id: string): boolean; get(id: string): unknown };
}

function isTextItem(item: unknown): item is TextItemLike {
  return typeof item === 'object' && item !== null && 'str' in item && 'transform' in item;
}

// Pieces on one line share a baseline within this fraction of their size (sub/superscripts).
const SAME_LINE = 0.45;
// A gap wider than this many font sizes between two pieces of a line separates table cells.
const CELL_GAP = 1.0;
// A gap wider than this many font sizes (with no space drawn) is a space between words.
const WORD_GAP = 0.18;

async function readPage(page: PageLike, ops: PathOps): Promise<PageLines> {
  const [, bottom = 0, , top = 792] = page.view;
  const content = await page.getTextContent();
  const operators = await operatorList(page, content.items);
  const boldFonts = boldFontNames(page, content.items, operators);
  const grids = operators === undefined ? [] : findRuledGrids(operators, ops);

  const pieces: Piece[] = [];
  for (const item of content.items) {
    if (!isTextItem(item) || item.str === '') continue;
    const [a = 0, b = 0, c = 0, d = 0, x = 0, y = 0] = item.transform;
    // Only upright, horizontal text: rotated pieces are watermarks, stamps or margin notes.
    if (a <= 0 || d <= 0 || Math.abs(b) > 0.01 * a || Math.abs(c) > 0.01 * d) continue;
    pieces.push({ str: item.str, x, y, width: item.width, size: Math.round(d * 10) / 10, bold: boldFonts.has(item.fontName) });
  }

  // Text inside a ruled table goes to its cells; the table joins the page's lines where its top is.
  const tableLines: Line[] = [];
  let rest = pieces;
  for (const grid of grids) {
    const { line, outside } = ruledTable(grid, rest, page.pageNumber, top, bottom);
    rest = outside;
    if (line !== undefined) tableLines.push(line);
  }
  const lines = [...groupLines(rest).map((group) => toLine(group, page.pageNumber, top, bottom)).filter((line) => line.text !== ''), ...tableLines];
  lines.sort((p, q) => q.y - p.y);
  return { height: top - bottom, lines };
}

/** Pieces grouped into visual lines: top to bottom, each left to right, baselines nearly agreeing. */
function groupLines(pieces: readonly Piece[]): Piece[][] {
  const sorted = [...pieces].sort((p, q) => q.y - p.y || p.x - q.x);
  const groups: Piece[][] = [];
  for (const piece of sorted) {
    const group = groups[groups.length - 1];
    const first = group?.[0];
    if (group !== undefined && first !== undefined && Math.abs(first.y - piece.y) <= SAME_LINE * Math.max(first.size, piece.size)) group.push(piece);
    else groups.push([piece]);
  }
  return groups.map((group) => group.sort((p, q) => p.x - q.x));
}

/** The table a grid holds as one line (undefined when its cells are empty), and the pieces outside it. */
function ruledTable(grid: RuledGrid, pieces: readonly Piece[], page: number, top: number, bottom: number): { line?: Line; outside: Piece[] } {
  const cells = new Map<string, Piece[]>();
  const outside: Piece[] = [];
  for (const piece of pieces) {
    // A piece belongs to the cell its first character's middle is in.
    const at = cellAt(grid, piece.x + Math.min(piece.width, piece.size) / 2, piece.y + piece.size * 0.3);
    if (at === undefined) outside.push(piece);
    else {
      const key = `${at.row},${at.column}`;
      cells.set(key, [...(cells.get(key) ?? []), piece]);
    }
  }
  let rows = grid.rows.slice(0, -1).map((_, row) =>
    grid.columns.slice(0, -1).map((__, column) => {
      const inCell = cells.get(`${row},${column}`) ?? [];
      return groupLines(inCell)
        .map((group) => toLine(group, page, top, bottom).text)
        .filter((text) => text !== '')
        .reduce((text, next) => (text === '' ? next : joinWrapped(text, next)), '');
    }),
  );
  // Rows and columns with nothing in them are spacing, or cells merged into a neighbour.
  rows = rows.filter((row) => row.some((text) => text !== ''));
  const used = rows[0]?.map((_, column) => rows.some((row) => row[column] !== '')) ?? [];
  rows = rows.map((row) => row.filter((_, column) => used[column]));
  if (rows.length === 0 || (rows[0]?.length ?? 0) === 0) return { outside };
  const y = grid.rows[0]!;
  const size = pieces.find((piece) => !outside.includes(piece))?.size ?? 0;
  const text = rows.map((row) => row.join(' ')).join(' ');
  return { line: { page, y, fromTop: top - y, fromBottom: y - bottom, size, bold: false, cells: [], text, table: rows }, outside };
}

async function operatorList(page: PageLike, items: readonly unknown[]): Promise<OperatorList | undefined> {
  if (!items.some(isTextItem)) return undefined;
  try {
    return await page.getOperatorList();
  } catch (error) {
    // Fonts (bold) and borders (tables) are refinements: without them the text is still read.
    if (error instanceof Error) return undefined;
    throw error;
  }
}

function toLine(pieces: Piece[], page: number, top: number, bottom: number): Line {
  const cells: Line['cells'] = [];
  let previous: Piece | undefined;
  for (const piece of pieces) {
    const cell = cells[cells.length - 1];
    const gap = previous === undefined ? Infinity : piece.x - (previous.x + previous.width);
    if (cell === undefined || (piece.str.trim() !== '' && gap > CELL_GAP * piece.size)) {
      if (piece.str.trim() === '') continue;
      cells.push({ x: piece.x, end: piece.x + piece.width, text: piece.str });
    } else {
      const needsSpace = gap > WORD_GAP * piece.size && !/\s$/.test(cell.text) && !/^\s/.test(piece.str);
      cell.text += (needsSpace ? ' ' : '') + piece.str;
      if (piece.str.trim() !== '') cell.end = piece.x + piece.width;
    }
    if (piece.str.trim() !== '') previous = piece;
  }
  for (const cell of cells) cell.text = cell.text.replace(/\s+/g, ' ').trim();
  const visible = pieces.filter((piece) => piece.str.trim() !== '');
  // The line's size is the one most of its characters are set in.
  const bySize = new Map<number, number>();
  for (const piece of visible) bySize.set(piece.size, (bySize.get(piece.size) ?? 0) + piece.str.length);
  const size = [...bySize.entries()].sort((p, q) => q[1] - p[1] || q[0] - p[0])[0]?.[0] ?? 0;
  const y = visible[0]?.y ?? pieces[0]?.y ?? 0;
  const kept = cells.filter((cell) => cell.text !== '');
  return {
    page,
    y,
    fromTop: top - y,
    fromBottom: y - bottom,
    size,
    bold: visible.length > 0 && visible.every((piece) => piece.bold),
    cells: kept,
    text: kept.map((cell) => cell.text).join(' '),
  };
}

/**
 * The fonts on a page that are bold, by pdf.js font id. pdf.js hands font details to the caller
 * only once the page's operator list is built.
 */
function boldFontNames(page: PageLike, items: readonly unknown[], operators: OperatorList | undefined): Set<string> {
  const bold = new Set<string>();
  if (operators === undefined) return bold;
  for (const id of new Set(items.filter(isTextItem).map((item) => item.fontName))) {
    if (!page.commonObjs.has(id)) continue;
    const font = page.commonObjs.get(id) as { name?: unknown; bold?: unknown; black?: unknown } | null;
    const name = typeof font?.name === 'string' ? font.name : '';
    if (font?.bold === true || font?.black === true || /bold|black|heavy|semibold|demi|extrab|ultrab/i.test(name)) bold.add(id);
  }
  return bold;
}

// --- Running headers and footers ------------------------------------------------------------

// Lines this close to the top or bottom edge (fraction of page height) are in the margins.
const MARGIN_FRACTION = 0.12;
const PAGE_NUMBER = /^(page\s*)?\d{1,4}(\s*(of|\/)\s*\d{1,4})?$/i;
const PAGE_LABEL = /\bpage\s*\d{1,4}\b/i;

/**
 * Every page's lines in order, without running headers and footers: margin lines repeated on most
 * pages, bare page numbers, and small margin lines that carry a page number ("Acme — Page 3 of 9").
 */
function dropRunningLines(pages: readonly PageLines[], body: number): Line[] {
  const inMargin = (line: Line, height: number) => line.fromTop < height * MARGIN_FRACTION || line.fromBottom < height * MARGIN_FRACTION;
  // Page numbers change from page to page, so lines are compared with their digits blanked; a
  // running line also sits at the same height on every page.
  const key = (line: Line) => `${Math.round(line.y / 3)}|${line.text.toLowerCase().replace(/\d+/g, '#')}`;
  const pagesWith = new Map<string, number>();
  for (const page of pages) {
    const keys = new Set(page.lines.filter((line) => inMargin(line, page.height)).map(key));
    for (const k of keys) pagesWith.set(k, (pagesWith.get(k) ?? 0) + 1);
  }
  const repeated = (line: Line) => pages.length >= 2 && (pagesWith.get(key(line)) ?? 0) >= Math.max(2, Math.ceil(pages.length / 2));
  const running = (line: Line) => repeated(line) || PAGE_NUMBER.test(line.text) || (line.size < body && PAGE_LABEL.test(line.text));
  return pages.flatMap((page) => page.lines.filter((line) => !(inMargin(line, page.height) && running(line))));
}

// --- From lines to markdown -----------------------------------------------------------------

// A heading is at least this much larger than the body text...
const HEADING_SIZE_RATIO = 1.12;
// ...and short: longer lines in a large font are a lead paragraph or a pull quote.
const MAX_HEADING_CHARS = 120;
const MAX_HEADING_LINES = 3;
// A bold line at body size is a heading only when this short and not ending like a sentence.
const MAX_BOLD_HEADING_CHARS = 80;
// Baselines further apart than this many font sizes start a new paragraph.
const PARAGRAPH_GAP = 1.6;
// Bullet glyphs; Word's Symbol-font bullets come out as private-use characters (U+F0B7 and kin).
const BULLET = /^(?:[\u2022\u25cf\u25aa\u25e6\u2023\u2043\u2219\u00b7\u25a0\u25a1\u2013\u2014\u27a2\u2713\u2714]\s*|[*-]\s+|\p{Co}\s*)/u;
const MAX_TABLE_COLUMNS = 12;

type Block = { kind: 'heading'; style: string; size: number; bold: boolean; text: string } | { kind: 'text'; text: string } | { kind: 'table'; rows: string[][] };

function linesToMarkdown(lines: readonly Line[]): string {
  const body = bodySize(lines);
  const blocks = toBlocks(lines, body);

  // Heading styles ranked: larger first, and bold before regular at the same size.
  const styles = [...new Map(blocks.flatMap((block) => (block.kind === 'heading' ? [[block.style, block] as const] : []))).values()]
    .sort((p, q) => q.size - p.size || Number(q.bold) - Number(p.bold))
    .map((block) => block.style);
  const headings = blocks.filter((block) => block.kind === 'heading');
  const levels = rankHeadingLevels(headings.map((block) => styles.indexOf(block.style)));
  let next = 0;
  return blocks
    .map((block) => {
      if (block.kind === 'heading') return `${'#'.repeat(Math.min(levels[next++] ?? 6, 6))} ${block.text}`;
      if (block.kind === 'table') return tableMarkdown(block.rows);
      return block.text;
    })
    .filter((text) => text !== '')
    .join('\n\n');
}

/** The font size most characters are set in. */
function bodySize(lines: readonly Line[]): number {
  const chars = new Map<number, number>();
  for (const line of lines) chars.set(line.size, (chars.get(line.size) ?? 0) + line.text.length);
  return [...chars.entries()].sort((p, q) => q[1] - p[1] || p[0] - q[0])[0]?.[0] ?? 0;
}

function headingStyle(line: Line, body: number): string | undefined {
  if (line.cells.length !== 1 || line.text.length > MAX_HEADING_CHARS || !/\p{L}/u.test(line.text) || BULLET.test(line.text)) return undefined;
  if (line.size >= body * HEADING_SIZE_RATIO) return `${line.size}|${line.bold}`;
  const sentenceLike = /[.,;:!?]$/.test(line.text) || line.text.length > MAX_BOLD_HEADING_CHARS;
  if (line.bold && line.size >= body * 0.95 && !sentenceLike) return `${line.size}|bold`;
  return undefined;
}

function toBlocks(lines: readonly Line[], body: number): Block[] {
  const blocks: Block[] = [];
  let paragraph: string[] = [];
  let previous: Line | undefined;
  const flush = () => {
    if (paragraph.length > 0) blocks.push({ kind: 'text', text: paragraph.map(escapeLineStart).join('\n') });
    paragraph = [];
  };

  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (line.table !== undefined) {
      flush();
      const last = blocks[blocks.length - 1];
      // A table broken by a page break goes on as the first thing on the next page; a header row
      // repeated there is dropped.
      if (last?.kind === 'table' && previous?.table !== undefined && previous.page === line.page - 1 && last.rows[0]?.length === line.table[0]?.length) {
        const header = last.rows[0]?.join('\u0000');
        last.rows.push(...line.table.filter((row, index) => index > 0 || row.join('\u0000') !== header));
      } else blocks.push({ kind: 'table', rows: line.table.map((row) => [...row]) });
      previous = line;
      continue;
    }
    const style = headingStyle(line, body);
    if (style !== undefined) {
      // A long heading wraps: following lines in the same style, just below, belong to it.
      const parts = [line];
      while (parts.length < MAX_HEADING_LINES) {
        const following = lines[i + parts.length];
        const last = parts[parts.length - 1]!;
        if (following === undefined || following.page !== last.page || headingStyle(following, body) !== style || last.y - following.y > line.size * PARAGRAPH_GAP) break;
        parts.push(following);
      }
      flush();
      blocks.push({ kind: 'heading', style, size: line.size, bold: line.bold, text: parts.map((part) => part.text).join(' ') });
      i += parts.length - 1;
      previous = parts[parts.length - 1];
      continue;
    }

    const table = tableAt(lines, i);
    if (table !== undefined) {
      flush();
      blocks.push({ kind: 'table', rows: table.rows });
      i = table.end - 1;
      previous = lines[i];
      continue;
    }

    const text = line.cells.length > 1 ? line.cells.map((cell) => cell.text).join(' \u00b7 ') : line.text;
    const bullet = BULLET.exec(text);
    const last = paragraph[paragraph.length - 1];
    // A paragraph that does not end a sentence at the foot of a page goes on at the top of the next.
    const runsOn = previous !== undefined && previous.page !== line.page && last !== undefined && !/[.!?:]$/.test(last) && Math.abs(previous.size - line.size) <= 0.5;
    const startsParagraph =
      !runsOn &&
      (previous === undefined ||
        previous.page !== line.page ||
        previous.y - line.y > Math.max(previous.size, line.size) * PARAGRAPH_GAP ||
        Math.abs(previous.size - line.size) > 0.5 ||
        /^\d{1,2}[.)]\s/.test(text));
    if (bullet !== null) {
      // List items stay together in one block; anything else before them ends.
      if (!paragraph[0]?.startsWith('- ')) flush();
      paragraph.push(`- ${text.slice(bullet[0].length)}`);
    } else if (startsParagraph || last === undefined) {
      flush();
      paragraph.push(text);
    } else paragraph[paragraph.length - 1] = joinWrapped(last, text);
    previous = line;
  }
  flush();
  return blocks;
}

/** Join a wrapped line to the one before it, undoing a hyphen that split a word. */
function joinWrapped(before: string, after: string): string {
  if (/\p{Ll}-$/u.test(before) && /^\p{Ll}/u.test(after)) return before.slice(0, -1) + after;
  return `${before} ${after}`;
}

/**
 * The table starting at `lines[start]`, if any: two or more lines of several cells, and between
 * them lines that continue a wrapped cell. Cells are placed in columns by where they start.
 */
function tableAt(lines: readonly Line[], start: number): { rows: string[][]; end: number } | undefined {
  const first = lines[start];
  if (first === undefined || first.cells.length < 2) return undefined;
  const members: Line[] = [first];
  // Lines that can only be part of the table if a row follows them.
  const tentative = new Set<Line>();
  let end = start + 1;
  for (; end < lines.length; end += 1) {
    const line = lines[end]!;
    const last = members[members.length - 1]!;
    if (line.page !== last.page || last.y - line.y > Math.max(line.size, last.size) * 2.5) break;
    if (line.cells.length >= 2) {
      members.push(line);
      continue;
    }
    // A single piece of text is a wrapped cell's next line when it fits in one column: it starts
    // at a column and ends before the next one (a paragraph after the table runs across them).
    const cell = line.cells[0];
    // A line in another size, or bold among regular rows, is a heading after the table.
    if (cell === undefined || Math.abs(line.size - last.size) > 0.5 || (line.bold && !last.bold)) break;
    const anchors = columnAnchors(members, first.size);
    const column = anchors.findIndex((anchor) => Math.abs(anchor - cell.x) <= line.size * CELL_GAP);
    const nextAnchor = anchors[column + 1];
    const fits = column !== -1 && (nextAnchor === undefined || cell.end <= nextAnchor);
    const tight = last.y - line.y <= Math.max(line.size, last.size) * PARAGRAPH_GAP;
    const next = lines[end + 1];
    const rowFollows = next !== undefined && next.page === line.page && next.cells.length >= 2 && line.y - next.y < line.size * 2.5;
    if (fits && (tight || column > 0)) members.push(line);
    else if (rowFollows) {
      members.push(line);
      tentative.add(line);
    } else break;
  }
  while (members.length > 0 && tentative.has(members[members.length - 1]!)) {
    members.pop();
    end -= 1;
  }
  const multi = members.filter((line) => line.cells.length >= 2);
  if (multi.length < 2) return undefined;

  const anchors = columnAnchors(members, first.size);
  if (anchors.length < 2 || anchors.length > MAX_TABLE_COLUMNS) return undefined;
  const rows: string[][] = [];
  for (const line of members) {
    const row: string[] = anchors.map(() => '');
    for (const cell of line.cells) {
      const column = columnOf(anchors, cell.x, line.size);
      row[column] = row[column] === '' ? cell.text : `${row[column]} ${cell.text}`;
    }
    const previousRow = rows[rows.length - 1];
    // No text in the first column: the line continues the row above (a cell wrapped onto it).
    if (previousRow !== undefined && row[0] === '') {
      row.forEach((text, column) => {
        if (text !== '') previousRow[column] = previousRow[column] === '' ? text : `${previousRow[column]} ${text}`;
      });
    } else if (previousRow !== undefined && line.cells.length === 1) {
      previousRow[0] = `${previousRow[0]} ${row[0]}`;
    } else rows.push(row);
  }
  return { rows, end };
}

/** Column start positions: cell starts that line up (within a font size) across the rows. */
function columnAnchors(lines: readonly Line[], size: number): number[] {
  const starts = lines
    .filter((line) => line.cells.length >= 2)
    .flatMap((line) => line.cells.map((cell) => cell.x))
    .sort((a, b) => a - b);
  const anchors: number[] = [];
  for (const x of starts) {
    const last = anchors[anchors.length - 1];
    if (last === undefined || x - last > size * CELL_GAP) anchors.push(x);
  }
  return anchors;
}

function columnOf(anchors: readonly number[], x: number, size: number): number {
  let column = 0;
  anchors.forEach((anchor, index) => {
    if (x >= anchor - size * CELL_GAP) column = index;
  });
  return column;
}

function tableMarkdown(rows: readonly string[][]): string {
  const width = Math.max(...rows.map((row) => row.length));
  const line = (cells: readonly string[]) => `| ${Array.from({ length: width }, (_, i) => (cells[i] ?? '').replace(/\|/g, '\\|')).join(' | ')} |`;
  const [header = [], ...body] = rows;
  return [line(header), `|${' --- |'.repeat(width)}`, ...body.map(line)].join('\n');
}

function escapeLineStart(line: string): string {
  return line.replace(/^(#|`{3}|~{3})/, '\\$1');
}

/**
 * pdf.js 5 passes font data between its layers with `ArrayBuffer.prototype.transferToFixedLength`
 * (Node 21+). On Node 20 fonts then never reach the page, and with them the bold signal; a copy
 * has the same result for pdf.js. Defined only where missing, in the converter thread.
 */
function ensureTransferToFixedLength(): void {
  if ('transferToFixedLength' in ArrayBuffer.prototype) return;
  Object.defineProperty(ArrayBuffer.prototype, 'transferToFixedLength', {
    configurable: true,
    writable: true,
    value(this: ArrayBuffer, length: number = this.byteLength): ArrayBuffer {
      const copy = new ArrayBuffer(length);
      new Uint8Array(copy).set(new Uint8Array(this, 0, Math.min(length, this.byteLength)));
      return copy;
    },
  });
}

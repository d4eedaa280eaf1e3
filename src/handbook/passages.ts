/**
 * Splitting a section's markdown into passages of a few hundred words: the unit that is searched,
 * shown and handed to the model. A passage never crosses a section (so it keeps its heading path),
 * breaks fall between paragraphs, lists and tables, and an over-long table, list or paragraph is
 * split between rows, items or sentences, each table part repeating the table's header.
 */

/** Limits of {@link splitPassages}. */
export interface PassageLimits {
  /** A passage grows by whole blocks up to this many words. Default 200. */
  maxWords: number;
  /** A last passage shorter than this joins the one before, if together they stay under 1.25 × maxWords. Default 40. */
  minWords: number;
}

export const DEFAULT_PASSAGE_LIMITS: PassageLimits = { maxWords: 200, minWords: 40 };

type BlockKind = 'paragraph' | 'list' | 'table' | 'code';
interface Block { kind: BlockKind; lines: string[] }

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const LIST_ITEM = /^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+/;
const TABLE_SEPARATOR = /^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

/** Words that carry meaning (table pipes and list markers do not count). */
export function wordCount(text: string): number {
  let count = 0;
  for (const token of text.split(/\s+/)) if (/[\p{L}\p{N}]/u.test(token)) count += 1;
  return count;
}

/** The passages of one section body, in order; an empty body has none. */
export function splitPassages(body: string, limits: PassageLimits = DEFAULT_PASSAGE_LIMITS): string[] {
  const blocks = glueLeadIns(parseBlocks(body));
  const pieces = blocks.flatMap((block) => splitBlock(block, limits.maxWords));
  const passages: string[] = [];
  let current: string[] = [];
  let words = 0;
  for (const piece of pieces) {
    const size = wordCount(piece);
    if (current.length > 0 && words + size > limits.maxWords) {
      passages.push(current.join('\n\n'));
      current = [];
      words = 0;
    }
    current.push(piece);
    words += size;
  }
  if (current.length > 0) {
    const last = current.join('\n\n');
    const previous = passages.at(-1);
    if (previous !== undefined && words < limits.minWords && wordCount(previous) + words <= limits.maxWords * 1.25) {
      passages[passages.length - 1] = `${previous}\n\n${last}`;
    } else {
      passages.push(last);
    }
  }
  return passages;
}

function parseBlocks(body: string): Block[] {
  const lines = body.split('\n');
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line)?.[1];
    if (fence !== undefined) {
      const block: Block = { kind: 'code', lines: [line] };
      i += 1;
      while (i < lines.length) {
        const inner = lines[i]!;
        block.lines.push(inner);
        i += 1;
        const marker = FENCE.exec(inner)?.[1];
        if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length && inner.trim() === marker) break;
      }
      blocks.push(block);
      continue;
    }
    if (line.includes('|') && TABLE_SEPARATOR.test(lines[i + 1]?.trim() ?? '')) {
      const block: Block = { kind: 'table', lines: [line, lines[i + 1]!] };
      i += 2;
      while (i < lines.length && lines[i]!.includes('|') && lines[i]!.trim() !== '') {
        block.lines.push(lines[i]!);
        i += 1;
      }
      blocks.push(block);
      continue;
    }
    if (LIST_ITEM.test(line)) {
      const block: Block = { kind: 'list', lines: [] };
      // Items, their indented continuations, and blank lines between items belong to one list.
      while (i < lines.length) {
        const current = lines[i]!;
        if (LIST_ITEM.test(current) || (current.trim() !== '' && /^\s+\S/.test(current))) {
          block.lines.push(current);
          i += 1;
          continue;
        }
        if (current.trim() === '' && LIST_ITEM.test(lines[i + 1] ?? '')) {
          i += 1;
          continue;
        }
        // A lazy continuation line (not indented) of the last item.
        if (current.trim() !== '' && !FENCE.test(current) && !current.includes('|') && block.lines.length > 0 && lines[i - 1]?.trim() !== '') {
          block.lines.push(current);
          i += 1;
          continue;
        }
        break;
      }
      blocks.push(block);
      continue;
    }
    const block: Block = { kind: 'paragraph', lines: [] };
    while (i < lines.length) {
      const current = lines[i]!;
      if (current.trim() === '' || FENCE.test(current) || LIST_ITEM.test(current)) break;
      if (current.includes('|') && TABLE_SEPARATOR.test(lines[i + 1]?.trim() ?? '')) break;
      block.lines.push(current);
      i += 1;
    }
    blocks.push(block);
  }
  return blocks;
}

/** A paragraph introducing a list or table ("Sick days may also be used for:") stays with it. */
function glueLeadIns(blocks: Block[]): Block[][] {
  const groups: Block[][] = [];
  for (let i = 0; i < blocks.length; i += 1) {
    const block = blocks[i]!;
    const next = blocks[i + 1];
    const text = block.lines.join(' ').trim();
    if (block.kind === 'paragraph' && next !== undefined && (next.kind === 'list' || next.kind === 'table') && (text.endsWith(':') || wordCount(text) <= 15)) {
      groups.push([block, next]);
      i += 1;
    } else {
      groups.push([block]);
    }
  }
  return groups;
}

/** A group of blocks as text, split into pieces of at most `maxWords` where it is longer. */
function splitBlock(group: Block[], maxWords: number): string[] {
  const text = group.map((block) => block.lines.join('\n')).join('\n\n');
  if (wordCount(text) <= maxWords) return [text];
  const pieces: string[] = [];
  for (const block of group) {
    const own = block.lines.join('\n');
    if (wordCount(own) <= maxWords) {
      pieces.push(own);
      continue;
    }
    switch (block.kind) {
      case 'table':
        pieces.push(...packLines(block.lines.slice(2), maxWords, block.lines.slice(0, 2)));
        break;
      case 'list':
        pieces.push(...packLines(listItems(block.lines), maxWords, []));
        break;
      case 'code':
        pieces.push(...packLines(block.lines, maxWords, []));
        break;
      case 'paragraph':
        pieces.push(...packLines(sentences(own), maxWords, [], ' '));
        break;
    }
  }
  return pieces;
}

/** Greedy packing of units (rows, items, sentences) into pieces of at most `maxWords`, each starting with `header`. */
function packLines(units: readonly string[], maxWords: number, header: readonly string[], joiner = '\n'): string[] {
  const headerWords = wordCount(header.join(' '));
  const pieces: string[] = [];
  let current: string[] = [];
  let words = headerWords;
  for (const unit of units) {
    const size = wordCount(unit);
    if (current.length > 0 && words + size > maxWords) {
      pieces.push([...header, ...current].join(joiner));
      current = [];
      words = headerWords;
    }
    current.push(unit);
    words += size;
  }
  if (current.length > 0) pieces.push([...header, ...current].join(joiner));
  return pieces;
}

/** List lines grouped per item (an item with its continuation lines). */
function listItems(lines: readonly string[]): string[] {
  const items: string[] = [];
  for (const line of lines) {
    if (LIST_ITEM.test(line) || items.length === 0) items.push(line);
    else items[items.length - 1] = `${items[items.length - 1]!}\n${line}`;
  }
  return items;
}

function sentences(text: string): string[] {
  return text
    .replace(/\s*\n\s*/g, ' ')
    .split(/(?<=[.!?])\s+(?=[\p{Lu}\p{N}"'(*_[])/u)
    .filter((sentence) => sentence.trim() !== '');
}

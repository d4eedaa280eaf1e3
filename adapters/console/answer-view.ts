import type { Writable } from 'node:stream';
import type { Progress, Reply } from '../../src/message.ts';
import { renderLiteral, renderMarkdownBlocks, renderReplyBlocks } from './render-text.ts';
import type { RenderOptions } from './render-text.ts';

/** How an answer is drawn. */
export interface AnswerViewOptions extends RenderOptions {
  /** A terminal: a status line and streamed text are drawn and redrawn in place. Otherwise only the final reply is written. */
  live: boolean;
  /** Terminal rows: what is redrawn must fit on screen, since the cursor cannot move into the scrollback. */
  rows: number;
}

// ANSI cursor control: to column 0, up n rows, clear to the end of the screen.
const COLUMN_ZERO = '\r';
const up = (rows: number) => (rows > 0 ? `\u001b[${rows}A` : '');
const CLEAR_BELOW = '\u001b[J';

/**
 * One answer on a terminal: the engine's status line ("Looking that up…"), then an AI answer as it
 * streams, then the final reply, which always wins. Blocks of the streamed text that are complete
 * (a line, a list item, a table once the next block starts) are printed once; only the last block
 * is redrawn as it grows. If the final reply differs from what streamed (a stream that failed half
 * way and fell back to handbook excerpts), what streamed is erased where it is still on screen and
 * the reply printed in full.
 */
export class AnswerView {
  readonly #output: Writable;
  readonly #options: AnswerViewOptions;
  #streamed = '';
  /** Blocks printed for good, as rendered. */
  readonly #committed: string[][] = [];
  #committedRows = 0;
  /** Rows of the redrawable tail (status or last block) on screen; the cursor is at the end of its last row. */
  #liveRows = 0;

  constructor(output: Writable, options: AnswerViewOptions) {
    this.#output = output;
    this.#options = options;
  }

  /** Engine progress: a status line, or more streamed text. Never throws. */
  progress(progress: Progress): void {
    if (!this.#options.live) return;
    if (progress.type === 'status') {
      if (this.#streamed !== '') return;
      const status = renderLiteral(progress.text, { ...this.#options, lead: undefined, dim: true }).slice(0, 1);
      this.#write(this.#eraseLive() + status.join('\n'));
      this.#liveRows = status.length;
      return;
    }
    this.#streamed += progress.text;
    this.#draw();
  }

  /** The final reply (null: nothing to show, e.g. a redelivery). The cursor ends at the start of a new line. */
  finish(reply: Reply | null): void {
    if (reply === null) {
      this.#write(this.#eraseLive());
      return;
    }
    const blocks = renderReplyBlocks(reply, this.#options);
    const printed = this.#committed.length;
    const agrees = this.#committed.every((block, index) => sameLines(block, blocks[index]));
    let out: string;
    let rest: string[][];
    if (agrees) {
      out = this.#eraseLive();
      rest = blocks.slice(printed);
    } else if (this.#committedRows + this.#liveRows <= this.#options.rows - 1) {
      // Everything that streamed is still on screen: erase it all and print the reply in its place.
      out = COLUMN_ZERO + up(this.#committedRows + Math.max(0, this.#liveRows - 1)) + CLEAR_BELOW;
      rest = blocks;
    } else {
      out = this.#eraseLive() + renderLiteral('(The answer changed while it was written; here it is in full.)', { ...this.#options, lead: undefined, dim: true }).join('\n') + '\n';
      rest = blocks;
    }
    this.#liveRows = 0;
    const lines = rest.flat();
    this.#write(out + (lines.length === 0 ? '' : `${lines.join('\n')}\n`));
  }

  #draw(): void {
    const blocks = renderMarkdownBlocks(this.#streamed.trimStart(), this.#options);
    const last = blocks.length === 0 ? [] : (blocks.at(-1) ?? []);
    const fresh = blocks.slice(this.#committed.length, Math.max(this.#committed.length, blocks.length - 1));
    const fits = last.length <= this.#options.rows - 1;
    // A last block taller than the screen cannot be redrawn in place: it stays as shown until it is complete.
    if (fresh.length === 0 && !fits) return;
    let out = this.#eraseLive();
    for (const block of fresh) {
      out += `${block.join('\n')}\n`;
      this.#committed.push(block);
      this.#committedRows += block.length;
    }
    if (fits) {
      out += last.join('\n');
      this.#liveRows = last.length;
    }
    this.#write(out);
  }

  /** Control codes that erase the tail (status or last block) and leave the cursor where it began. */
  #eraseLive(): string {
    if (this.#liveRows === 0) return '';
    const codes = COLUMN_ZERO + up(this.#liveRows - 1) + CLEAR_BELOW;
    this.#liveRows = 0;
    return codes;
  }

  #write(text: string): void {
    if (text !== '') this.#output.write(text);
  }
}

function sameLines(a: readonly string[], b: readonly string[] | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((line, index) => line === b[index]);
}

import { PassThrough } from 'node:stream';
import { WriteStream } from 'node:tty';

/**
 * A writable that says it is a terminal (isTTY, columns, rows) and plays what is written to it on
 * a small screen model, as a real terminal would: text overwrites cells, `\n` starts the next row
 * (the tty driver's onlcr), `\r` returns to column 0, `ESC[nA` moves up but never above the top of
 * the visible screen (rows scrolled away cannot be reached again), `ESC[J` clears to the end of the
 * screen, `ESC[K`/`ESC[2K` clear the row from the cursor/entirely, `ESC[nG` moves to column n (readline's
 * prompt redraws); SGR styles are dropped from the screen and kept in the raw log.
 * Only what the console adapter writes is understood; anything else fails the test.
 */
export class TerminalScreen extends PassThrough {
  readonly isTTY = true;
  // A real terminal's colour detection (TERM, NO_COLOR, NODE_DISABLE_COLORS, FORCE_COLOR): it reads only the
  // environment. It plays a person's terminal, so the CI runner's own CI variable (Node then reports 2 colours) is left out.
  getColorDepth(env: NodeJS.ProcessEnv = process.env): number {
    return WriteStream.prototype.getColorDepth.call(this, withoutCi(env));
  }

  hasColors(count?: number, env: NodeJS.ProcessEnv = process.env): boolean {
    return WriteStream.prototype.hasColors.call(this, count ?? 16, withoutCi(env));
  }

  readonly columns: number;
  readonly rows: number;
  /** Every chunk as written, ANSI codes included. */
  readonly writes: string[] = [];
  /** The screen text after each write, for asserting on what a person saw along the way. */
  readonly snapshots: string[] = [];
  /** Rows of text (scrollback included), the cursor, and the widest row ever drawn. */
  #lines: string[][] = [[]];
  #row = 0;
  #column = 0;
  widest = 0;

  constructor(columns: number, rows: number) {
    super();
    this.columns = columns;
    this.rows = rows;
    this.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.writes.push(text);
      this.#play(text);
      this.snapshots.push(this.text());
    });
  }

  /** Everything on screen and in the scrollback, trailing spaces and empty rows at the end removed. */
  text(): string {
    return this.#lines
      .map((line) => line.join('').trimEnd())
      .join('\n')
      .replace(/\n+$/, '');
  }

  #play(text: string): void {
    // eslint-disable-next-line no-control-regex -- reading escape sequences is the point
    for (const match of text.matchAll(/\u001b\[([\d;]*)([A-Za-z])|\r|\n|[^\u001b\r\n]/gu)) {
      const token = match[0];
      if (match[2] !== undefined) {
        const argument = Number(match[1] === '' ? '1' : match[1]);
        if (match[2] === 'm') continue;
        if (match[2] === 'A') {
          const top = Math.max(0, this.#lines.length - this.rows);
          this.#row = Math.max(top, this.#row - argument);
        } else if (match[2] === 'J') {
          this.#current().length = this.#column;
          this.#lines.length = this.#row + 1;
        } else if (match[2] === 'K') {
          // 0 (or none): from the cursor to the end of the row; 2: the whole row.
          if (match[1] === '2') this.#current().length = 0;
          else this.#current().length = Math.min(this.#current().length, this.#column);
        } else if (match[2] === 'G') {
          this.#column = argument - 1;
        } else {
          throw new Error(`unexpected control sequence ${JSON.stringify(token)}`);
        }
      } else if (token === '\r') {
        this.#column = 0;
      } else if (token === '\n') {
        this.#row++;
        this.#column = 0;
        while (this.#lines.length <= this.#row) this.#lines.push([]);
      } else {
        const line = this.#current();
        while (line.length < this.#column) line.push(' ');
        line[this.#column++] = token;
        this.widest = Math.max(this.widest, this.#column);
      }
    }
  }

  #current(): string[] {
    while (this.#lines.length <= this.#row) this.#lines.push([]);
    return this.#lines[this.#row]!;
  }
}

/** The environment without the CI markers Node's colour detection reads. */
function withoutCi(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { CI: _ci, ...rest } = env;
  return rest;
}

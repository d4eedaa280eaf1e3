import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { IncomingMessage, Reply, ReplyHooks } from '../../src/message.ts';
import { AnswerView } from './answer-view.ts';
import { DEFAULT_WIDTH, renderLiteral, renderMarkdownBlocks } from './render-text.ts';

/** The one engine call the console needs. */
export interface MessageHandler {
  handle(message: IncomingMessage, hooks?: ReplyHooks): Promise<Reply | null>;
}

/** Options for {@link runConsole}. Streams are injectable so tests push lines instead of faking a terminal. */
export interface ConsoleOptions {
  engine: MessageHandler;
  input: Readable;
  /** Where the chat goes. A terminal (`isTTY`, `columns`, `rows`) gets a status line, streamed answers and styles. */
  output: Writable;
  /** The local user id the messages come from. */
  user: string;
  /** A person typing: a greeting and a prompt. Otherwise each answer is preceded by the line it answers. */
  interactive: boolean;
  /** ANSI styles; default when the output is a terminal that has colours (Node's `hasColors()`: off with NO_COLOR, NODE_DISABLE_COLORS or TERM=dumb). */
  color?: boolean;
  /** Where the logs go, said once in the greeting. */
  logFile?: string;
}

const TENANT = 'local';
const CONVERSATION = 'console';
const YOU = 'you › ';
const BOT = 'hrbot › ';
/** Rows when the output says nothing of its size (a pipe, a file). */
const DEFAULT_ROWS = 24;

/** The terminal-facing parts of a writable stream, when it is a terminal. */
interface TerminalLike {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  hasColors?(): boolean;
}

/**
 * Chat with the engine on the terminal: one message per line, each answered before the next is
 * read, so replies come out in order. Resolves when the input ends.
 */
export async function runConsole(options: ConsoleOptions): Promise<void> {
  const { engine, input, output, user, interactive } = options;
  const terminal = output as Writable & TerminalLike;
  const live = terminal.isTTY === true;
  const color = options.color ?? (live && terminal.hasColors?.() === true);
  // Read per answer: a terminal window can be resized between two questions.
  const layout = () => ({
    color,
    width: positive(terminal.columns) ?? DEFAULT_WIDTH,
    rows: positive(terminal.rows) ?? DEFAULT_ROWS,
  });
  const prompt = color ? `\u001b[1m${YOU.trimEnd()}\u001b[0m ` : YOU;
  const lines = createInterface({ input, ...(interactive ? { output, prompt } : {}), terminal: interactive, crlfDelay: Infinity });
  if (interactive) {
    output.write(`${greeting(options.logFile, layout()).join('\n')}\n\n`);
    lines.prompt();
  }
  for await (const line of lines) {
    if (line.trim() === '') {
      if (interactive) lines.prompt();
      continue;
    }
    // Keystrokes typed while an answer is drawn would be echoed into it: they wait until the next prompt.
    if (interactive) lines.pause();
    // Piped in, the question is not on screen: echo it, so a transcript reads as a conversation.
    else output.write(`${renderLiteral(line, { ...layout(), lead: YOU }).join('\n')}\n`);
    const view = new AnswerView(output, { ...layout(), live, lead: BOT });
    const reply = await engine.handle(
      {
        platform: 'console',
        tenantId: TENANT,
        userId: user,
        conversationId: CONVERSATION,
        conversationKind: 'dm',
        privateReplies: true,
        text: line,
        eventId: randomUUID(),
      },
      live ? { onProgress: (progress) => view.progress(progress) } : undefined,
    );
    view.finish(reply);
    output.write('\n');
    if (interactive) lines.prompt();
  }
  // Ctrl+D leaves the cursor after the prompt: end the line so the shell's prompt starts clean.
  if (interactive) output.write('\n');
}

function greeting(logFile: string | undefined, layout: { color: boolean; width: number }): string[] {
  const hello = renderMarkdownBlocks("Hi! I'm the HR assistant. Ask me about our HR policies in your own words, or type `/hr help`.", {
    ...layout,
    lead: BOT,
  }).flat();
  const leave = logFile === undefined ? 'Ctrl+D to leave.' : `Ctrl+D to leave. Logs go to ${logFile}.`;
  return [...hello, ...renderLiteral(leave, { ...layout, dim: true })];
}

function positive(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}

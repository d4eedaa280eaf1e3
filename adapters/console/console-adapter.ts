import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { IncomingMessage, Reply, ReplyHooks } from '../../src/message.ts';
import { renderText } from './render-text.ts';

/** The one engine call the console needs. */
export interface MessageHandler {
  handle(message: IncomingMessage, hooks?: ReplyHooks): Promise<Reply | null>;
}

/** Options for {@link runConsole}. Streams are injectable so tests push lines instead of faking a terminal. */
export interface ConsoleOptions {
  engine: MessageHandler;
  input: Readable;
  output: Writable;
  /** The local user id the messages come from. */
  user: string;
  /** Prompt and colours for a person at a terminal; plain line-in, reply-out otherwise. */
  interactive: boolean;
}

const TENANT = 'local';
const CONVERSATION = 'console';

/**
 * Chat with the engine on the terminal: one message per line, each answered before the next is
 * read, so replies come out in order. Resolves when the input ends.
 */
export async function runConsole(options: ConsoleOptions): Promise<void> {
  const { engine, input, output, user, interactive } = options;
  const write = (text: string) => {
    output.write(`${text}\n`);
  };
  const lines = createInterface({ input, ...(interactive ? { output, prompt: 'you › ' } : {}), terminal: interactive, crlfDelay: Infinity });
  if (interactive) {
    write("hrbot: Hi! I'm the HR assistant. Ask me anything about our HR policies, or type /hr help. Ctrl+D to leave.");
    lines.prompt();
  }
  for await (const line of lines) {
    if (line.trim() === '' && !interactive) continue;
    const reply = await engine.handle({
      platform: 'console',
      tenantId: TENANT,
      userId: user,
      conversationId: CONVERSATION,
      conversationKind: 'dm',
      privateReplies: true,
      text: line,
      eventId: randomUUID(),
    });
    if (reply !== null) write(interactive ? `hrbot: ${renderText(reply, { color: true })}\n` : `${renderText(reply, { color: false })}\n`);
    if (interactive) lines.prompt();
  }
}

/* eslint-disable no-control-regex -- ANSI escape codes are what these tests look for */
// The terminal chat on a terminal: a status line while an answer is prepared, AI answers streamed
// from the (fake) Bedrock as they arrive, and the final reply always what stays on screen.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { runConsole } from '../adapters/console/console-adapter.ts';
import { renderText } from '../adapters/console/render-text.ts';
import type { IncomingMessage, Reply, ReplyHooks } from '../src/message.ts';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock } from './fakes/fake-bedrock.ts';
import { startTempBot } from './support/temp-bot.ts';
import type { TempBot } from './support/temp-bot.ts';
import { TerminalScreen } from './support/terminal-screen.ts';

const MODEL_ID = 'anthropic.claude-3-haiku-20240307-v1:0';
const QUESTION = 'how many vacation days do I get?';
const ANSWER = [
  'You get **20 days** of PTO a year in your first two years in the US, and 23 in Ireland [1]:',
  '',
  '| Tenure | US employees | Ireland employees |',
  '| --- | --- | --- |',
  '| Less than 2 years | 20 days | 23 days |',
  '| 2 to 5 years | 22 days | 25 days |',
  '| More than 5 years | 25 days | 27 days |',
  '',
  '- Part-time employees accrue PTO _pro rata_ to their contracted hours, so someone on three days a week accrues 12 days.',
  '- Ask `/hr contact pto` for help.',
].join('\n');
const SGR = /\u001b\[[\d;]*m/;

async function withAiBot(body: (fake: FakeBedrock, bot: TempBot) => Promise<void>): Promise<void> {
  // Small chunks, a little apart: the answer arrives in many deltas, as a real model's does.
  const fake = await startFakeBedrock({ chunkChars: 9, chunkDelayMs: 5, reply: () => ({ text: ANSWER, stopReason: 'end_turn' }) });
  const bot = startTempBot({
    ...bedrockEnv(fake.url, MODEL_ID),
  });
  try {
    await body(fake, bot);
  } finally {
    bot.close();
    await fake.close();
  }
}

/** Ask one question on `screen` (piped input, terminal output); returns the engine's final reply and the progress it reported. */
async function ask(bot: TempBot, screen: PassThrough, question = QUESTION, color?: boolean): Promise<{ reply: Reply; progress: string[] }> {
  const replies: Reply[] = [];
  const progress: string[] = [];
  // The real engine; this only records what it returned and reported.
  const engine = {
    handle: async (message: IncomingMessage, hooks?: ReplyHooks) => {
      const reply = await bot.core.engine.handle(
        message,
        hooks?.onProgress === undefined
          ? undefined
          : {
              onProgress: async (update) => {
                progress.push(update.type);
                await hooks.onProgress?.(update);
              },
            },
      );
      if (reply !== null) replies.push(reply);
      return reply;
    },
  };
  const input = new PassThrough();
  const done = runConsole({ engine, input, output: screen, user: 'pat', interactive: false, ...(color === undefined ? {} : { color }) });
  input.end(`${question}\n`);
  await done;
  assert.equal(replies.length, 1);
  return { reply: replies[0]!, progress };
}

/** What the screen must show once the answer is in: the question, then the reply as rendered. */
function expectedScreen(question: string, reply: Reply, width: number): string {
  return `you › ${question}\n${stripVTControlCharacters(renderText(reply, { color: true, width, lead: 'hrbot › ' }))}`;
}

describe('terminal chat on a terminal, AI on', () => {
  it('shows a status line, streams the answer as it arrives, and leaves exactly the final reply on screen', async () => {
    await withAiBot(async (_fake, bot) => {
      const screen = new TerminalScreen(60, 40);
      const { reply, progress } = await ask(bot, screen, QUESTION, true);
      assert.equal(reply.kind, 'answer');
      assert.ok(progress.filter((type) => type === 'delta').length > 10, 'the engine streamed the answer in many deltas');

      const status = screen.snapshots.findIndex((shown) => shown.endsWith('Looking that up…'));
      assert.ok(status >= 0, 'the status line was on screen');
      assert.ok(screen.writes.some((write) => write.includes('\u001b[2mLooking that up…')), 'dimmed');
      const partial = screen.snapshots.findIndex((shown) => shown.includes('You get') && !shown.includes('Ask /hr contact pto'));
      assert.ok(partial > status, 'part of the answer was on screen before the rest had arrived');
      assert.ok(!screen.snapshots[partial]!.includes('Looking that up…'), 'the status line gave way to the answer');
      const growing = screen.snapshots.filter((shown) => shown.includes('You get') && !shown.includes('Ask /hr contact pto'));
      assert.ok(new Set(growing).size > 3, 'the answer grew on screen in several steps');

      assert.equal(screen.text(), expectedScreen(QUESTION, reply, 60));
      assert.match(screen.text(), /^Tenure {13}US employees {2}Ireland employees$/m, 'the table in columns');
      assert.ok(screen.widest <= 60, `a line of ${screen.widest} columns on a 60-column terminal`);
      assert.ok(screen.writes.some((write) => SGR.test(write)), 'styled');
    });
  });

  it('replaces a stream that broke half way with the final (excerpts) reply', async () => {
    await withAiBot(async (fake, bot) => {
      fake.failNext(1, { kind: 'break-stream', afterChunks: 3 });
      const screen = new TerminalScreen(70, 200);
      const { reply } = await ask(bot, screen);
      assert.equal(reply.kind, 'excerpts');
      assert.ok(screen.snapshots.some((shown) => shown.includes('You get')), 'the broken stream was shown');
      assert.equal(screen.text(), expectedScreen(QUESTION, reply, 70), 'and then replaced by the reply');
      assert.doesNotMatch(screen.text(), /You get/);
    });
  });

  it('on a screen too short to redraw in place, still ends with the whole reply, nothing doubled', async () => {
    await withAiBot(async (fake, bot) => {
      // 5 rows: the table (5 lines) cannot be redrawn while it streams; it is printed once complete.
      const screen = new TerminalScreen(60, 5);
      const { reply } = await ask(bot, screen);
      assert.equal(screen.text(), expectedScreen(QUESTION, reply, 60));

      // A broken stream whose start has scrolled out of reach: a note, then the reply in full.
      fake.failNext(1, { kind: 'break-stream', afterChunks: 40 });
      const short = new TerminalScreen(60, 5);
      const { reply: fallback } = await ask(bot, short, 'how many vacation days do I have?');
      assert.equal(fallback.kind, 'excerpts');
      const text = short.text();
      const note = text.indexOf('(The answer changed while it was written;');
      assert.ok(note > 0, text);
      assert.equal(text.slice(text.indexOf('hrbot › ', note)), stripVTControlCharacters(renderText(fallback, { color: true, width: 60, lead: 'hrbot › ' })));
    });
  });

  it('styles a colour terminal, and writes no colour with NO_COLOR set, still showing the status and the stream', async () => {
    await withAiBot(async (_fake, bot) => {
      const saved = { TERM: process.env.TERM, NO_COLOR: process.env.NO_COLOR };
      const restore = (name: 'TERM' | 'NO_COLOR') => {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      };
      process.env.TERM = 'xterm-256color';
      try {
        delete process.env.NO_COLOR;
        const colour = new TerminalScreen(60, 40);
        await ask(bot, colour, 'how many vacation days do I get in Ireland?');
        assert.ok(colour.writes.some((write) => SGR.test(write)), 'styled by default on a colour terminal');

        process.env.NO_COLOR = '1';
        const screen = new TerminalScreen(60, 40);
        const { reply } = await ask(bot, screen);
        assert.ok(!screen.writes.some((write) => SGR.test(write)), 'no SGR code written');
        assert.ok(screen.snapshots.some((shown) => shown.endsWith('Looking that up…')));
        assert.ok(screen.snapshots.some((shown) => shown.includes('You get') && !shown.includes('Ask /hr contact pto')), 'streamed');
        assert.equal(screen.text(), `you › ${QUESTION}\n${renderText(reply, { color: false, width: 60, lead: 'hrbot › ' })}`);
      } finally {
        restore('TERM');
        restore('NO_COLOR');
      }
    });
  });

  it('writes plain text and no control codes at all when the output is not a terminal', async () => {
    await withAiBot(async (_fake, bot) => {
      const output = new PassThrough();
      let text = '';
      output.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      const { reply, progress } = await ask(bot, output);
      assert.deepEqual(progress, [], 'no progress asked for: nothing to draw it on');
      assert.doesNotMatch(text, /\u001b/);
      assert.equal(text, `you › ${QUESTION}\n${renderText(reply, { color: false, width: 80, lead: 'hrbot › ' })}\n\n`);
    });
  });
});

describe('terminal chat typed at a terminal', () => {
  it('greets once, naming the log file, then prompts; each answer follows its question', async () => {
    const bot = startTempBot();
    try {
      const screen = new TerminalScreen(70, 30);
      const input = new PassThrough();
      const done = runConsole({ engine: bot.core.engine, input, output: screen, user: 'pat', interactive: true, logFile: 'data/hrbot.log' });
      input.write('/hr contact payroll\r');
      // Typed (not piped): the line is answered while the input stays open.
      const deadline = Date.now() + 10_000;
      while (!screen.text().includes('payroll@northwind.example') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      input.end();
      await done;
      const text = screen.text();
      assert.equal(text.split('data/hrbot.log').length - 1, 1, 'the log file is named once');
      assert.match(text, /^hrbot › Hi! I'm the HR assistant\./);
      assert.match(text, /\n\nyou › \/hr contact payroll\nhrbot › Who to contact about payroll\n• Payroll: Payroll team, payroll@northwind\.example, #ask-payroll\n\nyou ›$/);
      assert.ok(screen.widest <= 70);
    } finally {
      bot.close();
    }
  });
});

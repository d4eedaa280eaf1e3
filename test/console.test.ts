/* eslint-disable no-control-regex -- ANSI escape codes are what these tests look for */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { runConsole } from '../adapters/console/console-adapter.ts';
import { createLogger, openLogFile } from '../src/log/logger.ts';
import { outputLines, runMain } from './support/main-process.ts';
import { KNOWLEDGE_DIR, startTempBot, tempDir } from './support/temp-bot.ts';

/** The log lines of a file, parsed (every line must be JSON). */
function logFile(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Lines of the output that are JSON objects: log lines that escaped to the screen. */
function jsonLines(text: string): Array<Record<string, unknown>> {
  return outputLines(text).filter((line) => !('raw' in line));
}

/** The `you › ` lines of a transcript, and what follows each up to the next. */
function turns(transcript: string): Array<{ asked: string; answer: string }> {
  return transcript
    .split(/^you › /m)
    .slice(1)
    .map((turn) => {
      const [asked = '', ...rest] = turn.split('\n');
      return { asked, answer: rest.join('\n') };
    });
}

describe('console adapter', () => {
  it('piped: a transcript where each answer follows the line it answers; exits 0 at end of input', async () => {
    const dir = tempDir();
    try {
      const result = await runMain('/hr policy parental leave\n\nhow many vacation days do I get?\n/hr forget\n', {
        env: { DATABASE_PATH: join(dir.path, 'bot.db'), KNOWLEDGE_DIR, CONSOLE_USER: 'tester' },
      });
      assert.equal(result.code, 0, result.stderr);
      const conversation = turns(result.stdout);
      assert.deepEqual(
        conversation.map((turn) => turn.asked),
        ['/hr policy parental leave', 'how many vacation days do I get?', '/hr forget'],
        'the blank line is skipped, every other line is echoed in order',
      );
      assert.match(conversation[0]!.answer, /^hrbot › Handbook passages matching parental leave/);
      assert.match(conversation[0]!.answer, /parental-leave\.md/);
      assert.match(conversation[1]!.answer, /^hrbot › Handbook excerpts/);
      assert.match(conversation[1]!.answer, /pto\.md/);
      assert.match(conversation[2]!.answer, /erased everything stored about you/);
      assert.ok(result.stdout.startsWith('you › '), 'no greeting or prompt when piped');
    } finally {
      dir.remove();
    }
  });

  it('logs to hrbot.log next to the database, never to the screen, at the default level', async () => {
    const dir = tempDir();
    try {
      const result = await runMain('/hr holidays 2027\nhow many vacation days do I get?\n', {
        env: { DATABASE_PATH: join(dir.path, 'data', 'bot.db'), KNOWLEDGE_DIR, CONSOLE_USER: 'tester' },
      });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(jsonLines(result.stdout), [], 'no log line on standard output');
      assert.equal(result.stderr, '', 'nothing at all on standard error');
      const logs = logFile(join(dir.path, 'data', 'hrbot.log'));
      assert.ok(logs.some((line) => line.msg === 'handbook indexed'));
      assert.equal(logs.filter((line) => line.msg === 'message handled').length, 2, 'one line per answer, in the file');
      assert.ok(logs.every((line) => (line.level as number) >= 30), 'info by default');
    } finally {
      dir.remove();
    }
  });

  it('LOG_LEVEL still sets what the file gets: debug adds lines, warn removes the info ones', async () => {
    const dir = tempDir();
    try {
      const env = { KNOWLEDGE_DIR, CONSOLE_USER: 'tester' };
      const debug = await runMain('/hr contact payroll\n', { env: { ...env, DATABASE_PATH: join(dir.path, 'debug', 'bot.db'), LOG_LEVEL: 'debug' } });
      assert.equal(debug.code, 0, debug.stderr);
      assert.equal(debug.stderr, '');
      assert.ok(logFile(join(dir.path, 'debug', 'hrbot.log')).some((line) => line.level === 20 && line.msg === 'message received'));
      const warn = await runMain('/hr contact payroll\n', { env: { ...env, DATABASE_PATH: join(dir.path, 'warn', 'bot.db'), LOG_LEVEL: 'warn' } });
      assert.equal(warn.code, 0, warn.stderr);
      const path = join(dir.path, 'warn', 'hrbot.log');
      assert.deepEqual(existsSync(path) ? logFile(path).filter((line) => (line.level as number) < 40) : [], []);
    } finally {
      dir.remove();
    }
  });

  it('when the log file cannot be written, says so in one line and logs warnings to standard error', async () => {
    const dir = tempDir();
    try {
      mkdirSync(join(dir.path, 'hrbot.log')); // a folder where the file should be
      const result = await runMain('/hr contact payroll\n', { env: { DATABASE_PATH: join(dir.path, 'bot.db'), KNOWLEDGE_DIR, CONSOLE_USER: 'tester' } });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /^hrbot: cannot write the log file .*hrbot\.log \(EISDIR\); logging warnings and errors to standard error instead$/m);
      assert.deepEqual(
        jsonLines(result.stderr).filter((line) => (line.level as number) < 40),
        [],
        'no info lines on the screen',
      );
      assert.match(result.stdout, /payroll@northwind\.example/);
    } finally {
      dir.remove();
    }
  });

  it('exits with a message naming the variable when configuration is invalid', async () => {
    const result = await runMain('', { env: { PORT: 'not-a-port', RATE_LIMIT_PER_MINUTE: '0' } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /PORT/);
    assert.match(result.stderr, /RATE_LIMIT_PER_MINUTE/);
  });

  it('says clearly when the handbook folder is missing', async () => {
    const dir = tempDir();
    try {
      const result = await runMain('', { env: { DATABASE_PATH: join(dir.path, 'bot.db'), KNOWLEDGE_DIR: join(dir.path, 'nowhere') } });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^hrbot: KNOWLEDGE_DIR/m);
    } finally {
      dir.remove();
    }
  });

  it('runs on injected streams, one reply per line, plain text when the output is not a terminal', async () => {
    const bot = startTempBot();
    try {
      const input = new PassThrough();
      const output = new PassThrough();
      let text = '';
      output.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      const done = runConsole({ engine: bot.core.engine, input, output, user: 'streams', interactive: false, color: undefined });
      input.end('/hr contact benefits\n\n/hr holidays 2026\n');
      await done;
      assert.doesNotMatch(text, /\u001b/, 'no ANSI codes for a pipe');
      const conversation = turns(text);
      assert.deepEqual(
        conversation.map((turn) => turn.asked),
        ['/hr contact benefits', '/hr holidays 2026'],
      );
      assert.match(conversation[0]!.answer, /^hrbot › Who to contact about benefits\n- Benefits: Benefits team, benefits@northwind\.example/);
      assert.match(conversation[1]!.answer, /^hrbot › Company holidays 2026\n- Thu, Jan 1: New Year's Day/);
      for (const line of text.split('\n')) assert.ok(line.length <= 80, `${line} is wider than 80 columns`);
      assert.equal(bot.core.db.prepare('SELECT COUNT(*) FROM messages').pluck().get(), 0, 'lookups of contacts and holidays are not stored');
    } finally {
      bot.close();
    }
  });
});

describe('log file', () => {
  it('is bounded: a file over the limit when opened moves to .1 (replacing the older one), and a new one begins', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'logs', 'hrbot.log');
      mkdirSync(join(dir.path, 'logs'));
      writeFileSync(`${path}.1`, 'oldest\n');
      writeFileSync(path, 'x'.repeat(2_000));
      const log = createLogger({ destination: openLogFile(path, { maxBytes: 1_000 }) });
      log.info({ email: 'jane.doe@example.com' }, 'after rotation');
      assert.equal(readFileSync(`${path}.1`, 'utf8'), 'x'.repeat(2_000));
      const lines = logFile(path);
      assert.deepEqual(lines.map((line) => line.msg), ['after rotation']);
      assert.doesNotMatch(readFileSync(path, 'utf8'), /jane\.doe/, 'still through the redactor');
      // Under the limit, the file is appended to.
      createLogger({ destination: openLogFile(path, { maxBytes: 1_000 }) }).info('appended');
      assert.deepEqual(logFile(path).map((line) => line.msg), ['after rotation', 'appended']);
    } finally {
      dir.remove();
    }
  });
});

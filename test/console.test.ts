import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { runConsole } from '../adapters/console/console-adapter.ts';
import { KNOWLEDGE_DIR, startTempBot, tempDir } from './support/temp-bot.ts';

/** Run the bot as `npm start` does, feeding `input` on standard input. */
function startBot(input: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'adapters/main.ts'], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('console adapter', () => {
  it('answers piped lines in order and exits 0 at end of input, logs on stderr only', async () => {
    const dir = tempDir();
    try {
      const result = await startBot('/hr policy parental leave\nhow many vacation days do I get?\n/hr forget\n', {
        DATABASE_PATH: join(dir.path, 'bot.db'),
        KNOWLEDGE_DIR,
        CONSOLE_USER: 'tester',
      });
      assert.equal(result.code, 0, result.stderr);
      const out = result.stdout;
      const policy = out.indexOf('parental-leave.md');
      const vacation = out.indexOf('pto.md');
      const erased = out.indexOf('erased everything stored about you');
      assert.ok(policy >= 0 && vacation > policy && erased > vacation, out);
      assert.match(out, /Handbook excerpts/);
      assert.doesNotMatch(out, /"level":/, 'no log lines on standard output');
      assert.match(result.stderr, /handbook indexed/);
    } finally {
      dir.remove();
    }
  });

  it('exits with a message naming the variable when configuration is invalid', async () => {
    const result = await startBot('', { PORT: 'not-a-port', RATE_LIMIT_PER_MINUTE: '0' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /PORT/);
    assert.match(result.stderr, /RATE_LIMIT_PER_MINUTE/);
  });

  it('says clearly when the handbook folder is missing', async () => {
    const dir = tempDir();
    try {
      const result = await startBot('', { DATABASE_PATH: join(dir.path, 'bot.db'), KNOWLEDGE_DIR: join(dir.path, 'nowhere') });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /KNOWLEDGE_DIR/);
    } finally {
      dir.remove();
    }
  });

  it('runs on injected streams, one reply per line', async () => {
    const bot = startTempBot();
    try {
      const input = new PassThrough();
      const output = new PassThrough();
      let text = '';
      output.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      const done = runConsole({ engine: bot.core.engine, input, output, user: 'streams', interactive: false });
      input.end('/hr contact benefits\n\n/hr holidays 2026\n');
      await done;
      assert.match(text, /benefits@northwind\.example/);
      assert.match(text, /Company holidays 2026/);
      assert.equal(bot.core.db.prepare('SELECT COUNT(*) FROM messages').pluck().get(), 0, 'lookups of contacts and holidays are not stored');
    } finally {
      bot.close();
    }
  });
});

import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ENV_FILE_MAX_BYTES, loadEnvFile, parseEnvFile } from '../src/env-file.ts';
import { ConfigError } from '../src/errors.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import { outputLines, runMain, startMain } from './support/main-process.ts';
import { BOT_TOKEN, SIGNING_SECRET } from './support/slack-requests.ts';
import { KNOWLEDGE_DIR, tempDir } from './support/temp-bot.ts';

const EXAMPLE = new URL('../.env.example', import.meta.url).pathname;

/** A scratch project folder: a handbook in ./knowledge, and `.env` with the given text. */
function project(envText: string): { path: string; remove(): void } {
  const dir = tempDir('hrbot-env-');
  cpSync(KNOWLEDGE_DIR, join(dir.path, 'knowledge'), { recursive: true });
  writeFileSync(join(dir.path, '.env'), envText);
  return dir;
}

describe('parseEnvFile', () => {
  it('reads NAME=value lines, comments, export, quotes and CRLF', () => {
    const text = [
      '\uFEFF# a comment',
      '',
      'PLAIN=value with spaces  ',
      'EMPTY=',
      'export EXPORTED=yes',
      '  SPACED = around ',
      'HASH=a#b # and a comment',
      'SINGLE=\'kept # as is \\n\'',
      'DOUBLE="line\\nbreak \\"quoted\\"" # comment',
      'TWICE=first',
      'TWICE=second\r',
    ].join('\n');
    assert.deepEqual(parseEnvFile(text), {
      PLAIN: 'value with spaces',
      EMPTY: '',
      EXPORTED: 'yes',
      SPACED: 'around',
      HASH: 'a#b',
      SINGLE: 'kept # as is \\n',
      DOUBLE: 'line\nbreak "quoted"',
      TWICE: 'second',
    });
  });

  it('names the malformed line without echoing it', () => {
    const cases: Array<[string, number]> = [
      ['OK=1\nSECRETVALUE-without-equals\nNEXT=2', 2],
      ['1BAD=x', 1],
      ['A="unterminated secretvalue', 1],
      ["A='x' secretvalue", 1],
    ];
    for (const [text, line] of cases) {
      assert.throws(
        () => parseEnvFile(text, '/srv/hrbot/.env'),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, new RegExp(`^/srv/hrbot/\\.env line ${line}: `));
          assert.doesNotMatch(error.message, /secretvalue/i);
          return true;
        },
      );
    }
  });

  it('reads the shipped .env.example: every value empty or a default', () => {
    const values = parseEnvFile(readFileSync(EXAMPLE, 'utf8'));
    assert.equal(values.PORT, '3978');
    assert.equal(values.HOST, '');
    assert.equal(values.TEAMS_EMULATOR, 'false');
    assert.equal(values.MICROSOFT_APP_TYPE, '');
  });
});

describe('loadEnvFile', () => {
  it('fills only what the environment lacks, skips empty values, and ignores a missing file', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, '.env');
      writeFileSync(path, 'FROM_FILE=file\nSET_IN_ENV=file\nEMPTY_IN_ENV=file\nEMPTY_IN_FILE=\n');
      const env: NodeJS.ProcessEnv = { SET_IN_ENV: 'env', EMPTY_IN_ENV: '' };
      assert.deepEqual(loadEnvFile(path, env), ['FROM_FILE']);
      assert.deepEqual(env, { FROM_FILE: 'file', SET_IN_ENV: 'env', EMPTY_IN_ENV: '' });
      assert.equal(loadEnvFile(join(dir.path, 'missing.env'), env), undefined);
    } finally {
      dir.remove();
    }
  });

  it('refuses a file too large to be configuration, and one that cannot be read', () => {
    const dir = tempDir();
    try {
      const big = join(dir.path, 'big.env');
      writeFileSync(big, '#'.repeat(ENV_FILE_MAX_BYTES + 1));
      assert.throws(() => loadEnvFile(big, {}), ConfigError);
      const folder = join(dir.path, 'folder.env');
      mkdirSync(folder);
      assert.throws(() => loadEnvFile(folder, {}), (error: unknown) => error instanceof ConfigError && /cannot be read/.test(error.message));
    } finally {
      dir.remove();
    }
  });
});

describe('.env in the working directory of npm start', () => {
  it('the unedited .env.example as .env starts the terminal chat, which answers', async () => {
    const dir = project(readFileSync(EXAMPLE, 'utf8'));
    try {
      // Empty values in the real environment mean the default too (they once failed: MICROSOFT_APP_TYPE= and PORT=0).
      const result = await runMain('/hr policy parental leave\n', { cwd: dir.path, env: { MICROSOFT_APP_TYPE: '', PORT: '', CONSOLE_USER: 'tester' } });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /parental-leave\.md/);
      // The terminal chat logs to hrbot.log next to the database (the example's ./data/hrbot.db).
      const logs = outputLines(readFileSync(join(dir.path, 'data', 'hrbot.log'), 'utf8'));
      const read = logs.find((line) => line.msg === 'read .env from the working directory');
      assert.ok(read !== undefined, JSON.stringify(logs));
      assert.ok(Array.isArray(read.variables) && read.variables.includes('KNOWLEDGE_DIR'), 'the non-empty example values were applied');
    } finally {
      dir.remove();
    }
  });

  it('is read at start, and the real environment wins over it', async () => {
    const dir = project('KNOWLEDGE_DIR=./no-handbook-here\nCONSOLE_USER=from-dotenv\n');
    try {
      const fromFile = await runMain('/hr holidays 2026\n', { cwd: dir.path, env: {} });
      assert.equal(fromFile.code, 1, 'the .env KNOWLEDGE_DIR was used');
      assert.match(fromFile.stderr, /^hrbot: KNOWLEDGE_DIR/m);
      const overridden = await runMain('/hr holidays 2026\n', { cwd: dir.path, env: { KNOWLEDGE_DIR: './knowledge' } });
      assert.equal(overridden.code, 0, overridden.stderr);
      assert.match(overridden.stdout, /Company holidays 2026/);
    } finally {
      dir.remove();
    }
  });

  it('with Slack values in .env, starts the server on the .env HOST and PORT', async () => {
    const api = await new FakeSlackApi().start();
    const dir = project(
      [
        `SLACK_SIGNING_SECRET=${SIGNING_SECRET}`,
        `SLACK_BOT_TOKEN="${BOT_TOKEN}"`,
        `SLACK_API_URL=${api.apiUrl} # the fake Web API`,
        'PORT=0',
        'HOST=127.0.0.1',
        'DATABASE_PATH=./data/bot.db',
      ].join('\n'),
    );
    try {
      const bot = await startMain({ cwd: dir.path, env: {} });
      try {
        assert.equal(bot.started.slack, 'http');
        assert.equal(bot.started.host, '127.0.0.1');
        assert.equal((await fetch(`http://127.0.0.1:${bot.port}/healthz`, { signal: AbortSignal.timeout(5000) })).status, 200);
        assert.equal(api.callsOf('auth.test').length, 1, 'Slack was reached with the .env token');
        assert.equal(api.callsOf('auth.test')[0]!.token, BOT_TOKEN);
      } finally {
        const result = await bot.stop();
        assert.equal(result.code, 0, result.stderr);
      }
    } finally {
      await api.close();
      dir.remove();
    }
  });
});

// Every misconfiguration stops the start with one plain line naming the variable, the problem and the
// fix (and a log line), instead of starting something else, or starting without a word, or a stack trace.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { checkStartup, loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import { openDatabase } from '../src/store/database.ts';
import { describeListenError } from '../adapters/listen-error.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import { outputLines, runMain } from './support/main-process.ts';
import type { MainOptions, MainResult } from './support/main-process.ts';
import { BOT_TOKEN, SIGNING_SECRET } from './support/slack-requests.ts';
import { KNOWLEDGE_DIR, tempDir } from './support/temp-bot.ts';
import { listenOnLoopback } from './support/loopback-server.ts';

/** The plain `hrbot: ` lines a person at the terminal reads. */
function operatorLines(result: MainResult): string[] {
  return result.stderr.split('\n').filter((line) => line.startsWith('hrbot: '));
}

/** Assert the start failed with `code` and exactly one plain line, matching each of `patterns`; return it. */
function assertOneLine(result: MainResult, code: number, ...patterns: RegExp[]): string {
  assert.equal(result.code, code, `exit code\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  const lines = operatorLines(result);
  assert.equal(lines.length, 1, `one plain line:\n${result.stderr}`);
  const [line] = lines;
  for (const pattern of patterns) assert.match(line ?? '', pattern);
  assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(result.stdout, /hrbot listening|I'm the HR assistant/, 'nothing started');
  return line ?? '';
}

/** Run the bot in a fresh folder with `env` (on top of a handbook and a database there) until it exits. */
async function start(env: Record<string, string>, options: Partial<MainOptions> = {}): Promise<MainResult> {
  const dir = tempDir();
  try {
    return await runMain('/hr help\n', { env: { KNOWLEDGE_DIR, DATABASE_PATH: join(dir.path, 'hrbot.db'), CONSOLE_USER: 'tester', ...env }, ...options });
  } finally {
    dir.remove();
  }
}

/** The config checks the bot runs at start, on `env`. */
function check(env: Record<string, string>): string[] {
  return checkStartup(loadConfig(env));
}

describe('misconfiguration: Slack', () => {
  it('SLACK_BOT_TOKEN without SLACK_SIGNING_SECRET or SLACK_APP_TOKEN refuses to start (it opened the terminal chat)', async () => {
    const result = await start({ SLACK_BOT_TOKEN: BOT_TOKEN });
    assertOneLine(result, 2, /SLACK_BOT_TOKEN is set without SLACK_SIGNING_SECRET or SLACK_APP_TOKEN/, /Set SLACK_SIGNING_SECRET/, /unset SLACK_BOT_TOKEN/);
    assert.doesNotMatch(result.stderr, /xoxb-1111/, 'the token is not echoed');
  });

  it('a refused token and an unreachable Web API say different things, each with its fix', async () => {
    const api = await new FakeSlackApi().start();
    let refused: string;
    try {
      api.failNext('auth.test', { error: 'invalid_auth' });
      const result = await start({ SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: api.apiUrl, HOST: '127.0.0.1', PORT: '0' });
      refused = assertOneLine(result, 1, /SLACK_BOT_TOKEN was refused by Slack \(auth\.test answered invalid_auth\)/, /Bot User OAuth Token/);
    } finally {
      await api.close();
    }
    // A port nothing listens on: connection refused, retried by the client, then told.
    const closed = createServer();
    const port = await listenOnLoopback(closed);
    await new Promise((resolve) => closed.close(resolve));
    const apiUrl = `http://127.0.0.1:${port}/api/`;
    const result = await start({ SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: apiUrl, HOST: '127.0.0.1', PORT: '0' });
    const unreachable = assertOneLine(result, 1, /cannot reach the Slack Web API at http:\/\/127\.0\.0\.1:\d+\/api\/ \(ECONNREFUSED\)/, /SLACK_API_URL/);
    assert.notEqual(refused, unreachable);
    assert.doesNotMatch(unreachable, /refused by Slack/);
  });

  it('warns (legitimately) when SLACK_SIGNING_SECRET is unused because SLACK_APP_TOKEN selects Socket Mode', () => {
    const warnings = check({ SLACK_APP_TOKEN: 'xapp-1', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /SLACK_SIGNING_SECRET is not used/);
    assert.deepEqual(check({ SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-1' }), []);
  });

  it('warns (legitimately) when BEDROCK_RERANK_MODEL_ID is unused because AI answers are off', () => {
    const warnings = check({ BEDROCK_RERANK_MODEL_ID: 'cohere.rerank-v3-5:0' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^BEDROCK_RERANK_MODEL_ID is not used: BEDROCK_MODEL_ID is not set/);
    const aiOn = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', BEDROCK_MODEL_ID: 'anthropic.claude-3-haiku-20240307-v1:0' };
    assert.deepEqual(check({ ...aiOn, BEDROCK_RERANK_MODEL_ID: 'cohere.rerank-v3-5:0' }), []);
  });

  it('names the fix for each half-configured Slack setting', () => {
    assert.throws(() => loadConfig({ SLACK_SIGNING_SECRET: 's' }), /^ConfigError: Invalid configuration: SLACK_BOT_TOKEN is not set, but SLACK_SIGNING_SECRET is.*Set SLACK_BOT_TOKEN/);
    assert.throws(() => loadConfig({ SLACK_APP_TOKEN: 'xapp-1' }), /SLACK_BOT_TOKEN is not set, but SLACK_APP_TOKEN is/);
    assert.throws(() => loadConfig({ SLACK_APP_TOKEN: 'xoxb-1', SLACK_BOT_TOKEN: 'xoxb-1' }), /SLACK_APP_TOKEN must be an app-level token starting with xapp-.*App-Level Tokens/);
  });
});

describe('misconfiguration: Amazon Bedrock', () => {
  it('BEDROCK_MODEL_ID without AWS_REGION refuses to start (AI was silently off)', async () => {
    const result = await start({ BEDROCK_MODEL_ID: 'anthropic.claude-3-haiku-20240307-v1:0', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' });
    assertOneLine(result, 2, /BEDROCK_MODEL_ID is set without AWS_REGION, so AI answers would be off/, /Set AWS_REGION/, /unset BEDROCK_MODEL_ID/);
  });

  it('BEDROCK_MODEL_ID without credentials, or half a key, is named too', () => {
    assert.throws(() => check({ BEDROCK_MODEL_ID: 'm', AWS_REGION: 'us-east-1' }), /BEDROCK_MODEL_ID is set without AWS credentials.*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.*AWS_PROFILE/);
    assert.throws(() => check({ AWS_ACCESS_KEY_ID: 'x' }), /AWS_SECRET_ACCESS_KEY is not set, but AWS_ACCESS_KEY_ID is/);
    assert.throws(() => check({ AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1' }), /AWS_ACCESS_KEY_ID is not set, but AWS_SECRET_ACCESS_KEY is/);
    assert.deepEqual(check({ BEDROCK_MODEL_ID: 'm', AWS_REGION: 'us-east-1', AWS_PROFILE: 'hr' }), []);
    assert.deepEqual(check({ AWS_REGION: 'us-east-1' }), [], 'a region alone is fine (the platform may set it)');
  });
});

describe('misconfiguration: the store', () => {
  it('a DATABASE_URL that is not a PostgreSQL URL is named; an empty one means SQLite', () => {
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://db/hrbot' }), /DATABASE_URL: must be a PostgreSQL URL/);
    assert.deepEqual(check({ DATABASE_URL: 'postgres://hrbot@db.internal:5432/hrbot' }), []);
    assert.equal(loadConfig({ DATABASE_URL: '' }).env.DATABASE_URL, undefined, 'empty means unset');
  });

  it('a PostgreSQL server that cannot be reached stops the start with one line saying so, its password never shown', async () => {
    const result = await start({ DATABASE_URL: 'postgres://hrbot:s3cret-pw@127.0.0.1:9/hrbot', HRBOT_MODE: 'server', HOST: '127.0.0.1', PORT: '0' });
    assertOneLine(result, 1, /DATABASE_URL \(127\.0\.0\.1:9\/hrbot\): nothing listens there/);
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret-pw/);
  });
});

describe('misconfiguration: Microsoft Teams', () => {
  it('MICROSOFT_APP_ID without a password refuses to start (it started without a word)', async () => {
    const result = await start({ MICROSOFT_APP_ID: '11111111-2222-4333-8444-555555555555', HOST: '127.0.0.1', PORT: '0' });
    assertOneLine(result, 2, /MICROSOFT_APP_PASSWORD is not set, but MICROSOFT_APP_ID is/, /client secret/, /UserAssignedMSI/);
  });

  it('a managed identity needs no password (and refuses one), but its tenant', () => {
    const msi = { MICROSOFT_APP_ID: 'id', MICROSOFT_APP_TYPE: 'UserAssignedMSI', MICROSOFT_APP_TENANT_ID: 'tenant' };
    assert.deepEqual(check(msi), []);
    assert.equal(loadConfig(msi).teams.mode, 'authenticated');
    assert.throws(() => check({ ...msi, MICROSOFT_APP_PASSWORD: 'p' }), /MICROSOFT_APP_PASSWORD is set with MICROSOFT_APP_TYPE=UserAssignedMSI/);
    assert.throws(() => check({ MICROSOFT_APP_ID: 'id', MICROSOFT_APP_TYPE: 'UserAssignedMSI' }), /MICROSOFT_APP_TENANT_ID is not set, but MICROSOFT_APP_TYPE is UserAssignedMSI/);
    assert.throws(() => check({ MICROSOFT_APP_PASSWORD: 'p' }), /MICROSOFT_APP_ID is not set, but MICROSOFT_APP_PASSWORD is/);
    assert.throws(() => loadConfig({ MICROSOFT_APP_ID: 'id', MICROSOFT_APP_PASSWORD: 'p', MICROSOFT_APP_TYPE: 'SingleTenant' }), /MICROSOFT_APP_TENANT_ID is not set, but MICROSOFT_APP_TYPE is SingleTenant/);
  });

  it('every message is one line that ends with its fix', () => {
    const cases: Array<Record<string, string>> = [
      { SLACK_BOT_TOKEN: 'xoxb-1' },
      { SLACK_SIGNING_SECRET: 's' },
      { BEDROCK_MODEL_ID: 'm' },
      { AWS_ACCESS_KEY_ID: 'x' },
      { MICROSOFT_APP_ID: 'id' },
      { MICROSOFT_APP_PASSWORD: 'p' },
      { TEAMS_EMULATOR: 'true' },
    ];
    for (const env of cases) {
      assert.throws(
        () => check(env),
        (error: unknown) => error instanceof ConfigError && /^Invalid configuration: [A-Z_]+ [^\n]*\. (Set|Unset|Create) [^\n]*\.$/.test(error.message),
        JSON.stringify(env),
      );
    }
  });
});

describe('misconfiguration: the database', () => {
  // Root may write anywhere: as root, the bot runs as nobody (65534) to meet permissions as a service user does.
  const root = process.getuid?.() === 0;
  const as: Partial<MainOptions> = root ? { uid: 65534, gid: 65534 } : {};
  const who = root ? 'uid 65534' : `uid ${process.getuid?.() ?? ''}`;
  function canRunAsServiceUser(): boolean {
    if (!root) return true;
    try {
      execFileSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(KNOWLEDGE_DIR)})`], { uid: 65534, gid: 65534, timeout: 10_000, stdio: 'ignore' });
      return true;
    } catch {
      // nobody cannot read this checkout (a private folder): the test cannot play a service user here.
      return false;
    }
  }

  it('a folder that cannot be created names DATABASE_PATH, the folder, the user and the fix (it was EACCES … mkdir)', async (t) => {
    if (!canRunAsServiceUser()) return t.skip('uid 65534 cannot read this checkout');
    const dir = tempDir();
    try {
      chmodSync(dir.path, 0o755);
      const locked = join(dir.path, 'locked');
      mkdirSync(locked, { mode: 0o555 });
      chmodSync(locked, 0o555);
      const path = join(locked, 'data', 'hrbot.db');
      const result = await runMain('/hr help\n', { env: { KNOWLEDGE_DIR, DATABASE_PATH: path, CONSOLE_USER: 'tester' }, ...as });
      assertOneLine(result, 1, new RegExp(`DATABASE_PATH ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be written \\(EACCES\\)`), new RegExp(`writable by this user \\(${who}\\)`), /set DATABASE_PATH to a file in a writable folder/);
    } finally {
      dir.remove();
    }
  });

  it('a read-only database file says the same, not "attempt to write a readonly database"', async (t) => {
    if (!canRunAsServiceUser()) return t.skip('uid 65534 cannot read this checkout');
    const dir = tempDir();
    try {
      chmodSync(dir.path, 0o777);
      const path = join(dir.path, 'hrbot.db');
      openDatabase(path).close();
      chmodSync(path, 0o444);
      const result = await runMain('/hr help\n', { env: { KNOWLEDGE_DIR, DATABASE_PATH: path, CONSOLE_USER: 'tester' }, ...as });
      assertOneLine(result, 1, /DATABASE_PATH .*hrbot\.db cannot be written \(SQLITE_READONLY/, /writable by this user/);
      assert.doesNotMatch(result.stderr, /hrbot: .*attempt to write a readonly database/);
    } finally {
      dir.remove();
    }
  });

  it('a database from a newer release refuses to start and says what to do', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'hrbot.db');
      openDatabase(path).close();
      const db = new Database(path);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, ?)').run('from the future', Date.now());
      db.close();
      const result = await runMain('/hr help\n', { env: { KNOWLEDGE_DIR, DATABASE_PATH: path, CONSOLE_USER: 'tester' } });
      assertOneLine(result, 1, /DATABASE_PATH .* has schema version 999, newer than this release of hrbot knows \(\d+\)/, /restore the backup/);
    } finally {
      dir.remove();
    }
  });
});

describe('misconfiguration: the port', () => {
  it('a busy PORT names PORT, the port and the fix', async () => {
    const busy = createServer();
    const port = await listenOnLoopback(busy);
    try {
      const result = await start({ TEAMS_EMULATOR: 'true', HOST: '127.0.0.1', PORT: String(port) });
      assertOneLine(result, 1, new RegExp(`^hrbot: PORT ${port} is already in use on 127\\.0\\.0\\.1 \\(EADDRINUSE\\)`), /set PORT to a free port/);
      assert.ok(outputLines(result.stdout).some((line) => line.msg === 'could not listen' && line.level === 60), 'and a log line');
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });

  it('a HOST that is not this machine, or a privileged port, says which and what to do', async () => {
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails at once, nothing is sent.
    const result = await start({ TEAMS_EMULATOR: 'false', MICROSOFT_APP_ID: 'id', MICROSOFT_APP_PASSWORD: 'p', HOST: '192.0.2.1', PORT: '0' });
    // (The address itself is redacted from the plain line, as every IP address is.)
    assertOneLine(result, 1, /HOST \S+ is not an address of this machine \(EADDRNOTAVAIL\)\. Set HOST/);
    assert.match(describeListenError('EACCES', 80, undefined), /^PORT 80 needs privileges .*Set PORT to 1024 or above/);
  });
});

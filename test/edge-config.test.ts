import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import { FakeTeamsConnector } from './fakes/fake-teams-connector.ts';
import { outputLines, runMain, startMain } from './support/main-process.ts';
import { BOT_TOKEN, SIGNING_SECRET } from './support/slack-requests.ts';
import { personalMessage } from './support/teams-bot.ts';
import { KNOWLEDGE_DIR, tempDir } from './support/temp-bot.ts';

/** A POST of a forged Bot Framework activity, with no token, as an attacker on the network would send it. */
async function forge(url: string, activity: Record<string, unknown>, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(activity),
    signal: AbortSignal.timeout(5000),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Lines of output that did not come from the redacting logger. */
function rawLines(text: string): string[] {
  return outputLines(text)
    .filter((line) => 'raw' in line)
    .map((line) => String(line.raw));
}

describe('edge: which routes a server start serves', () => {
  let dir: { path: string; remove(): void };
  let connector: FakeTeamsConnector;
  let slackApi: FakeSlackApi;
  before(async () => {
    dir = tempDir();
    connector = await new FakeTeamsConnector().start();
    slackApi = await new FakeSlackApi().start();
  });
  after(async () => {
    await connector.close();
    await slackApi.close();
    dir.remove();
  });

  it('a Slack-only start has no /api/messages: a forged loopback activity gets 404 and nothing is sent', async () => {
    const bot = await startMain({
      env: {
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_API_URL: slackApi.apiUrl,
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_PATH: join(dir.path, 'slack-only.db'),
        KNOWLEDGE_DIR,
      },
    });
    try {
      const before = connector.calls.length;
      const status = await forge(`http://127.0.0.1:${bot.port}/api/messages`, personalMessage(connector.serviceUrl, 'holidays'));
      assert.equal(status, 404);
      await connector.settle(300);
      assert.equal(connector.calls.length, before, 'the bot posted nothing to the forged serviceUrl');
      assert.equal((await fetch(`http://127.0.0.1:${bot.port}/healthz`)).status, 200);
      // The start-up line says what is served.
      assert.equal(bot.started.slack, 'http');
      assert.equal(bot.started.teams, 'off');
      assert.equal(bot.started.ai, 'off');
    } finally {
      const result = await bot.stop();
      assert.equal(result.code, 0, result.stderr);
    }
  });

  it('TEAMS_EMULATOR=true with HOST=0.0.0.0 refuses to start, naming TEAMS_EMULATOR and HOST', async () => {
    const result = await runMain('', {
      env: { TEAMS_EMULATOR: 'true', HOST: '0.0.0.0', PORT: '0', DATABASE_PATH: join(dir.path, 'refused.db'), KNOWLEDGE_DIR },
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /hrbot: .*TEAMS_EMULATOR/s);
    assert.match(result.stderr, /HOST=127\.0\.0\.1/);
    assert.doesNotMatch(result.stdout, /hrbot listening/);
    const fatal = outputLines(result.stderr).find((line) => line.level === 60);
    assert.ok(fatal !== undefined, 'the refusal is also a log line');
    assert.equal(fatal.msg, 'invalid configuration');
  });

  it('TEAMS_EMULATOR=true on a loopback HOST serves the emulator there, and only there', async () => {
    // 127.0.0.2 is loopback too; on Linux the whole 127/8 answers, so binding it proves HOST is used.
    const linux = process.platform === 'linux';
    const host = linux ? '127.0.0.2' : '127.0.0.1';
    const bot = await startMain({
      env: { TEAMS_EMULATOR: 'true', HOST: host, PORT: '0', DATABASE_PATH: join(dir.path, 'emulator.db'), KNOWLEDGE_DIR },
    });
    try {
      assert.equal(bot.started.teams, 'emulator');
      assert.equal(bot.started.slack, 'off');
      assert.equal(bot.started.host, host);
      const warning = outputLines(bot.stdout()).find((line) => line.level === 40 && /UNAUTHENTICATED/.test(String(line.msg)));
      assert.ok(warning !== undefined, 'warns at start');
      const status = await forge(`http://${host}:${bot.port}/api/messages`, personalMessage(connector.serviceUrl, '/hr holidays 2026'));
      assert.equal(status, 200);
      await connector.waitFor(() => connector.messages().some((call) => /Company holidays 2026/.test(JSON.stringify(call.activity))));
      if (linux) {
        await assert.rejects(fetch(`http://127.0.0.1:${bot.port}/healthz`, { signal: AbortSignal.timeout(5000) }), 'not listening on 127.0.0.1');
      }
    } finally {
      const result = await bot.stop();
      assert.equal(result.code, 0, result.stderr);
    }
  });
});

describe('edge: every line the process writes goes through the redacting logger', () => {
  it("routes botbuilder's console.error for a refused token into the log", async () => {
    const dir = tempDir();
    const bot = await startMain({
      env: {
        MICROSOFT_APP_ID: '11111111-2222-4333-8444-555555555555',
        MICROSOFT_APP_PASSWORD: 'test-app-password-value',
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_PATH: join(dir.path, 'auth.db'),
        KNOWLEDGE_DIR,
      },
    });
    let result;
    try {
      // Shaped like a JWT, from no issuer botbuilder trusts: refused without any network call.
      const token = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2V2aWwuZXhhbXBsZSIsImF1ZCI6Im5vYm9keSJ9.c2lnbmF0dXJlLXZhbHVl';
      const status = await forge(`http://127.0.0.1:${bot.port}/api/messages`, personalMessage('https://smba.trafficmanager.net/amer/', 'hello'), {
        authorization: `Bearer ${token}`,
      });
      assert.equal(status, 401);
    } finally {
      result = await bot.stop();
      dir.remove();
    }
    assert.equal(result.code, 0, result.stderr);
    const lines = outputLines(result.stdout);
    assert.ok(
      lines.some((line) => line.source === 'console.error' && line.level === 50),
      `botbuilder's console.error became a log line:\n${result.stdout}`,
    );
    assert.deepEqual(rawLines(result.stdout), [], 'nothing unlogged on stdout');
    assert.deepEqual(rawLines(result.stderr), [], 'nothing unlogged on stderr');
    assert.doesNotMatch(result.stdout + result.stderr, /c2lnbmF0dXJlLXZhbHVl/);
    assert.equal(bot.started.teams, 'authenticated');
  });

  it('logs a start failure, and redacts the plain line a person reads', async () => {
    const dir = tempDir();
    try {
      // A path is free text: anything in it reaches the message, so the message must be redacted.
      const missing = join(dir.path, 'jane.doe@example.com', 'handbook');
      const result = await runMain('', { env: { DATABASE_PATH: join(dir.path, 'bot.db'), KNOWLEDGE_DIR: missing } });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^hrbot: KNOWLEDGE_DIR/m, 'a clear line for the person at the terminal');
      assert.doesNotMatch(result.stderr, /jane\.doe@example\.com/);
      const lines = outputLines(result.stderr);
      assert.ok(lines.some((line) => line.level === 60 && line.msg === 'could not start'));
      assert.deepEqual(
        rawLines(result.stderr).filter((line) => !line.startsWith('hrbot: ')),
        [],
        'apart from that one plain line, only log lines',
      );
    } finally {
      dir.remove();
    }
  });

  it('logs a configuration error before any configuration is valid', async () => {
    const result = await runMain('', { env: { PORT: 'not-a-port' } });
    assert.equal(result.code, 2);
    const fatal = outputLines(result.stderr).find((line) => line.level === 60);
    assert.ok(fatal !== undefined, result.stderr);
    assert.equal(fatal.msg, 'invalid configuration');
    assert.match(JSON.stringify(fatal), /PORT/);
    assert.match(result.stderr, /^hrbot: Invalid configuration/m);
  });
});

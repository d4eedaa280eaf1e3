import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mountTeams } from '../adapters/teams/mount-teams.ts';
import { ConfigError } from '../src/errors.ts';
import { HttpServer } from '../src/http/http-server.ts';
import type { TeamsBot } from './support/teams-bot.ts';
import { personalMessage, startTeamsBot } from './support/teams-bot.ts';
import { startTempBot } from './support/temp-bot.ts';

describe('Teams: with MICROSOFT_APP_ID set', () => {
  let t: TeamsBot;
  before(async () => {
    t = await startTeamsBot({ MICROSOFT_APP_ID: '11111111-2222-4333-8444-555555555555', MICROSOFT_APP_PASSWORD: 'test-app-password-value' });
  });
  after(async () => {
    await t.close();
  });

  it('refuses a request without a Bot Framework token (401) and processes nothing, without network calls', async () => {
    const started = Date.now();
    const activity = personalMessage(t.connector.serviceUrl, 'holidays');
    const response = await t.post(activity);
    assert.equal(response.status, 401);
    assert.ok(Date.now() - started < 1000, 'answered at once, not after a network timeout');
    const basic = await t.post(personalMessage(t.connector.serviceUrl, 'holidays'), { authorization: 'Basic abc' });
    assert.equal(basic.status, 401);
    await t.connector.settle(200);
    assert.equal(t.connector.calls.length, 0);
    assert.equal(t.bot.core.db.prepare('SELECT COUNT(*) FROM inbox').pluck().get(), 0, 'nothing stored');
    const history = t.bot.core.db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number };
    assert.equal(history.n, 0);
  });

  it('does not warn about an unauthenticated endpoint', () => {
    assert.ok(!t.bot.logs.some((line) => /UNAUTHENTICATED/.test(String(line.msg))));
  });
});

describe('Teams: emulator mode (TEAMS_EMULATOR=true, HOST=127.0.0.1)', () => {
  it('warns at start that the endpoint is unauthenticated', async () => {
    const t = await startTeamsBot();
    try {
      assert.equal(t.bot.config.teams.mode, 'emulator');
      assert.ok(t.bot.logs.some((line) => line.level === 40 && /UNAUTHENTICATED/.test(String(line.msg)) && /TEAMS_EMULATOR/.test(String(line.msg))));
    } finally {
      await t.close();
    }
  });
});

describe('Teams: neither MICROSOFT_APP_ID nor TEAMS_EMULATOR', () => {
  it('has nothing to mount: mountTeams refuses rather than serve an open endpoint', () => {
    const bot = startTempBot({ HRBOT_MODE: 'server' });
    const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
    try {
      assert.equal(bot.config.teams.mode, 'off');
      const options = { server, config: bot.config, engine: bot.core.engine, inbox: bot.core.inbox, metrics: bot.core.metrics, log: bot.core.log };
      assert.throws(() => mountTeams(options), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /MICROSOFT_APP_ID/);
        assert.match(error.message, /TEAMS_EMULATOR/);
        return true;
      });
    } finally {
      bot.close();
    }
  });
});

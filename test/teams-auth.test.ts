import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TeamsBot } from './support/teams-bot.ts';
import { personalMessage, startTeamsBot } from './support/teams-bot.ts';

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
    assert.equal(t.teams.pendingJobs, 0);
    const history = t.bot.core.db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number };
    assert.equal(history.n, 0);
  });

  it('does not warn about an unauthenticated endpoint', () => {
    assert.ok(!t.bot.logs.some((line) => /UNAUTHENTICATED/.test(String(line.msg))));
  });
});

describe('Teams: without MICROSOFT_APP_ID', () => {
  it('warns at start that the endpoint is unauthenticated', async () => {
    const t = await startTeamsBot();
    try {
      assert.ok(t.bot.logs.some((line) => line.level === 40 && /UNAUTHENTICATED/.test(String(line.msg))));
    } finally {
      await t.close();
    }
  });
});

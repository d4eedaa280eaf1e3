import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { personalMessage, startTeamsBot } from './support/teams-bot.ts';

describe('Teams: logs', () => {
  it('never contain tokens, secrets or message text', async () => {
    const password = 'S3cr3t-app-password-value-xyz';
    const authenticated = await startTeamsBot({ MICROSOFT_APP_ID: '11111111-2222-4333-8444-555555555555', MICROSOFT_APP_PASSWORD: password, LOG_LEVEL: 'debug' });
    const open = await startTeamsBot({ LOG_LEVEL: 'info' });
    try {
      const text = 'zebrafish-question about my salary 4111 1111 1111 1111';
      await authenticated.post(personalMessage(authenticated.connector.serviceUrl, text), { authorization: 'Basic dGVzdDp0b2tlbi12YWx1ZQ==' });
      await authenticated.post(personalMessage(authenticated.connector.serviceUrl, text));
      const activity = personalMessage(open.connector.serviceUrl, text);
      open.connector.failNext({ status: 503, onlyType: 'message' });
      await open.post(activity);
      await open.connector.waitFor(() => open.connector.messages().length >= 1);
      await open.post(activity); // a redelivery, logged as such
      await open.connector.settle(200);
      for (const log of [authenticated.bot.logText(), open.bot.logText()]) {
        assert.doesNotMatch(log, /zebrafish/);
        assert.doesNotMatch(log, /4111/);
        assert.doesNotMatch(log, new RegExp(password));
        assert.doesNotMatch(log, /dGVzdDp0b2tlbi12YWx1ZQ/);
      }
      assert.match(open.bot.logText(), /teams connector call retried/);
      assert.match(open.bot.logText(), /redelivered teams activity ignored/);
    } finally {
      await authenticated.close();
      await open.close();
    }
  });
});

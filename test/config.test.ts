import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENV_NAMES, loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

describe('loadConfig', () => {
  it('starts with nothing set, using the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.env.PORT, 3978);
    assert.equal(config.env.DATABASE_PATH, './data/hrbot.db');
    assert.equal(config.env.KNOWLEDGE_DIR, './knowledge');
    assert.equal(config.slack.mode, 'off');
    assert.equal(config.teams.enabled, false);
    assert.equal(config.bedrock.enabled, false);
  });

  it('names the variable and what it expected, without echoing the value', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', SLACK_API_URL: 'not a url' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /PORT/);
        assert.match(error.message, /LOG_LEVEL/);
        assert.match(error.message, /SLACK_API_URL/);
        assert.doesNotMatch(error.message, /eighty/);
        return true;
      },
    );
  });

  it('requires the bot token with Slack credentials', () => {
    assert.throws(() => loadConfig({ SLACK_SIGNING_SECRET: 's' }), /SLACK_BOT_TOKEN/);
    assert.throws(() => loadConfig({ SLACK_APP_TOKEN: 'xoxb-wrong', SLACK_BOT_TOKEN: 'xoxb-1' }), /xapp-/);
  });

  it('turns on each platform from its credentials', () => {
    assert.equal(loadConfig({ SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-1' }).slack.mode, 'http');
    assert.equal(loadConfig({ SLACK_APP_TOKEN: 'xapp-1', SLACK_BOT_TOKEN: 'xoxb-1' }).slack.mode, 'socket');
    assert.equal(loadConfig({ MICROSOFT_APP_ID: 'id', MICROSOFT_APP_PASSWORD: 'p' }).teams.enabled, true);
    const bedrock = loadConfig({ AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', BEDROCK_MODEL_ID: 'm' });
    assert.equal(bedrock.bedrock.enabled, true);
    assert.deepEqual([...loadConfig({ HR_ADMINS: ' slack:T1:U1, console:local:boss ,,' }).admins], ['slack:T1:U1', 'console:local:boss']);
  });

  it('treats an empty value as unset, for every variable', () => {
    const empty = Object.fromEntries(ENV_NAMES.map((name) => [name, '']));
    assert.deepEqual(loadConfig(empty), loadConfig({}));
    const blank = loadConfig({ PORT: '', MICROSOFT_APP_TYPE: '', LOG_LEVEL: ' ', HOST: '', TEAMS_EMULATOR: '' });
    assert.equal(blank.env.PORT, 3978);
    assert.equal(blank.env.MICROSOFT_APP_TYPE, undefined);
    assert.equal(blank.env.LOG_LEVEL, 'info');
    assert.equal(blank.env.HOST, undefined);
    assert.equal(blank.env.TEAMS_EMULATOR, false);
  });

  it('serves Teams only when authenticated or in emulator mode', () => {
    assert.equal(loadConfig({}).teams.mode, 'off');
    assert.equal(loadConfig({ MICROSOFT_APP_ID: 'id', MICROSOFT_APP_PASSWORD: 'p' }).teams.mode, 'authenticated');
    const emulator = loadConfig({ TEAMS_EMULATOR: 'true', HOST: '127.0.0.1' });
    assert.deepEqual(emulator.teams, { mode: 'emulator', enabled: true, authenticated: false });
    // An app id means every request is authenticated, emulator flag or not.
    assert.equal(loadConfig({ TEAMS_EMULATOR: 'true', HOST: '::1', MICROSOFT_APP_ID: 'id' }).teams.mode, 'authenticated');
    assert.throws(() => loadConfig({ TEAMS_EMULATOR: 'yes', HOST: '127.0.0.1' }), /TEAMS_EMULATOR/);
  });

  it('accepts TEAMS_EMULATOR=true only on a loopback HOST, and says how to fix it', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost', 'LOCALHOST']) {
      assert.equal(loadConfig({ TEAMS_EMULATOR: 'true', HOST: host }).teams.mode, 'emulator', host);
    }
    for (const host of [undefined, '0.0.0.0', '::', '10.0.0.5', '192.168.1.20', 'bot.example.com', '128.0.0.1']) {
      const env: Record<string, string> = { TEAMS_EMULATOR: 'true', ...(host === undefined ? {} : { HOST: host }) };
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(host));
          assert.match(error.message, /TEAMS_EMULATOR/);
          assert.match(error.message, /HOST/);
          assert.match(error.message, /HOST=127\.0\.0\.1/, 'names the fix');
          return true;
        },
      );
    }
  });
});

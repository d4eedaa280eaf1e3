import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
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
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { load } from 'js-yaml';
import { SLACK_BOT_SCOPES } from '../adapters/slack/oauth-routes.ts';
import { checkStartup, loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import { SecretBox, SecretBoxError } from '../src/secret-box.ts';

const KEY = randomBytes(32).toString('base64');
const OAUTH = { SLACK_CLIENT_ID: '1.2', SLACK_CLIENT_SECRET: 'client-secret', SLACK_STATE_SECRET: 'state-secret-0123456789', HRBOT_ENCRYPTION_KEY: KEY };

function configError(env: Record<string, string>): string {
  try {
    checkStartup(loadConfig(env));
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

describe('Slack OAuth configuration', () => {
  it('single-token mode stays the default; the three OAuth variables with a key switch installs to oauth', () => {
    assert.equal(loadConfig({ SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-1' }).slack.installs, 'token');
    const config = loadConfig({ SLACK_SIGNING_SECRET: 's', ...OAUTH });
    assert.equal(config.slack.installs, 'oauth');
    assert.equal(config.slack.mode, 'http');
    assert.deepEqual(checkStartup(config), []);
  });

  it('half-set OAuth variables are a ConfigError naming the missing ones', () => {
    assert.match(
      configError({ SLACK_SIGNING_SECRET: 's', SLACK_CLIENT_ID: '1.2', HRBOT_ENCRYPTION_KEY: KEY }),
      /^Invalid configuration: SLACK_CLIENT_SECRET and SLACK_STATE_SECRET are not set, but SLACK_CLIENT_ID is: OAuth installs need all three\. Set SLACK_CLIENT_SECRET and SLACK_STATE_SECRET/,
    );
    assert.match(
      configError({ SLACK_SIGNING_SECRET: 's', SLACK_CLIENT_ID: '1.2', SLACK_CLIENT_SECRET: 'x', HRBOT_ENCRYPTION_KEY: KEY }),
      /SLACK_STATE_SECRET is not set, but SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are/,
    );
  });

  it('OAuth without HRBOT_ENCRYPTION_KEY, or with a key that is not 32 bytes of base64, is a ConfigError saying how to make one', () => {
    const { HRBOT_ENCRYPTION_KEY: _key, ...withoutKey } = OAUTH;
    assert.match(configError({ SLACK_SIGNING_SECRET: 's', ...withoutKey }), /HRBOT_ENCRYPTION_KEY is not set, but SLACK_CLIENT_ID.*openssl rand -base64 32/);
    const short = randomBytes(16).toString('base64');
    const message = configError({ SLACK_SIGNING_SECRET: 's', ...OAUTH, HRBOT_ENCRYPTION_KEY: short });
    assert.match(message, /HRBOT_ENCRYPTION_KEY: must decode to 32 bytes, but decodes to 16; generate one with `openssl rand -base64 32` \(got a value of 24 characters\)/);
    assert.ok(!message.includes(short), 'the value is never echoed');
    assert.match(configError({ ...OAUTH, SLACK_SIGNING_SECRET: 's', HRBOT_ENCRYPTION_KEY: 'not base64!' }), /HRBOT_ENCRYPTION_KEY: must be base64/);
    assert.match(configError({ ...OAUTH, SLACK_SIGNING_SECRET: 's', SLACK_STATE_SECRET: 'short' }), /SLACK_STATE_SECRET: must be at least 16 characters/);
  });

  it('OAuth with SLACK_BOT_TOKEN: OAuth wins and the token is reported unused', () => {
    const config = loadConfig({ SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-1', ...OAUTH });
    assert.equal(config.slack.installs, 'oauth');
    const warnings = checkStartup(config);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^SLACK_BOT_TOKEN is not used: SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET are set/);
  });

  it('OAuth with no way for Slack to reach the bot is a ConfigError', () => {
    assert.match(configError({ ...OAUTH }), /SLACK_SIGNING_SECRET is not set, but SLACK_CLIENT_ID is \(OAuth installs\)/);
    assert.equal(loadConfig({ ...OAUTH, SLACK_APP_TOKEN: 'xapp-1' }).slack.mode, 'socket');
  });

  it("asks for exactly manifest/slack.yaml's bot scopes", () => {
    const manifest = load(readFileSync(new URL('../manifest/slack.yaml', import.meta.url), 'utf8')) as { oauth_config: { scopes: { bot: string[] } } };
    assert.deepEqual([...SLACK_BOT_SCOPES].sort(), [...manifest.oauth_config.scopes.bot].sort());
  });
});

describe('SecretBox (tokens at rest)', () => {
  const box = new SecretBox(KEY);

  it('seals with AES-256-GCM under a version prefix and a fresh IV each time, and opens what it sealed', () => {
    const a = box.seal('xoxb-secret', 'row-1');
    const b = box.seal('xoxb-secret', 'row-1');
    assert.match(a, /^v1\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    assert.notEqual(a, b);
    assert.ok(!a.includes('xoxb'));
    assert.equal(box.open(a, 'row-1'), 'xoxb-secret');
    assert.equal(box.open(b, 'row-1'), 'xoxb-secret');
  });

  it('refuses another key, another row, an altered value and a malformed one, each with its own code', () => {
    const sealed = box.seal('xoxb-secret', 'row-1');
    const other = new SecretBox(randomBytes(32).toString('base64url'));
    assert.throws(() => other.open(sealed, 'row-1'), (error: unknown) => error instanceof SecretBoxError && error.code === 'secret_key_mismatch' && error.message.includes(box.keyId) && error.message.includes(other.keyId));
    assert.throws(() => box.open(sealed, 'row-2'), (error: unknown) => error instanceof SecretBoxError && error.code === 'secret_tampered');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[4] = body.toString('base64url');
    assert.throws(() => box.open(parts.join('.'), 'row-1'), (error: unknown) => error instanceof SecretBoxError && error.code === 'secret_tampered');
    assert.throws(() => box.open('xoxb-plain', 'row-1'), (error: unknown) => error instanceof SecretBoxError && error.code === 'secret_malformed');
    assert.throws(() => new SecretBox('c2hvcnQ='), /HRBOT_ENCRYPTION_KEY must decode to 32 bytes, but decodes to 5/);
  });
});

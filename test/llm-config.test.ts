import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

void describe('Bedrock settings', () => {
  void it('have the documented defaults', () => {
    const { env } = loadConfig({});
    assert.deepEqual(
      [env.BEDROCK_MAX_TOKENS, env.LLM_CONCURRENCY, env.LLM_QUEUE_LIMIT, env.LLM_REQUESTS_PER_MINUTE, env.LLM_TIMEOUT_MS, env.LLM_MAX_ATTEMPTS],
      [800, 16, 2000, 0, 30_000, 3],
    );
    assert.deepEqual([env.LLM_BREAKER_FAILURES, env.LLM_BREAKER_COOLDOWN_MS], [5, 30_000]);
    assert.deepEqual([env.ANSWER_CACHE_MAX_ENTRIES, env.ANSWER_CACHE_MAX_BYTES, env.ANSWER_CACHE_MAX_ROWS], [2000, 8_000_000, 20_000]);
    assert.deepEqual([env.MEMORY_TURNS, env.MEMORY_MAX_TOKENS, env.MEMORY_MAX_CONVERSATIONS, env.MEMORY_IDLE_TTL_MS], [6, 1500, 5000, 1_800_000]);
  });

  void it('refuse unbounded or nonsensical limits, naming the variable', () => {
    for (const [name, value] of [
      ['LLM_CONCURRENCY', '0'],
      ['LLM_QUEUE_LIMIT', '-1'],
      ['LLM_MAX_ATTEMPTS', '50'],
      ['BEDROCK_MAX_TOKENS', 'lots'],
      ['MEMORY_MAX_CONVERSATIONS', '0'],
    ] as const) {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.message.includes(name),
        name,
      );
    }
  });

  void it('turn AI answers on only with a region, credentials and a model id', () => {
    const base = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', BEDROCK_MODEL_ID: 'm' };
    assert.equal(loadConfig(base).bedrock.enabled, true);
    assert.equal(loadConfig({ ...base, BEDROCK_MODEL_ID: '' }).bedrock.enabled, false);
    assert.equal(loadConfig({ ...base, AWS_ACCESS_KEY_ID: '' }).bedrock.enabled, false);
    assert.equal(loadConfig({ AWS_REGION: 'eu-west-1', AWS_PROFILE: 'hr', BEDROCK_MODEL_ID: 'm' }).bedrock.enabled, true);
  });
});

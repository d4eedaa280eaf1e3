import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Answerer, AnswerRequest, AnswerResult } from '../src/answer/answerer.ts';
import { sourceOf } from '../src/answer/answerer.ts';
import { ALICE, personalMessage, startTeamsBot } from './support/teams-bot.ts';

/** Streams one delta once released, so a test can script a connector fault for exactly that update. */
class GatedStreamingAnswerer implements Answerer {
  readonly #gate: Promise<void>;
  release: () => void = () => undefined;

  constructor(readonly delta: string) {
    this.#gate = new Promise<void>((resolve) => {
      this.release = resolve;
    });
  }

  async answer(request: AnswerRequest): Promise<AnswerResult> {
    // Bounded: a test that forgets to release still finishes.
    await Promise.race([this.#gate, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await request.hooks?.onProgress?.({ type: 'delta', text: this.delta });
    return { kind: 'answer', text: 'You get 25 days of paid vacation a year.', sources: request.sections.slice(0, 1).map(sourceOf) };
  }
}

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

  it('a refused stream update is logged by status and code, without the streamed text or the user’s ids', async () => {
    const streamed = 'Your okapi-allowance resets every leap year on the ninth moon.';
    const answerer = new GatedStreamingAnswerer(streamed);
    const t = await startTeamsBot({ LOG_LEVEL: 'debug' }, { extensions: { answerer }, tuning: { stream: { minIntervalMs: 0 } } });
    try {
      const activity = personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
      assert.equal((await t.post(activity)).status, 200);
      // The typing indicator and the informative update went out; the next update is refused.
      await t.connector.waitFor(() => t.connector.calls.filter((call) => call.activity.type === 'typing').length >= 2, 5_000, 'typing and informative update');
      t.connector.failNext({ status: 403, onlyType: 'typing' });
      answerer.release();
      await t.connector.waitFor(() => t.connector.messages().length >= 1, 5_000, 'the final message');
      assert.equal(t.connector.faulted.length, 1);
      assert.match(JSON.stringify(t.connector.faulted[0]!.activity), /okapi/, 'the refused update carried the streamed text');

      const log = t.bot.logText();
      const line = t.bot.logs.find((entry) => typeof entry['msg'] === 'string' && entry['msg'].startsWith('teams stream update failed'));
      assert.ok(line !== undefined, 'the refused update is logged');
      const err = line['err'] as Record<string, unknown>;
      assert.equal(err['status'], 403);
      for (const secret of ['okapi', 'ninth moon', ALICE.aadObjectId, ALICE.id, 'personal-']) {
        assert.ok(!log.includes(secret), `${secret} leaked:\n${log.split('\n').filter((l) => l.includes(secret)).join('\n')}`);
      }
      for (const key of ['request', 'response', 'body', 'headers', 'details']) assert.ok(!(key in err), `${key} kept in ${JSON.stringify(err)}`);
    } finally {
      await t.close();
    }
  });
});

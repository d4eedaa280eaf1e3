import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectorRetryPolicy, retryAfterMs, streamInfoPolicy } from '../adapters/teams/connector-pipeline.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { TeamsBot } from './support/teams-bot.ts';
import { ALICE, personalMessage, startTeamsBot } from './support/teams-bot.ts';

const headers = (values: Record<string, string> = {}) => ({ get: (name: string) => values[name.toLowerCase()] });
const request = () => ({ method: 'POST', url: 'http://127.0.0.1/v3/conversations/x/activities', timeout: 0 });

describe('Teams connector pipeline', () => {
  it('retries 429 and 5xx a bounded number of times, with growing waits', async () => {
    const waits: number[] = [];
    const policy = connectorRetryPolicy(silentLogger(), { maxRetries: 3, baseDelayMs: 100, sleep: (ms) => (waits.push(ms), Promise.resolve()) });
    let calls = 0;
    const response = await policy.sendRequest(request(), () => {
      calls += 1;
      return Promise.resolve({ status: 503, headers: headers() });
    });
    assert.equal(response.status, 503);
    assert.equal(calls, 4, 'first attempt + 3 retries');
    assert.equal(waits.length, 3);
    assert.ok(waits.every((ms, i) => ms >= 0 && ms <= 100 * 2 ** i));
  });

  it('does not retry other statuses, and sets a per-attempt timeout', async () => {
    const policy = connectorRetryPolicy(silentLogger(), { sleep: () => Promise.resolve() });
    for (const status of [200, 400, 401, 403, 404, 501]) {
      let calls = 0;
      const req = request();
      await policy.sendRequest(req, () => {
        calls += 1;
        return Promise.resolve({ status, headers: headers() });
      });
      assert.equal(calls, 1, String(status));
      assert.equal(req.timeout, 15_000);
    }
  });

  it('honours Retry-After, and gives up when it asks for longer than the limit', async () => {
    const waits: number[] = [];
    const policy = connectorRetryPolicy(silentLogger(), { maxDelayMs: 5000, sleep: (ms) => (waits.push(ms), Promise.resolve()) });
    const answers = [{ status: 429, headers: headers({ 'retry-after': '2' }) }, { status: 200, headers: headers() }];
    const ok = await policy.sendRequest(request(), () => Promise.resolve(answers.shift()!));
    assert.equal(ok.status, 200);
    assert.ok(waits[0]! >= 2000);
    let calls = 0;
    const refused = await policy.sendRequest(request(), () => {
      calls += 1;
      return Promise.resolve({ status: 429, headers: headers({ 'retry-after': '3600' }) });
    });
    assert.equal(refused.status, 429);
    assert.equal(calls, 1);
    assert.equal(retryAfterMs(headers({ 'retry-after': new Date(Date.now() + 10_000).toUTCString() }))! > 8000, true);
    assert.throws(() => connectorRetryPolicy(silentLogger(), { maxRetries: -1 }), /maxRetries/);
  });

  it('retries a reset or refused connection within the same bound, and no other thrown error', async () => {
    const waits: number[] = [];
    const policy = connectorRetryPolicy(silentLogger(), { maxRetries: 3, baseDelayMs: 100, sleep: (ms) => (waits.push(ms), Promise.resolve()) });
    const networkError = (code: string) => Object.assign(new Error('socket hang up'), { name: 'RestError', code });
    const failures = [networkError('ECONNRESET'), networkError('ECONNREFUSED')];
    let calls = 0;
    const ok = await policy.sendRequest(request(), () => {
      calls += 1;
      const failure = failures.shift();
      return failure === undefined ? Promise.resolve({ status: 200, headers: headers() }) : Promise.reject(failure);
    });
    assert.equal(ok.status, 200);
    assert.equal(calls, 3);
    assert.ok(waits.length === 2 && waits.every((ms, i) => ms >= 0 && ms <= 100 * 2 ** i));

    let resets = 0;
    await assert.rejects(
      policy.sendRequest(request(), () => {
        resets += 1;
        return Promise.reject(networkError('ECONNRESET'));
      }),
      /socket hang up/,
    );
    assert.equal(resets, 4, 'first attempt + 3 retries, then the error goes to the caller');

    for (const error of [new TypeError('bug'), Object.assign(new Error('aborted'), { name: 'AbortError' }), networkError('REQUEST_SEND_ERROR')]) {
      let once = 0;
      await assert.rejects(
        policy.sendRequest(request(), () => {
          once += 1;
          return Promise.reject(error);
        }),
      );
      assert.equal(once, 1, error.name);
    }
  });

  it('restores the streaminfo entity the SDK serializer strips', async () => {
    const req = {
      ...request(),
      body: JSON.stringify({ type: 'typing', text: 'x', entities: [{ type: 'streaminfo' }], channelData: { streamType: 'streaming', streamSequence: 2, streamId: 's1' } }),
    };
    let sent: { entities?: unknown } = {};
    await streamInfoPolicy().sendRequest(req, (r) => {
      sent = JSON.parse(String((r as { body: string }).body)) as { entities?: unknown };
      return Promise.resolve({ status: 200, headers: headers() });
    });
    assert.deepEqual(sent.entities, [{ type: 'streaminfo', streamType: 'streaming', streamId: 's1', streamSequence: 2 }]);
  });
});

describe('Teams connector pipeline against the fake connector', () => {
  let t: TeamsBot;
  before(async () => {
    t = await startTeamsBot();
  });
  after(async () => {
    await t.close();
  });

  it('a connection reset on the POST of the reply is retried: the reply arrives exactly once', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'holidays', { user: { ...ALICE, aadObjectId: '00000000-0000-4000-8000-00000000e5e7' } });
    const conversation = (activity.conversation as { id: string }).id;
    t.connector.failNext({ reset: true, onlyType: 'message' });
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1, 5000, 'the reply');
    await t.connector.settle(200);
    assert.equal(t.connector.faulted.length, 1, 'the first POST was cut off');
    assert.equal(t.connector.faulted[0]?.activity.type, 'message');
    assert.equal(t.connector.messages(conversation).length, 1);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectorRetryPolicy, retryAfterMs, streamInfoPolicy } from '../adapters/teams/connector-pipeline.ts';
import { silentLogger } from '../src/log/logger.ts';

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

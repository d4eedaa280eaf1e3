// The LLM gateway through its public API, with the real Bedrock client talking to the fake over HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusyError, LlmUnavailableError } from '../src/errors.ts';
import { AdaptiveLimit } from '../src/llm/adaptive-limit.ts';
import { createBedrockClient } from '../src/llm/bedrock-client.ts';
import type { ModelRequest } from '../src/llm/bedrock-client.ts';
import { CircuitBreaker } from '../src/llm/circuit-breaker.ts';
import { LlmGateway } from '../src/llm/llm-gateway.ts';
import type { LlmGatewayOptions } from '../src/llm/llm-gateway.ts';
import { backoffDelay, classify, retryAfterOf } from '../src/llm/retry-policy.ts';
import { Metrics } from '../src/metrics.ts';
import { startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock, FakeBedrockOptions } from './fakes/fake-bedrock.ts';

const MODEL_ID = 'anthropic.claude-3-haiku-20240307-v1:0';

const REQUEST: ModelRequest = {
  system: 'Answer from these sections.\n\n[1] Paid time off › Carry-over (pto.md#carry-over)\nUp to five unused days carry over. The rest expire.',
  messages: [{ role: 'user', text: 'How many PTO days carry over?' }],
  maxTokens: 300,
};
const EXPECTED = 'According to the handbook (Paid time off › Carry-over (pto.md#carry-over)): Up to five unused days carry over. [1]';

/** Small backoff so retries take milliseconds; no test asserts on timing. */
const FAST: LlmGatewayOptions = {
  concurrency: 4,
  queueLimit: 100,
  requestsPerMinute: 0,
  timeoutMs: 5_000,
  maxAttempts: 3,
  maxThrottledAttempts: 3,
  backoffBaseMs: 5,
  backoffMaxMs: 50,
  breakerFailures: 3,
  breakerCooldownMs: 60_000,
};

async function withGateway(
  body: (fake: FakeBedrock, gateway: LlmGateway, metrics: Metrics) => Promise<void>,
  options: Partial<LlmGatewayOptions> = {},
  fakeOptions: FakeBedrockOptions = {},
): Promise<void> {
  const fake = await startFakeBedrock(fakeOptions);
  const metrics = new Metrics();
  const gateway = new LlmGateway(
    createBedrockClient({ region: 'us-east-1', modelId: MODEL_ID, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, endpoint: fake.url }),
    { ...FAST, ...options },
    { metrics },
  );
  try {
    await body(fake, gateway, metrics);
  } finally {
    gateway.close();
    await fake.close();
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected a rejection');
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

void describe('retry policy', () => {
  void it('classifies retryable and non-retryable errors', () => {
    const sdk = (name: string, status?: number, headers?: Record<string, string>) =>
      Object.assign(new Error(name), { name, $metadata: status === undefined ? {} : { httpStatusCode: status }, $response: { headers } });
    assert.deepEqual(classify(sdk('ThrottlingException', 429, { 'retry-after': '2' })), {
      kind: 'throttled',
      retryable: true,
      label: 'ThrottlingException',
      retryAfterMs: 2000,
    });
    for (const name of ['ServiceUnavailableException', 'ModelNotReadyException', 'InternalServerException']) {
      assert.equal(classify(sdk(name, 503)).retryable, true, name);
    }
    assert.equal(classify(sdk('SomethingNew', 502)).retryable, true);
    for (const name of ['ValidationException', 'AccessDeniedException', 'ResourceNotFoundException']) {
      assert.equal(classify(sdk(name, 400)).retryable, false, name);
    }
    assert.equal(classify(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).kind, 'network');
    assert.equal(classify(new Error('whatever'), true).kind, 'timeout');
    assert.equal(classify(new TypeError('bug')).retryable, false);
  });

  void it('reads Retry-After in seconds, as a date, and x-amz-retry-after in ms', () => {
    assert.equal(retryAfterOf({ 'retry-after': '3' }), 3000);
    assert.equal(retryAfterOf({ 'x-amz-retry-after': '1500' }), 1500);
    assert.equal(retryAfterOf({ 'retry-after': new Date(10_000).toUTCString() }, 4_000), 6_000);
    assert.equal(retryAfterOf({}), undefined);
  });

  void it('backs off with full jitter under a cap, and never below a server hint', () => {
    const options = { baseMs: 100, maxMs: 1_000 };
    assert.equal(backoffDelay(0, options, undefined, () => 0.999), 99);
    assert.equal(backoffDelay(3, options, undefined, () => 0.5), 400);
    assert.equal(backoffDelay(10, options, undefined, () => 0.999), 999);
    assert.equal(backoffDelay(0, options, undefined, () => 0), 0);
    assert.equal(backoffDelay(0, options, 700, () => 0), 700);
  });
});

void describe('circuit breaker and AIMD', () => {
  void it('opens after repeated failures, lets one trial through after the cool-down, closes on success', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 100, now: () => now });
    breaker.recordFailure();
    assert.equal(breaker.tryAcquire(), true);
    breaker.recordFailure();
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.tryAcquire(), false);
    now = 100;
    assert.equal(breaker.tryAcquire(), true, 'one trial');
    assert.equal(breaker.tryAcquire(), false, 'only one trial at a time');
    breaker.recordFailure();
    assert.equal(breaker.state, 'open', 'a failed trial opens it again');
    now = 200;
    assert.equal(breaker.tryAcquire(), true);
    breaker.recordSuccess();
    assert.equal(breaker.state, 'closed');
  });

  void it('starts slow, then halves on a throttle burst (once per interval) and adds one per window of successes', () => {
    let now = 0;
    const seen: number[] = [];
    const limit = new AdaptiveLimit({ max: 8, onChange: (n) => seen.push(n), now: () => now, decreaseIntervalMs: 100 });
    assert.equal(limit.limit, 1, 'starts low: the first calls also open the connection');
    for (let i = 0; i < 7; i++) limit.onSuccess();
    assert.equal(limit.limit, 8, 'slow start: one more per success until the ceiling');
    seen.length = 0;
    limit.onThrottle();
    limit.onThrottle(); // same burst
    assert.equal(limit.limit, 4);
    now = 150;
    limit.onThrottle();
    assert.equal(limit.limit, 2);
    for (let i = 0; i < 2; i++) limit.onSuccess();
    assert.equal(limit.limit, 3);
    for (let i = 0; i < 100; i++) limit.onSuccess();
    assert.equal(limit.limit, 8, 'never above the ceiling');
    assert.deepEqual(seen.slice(0, 3), [4, 2, 3]);
  });

  void it('undoes its latest decrease when the throttles turn out not to depend on the load', () => {
    const clock = { now: 0 };
    const limit = new AdaptiveLimit({ max: 8, onChange: () => undefined, now: () => clock.now });
    for (let i = 0; i < 3; i++) limit.onSuccess();
    assert.equal(limit.limit, 4);
    limit.onThrottle();
    assert.equal(limit.limit, 2);
    limit.undoDecrease();
    assert.equal(limit.limit, 4, 'back to where it was');
    limit.onSuccess();
    assert.equal(limit.limit, 5, 'and still in slow start');
    limit.undoDecrease();
    assert.equal(limit.limit, 5, 'a second undo changes nothing');
    clock.now = 5_000;
    limit.onThrottle();
    assert.equal(limit.limit, 2);
    limit.onThrottle(); // within the interval: no decrease, so nothing of its own to undo
    limit.undoDecrease();
    assert.equal(limit.limit, 2, 'an undo after a skipped decrease keeps the earlier one');
  });
});

void describe('LLM gateway against the fake Bedrock', () => {
  void it('answers through Converse with usage, one attempt, SDK retries off, maxTokens always set', async () => {
    await withGateway(async (fake, gateway) => {
      const result = await gateway.complete(REQUEST);
      assert.equal(result.text, EXPECTED);
      assert.equal(result.stopReason, 'end_turn');
      assert.ok(result.usage.input > 0 && result.usage.output > 0);
      assert.equal(result.attempts, 1);
      assert.equal(fake.calls.length, 1);
      assert.equal(fake.calls[0]?.body.inferenceConfig.maxTokens, 300);
      assert.match(String(fake.calls[0]?.headers['amz-sdk-request']), /max=1/);
    });
  });

  void it('retries a 503, a throttle and a connection reset, each as one SDK attempt', async () => {
    await withGateway(async (fake, gateway, metrics) => {
      fake.failNext(1, { kind: 'status', status: 503, errorType: 'ServiceUnavailableException' });
      fake.failNext(1, { kind: 'throttle' });
      const result = await gateway.complete(REQUEST);
      assert.equal(result.attempts, 3);
      assert.deepEqual(
        fake.calls.map((c) => c.attempt),
        [1, 1, 1],
        'the SDK never retries on its own',
      );
      fake.failNext(1, { kind: 'reset' });
      assert.equal((await gateway.complete(REQUEST)).attempts, 2);
      assert.equal(gateway.stats.throttles, 1);
      assert.equal(metrics.value('hrbot_llm_attempts_total', { outcome: 'throttled' }), 1);
    });
  });

  void it('gives up after LLM_MAX_ATTEMPTS retryable failures', async () => {
    await withGateway(async (fake, gateway) => {
      fake.setFault({ kind: 'status', status: 500, errorType: 'InternalServerException' });
      const error = await rejection(gateway.complete(REQUEST));
      assert.ok(error instanceof LlmUnavailableError);
      assert.equal(error.code, 'llm_failed');
      assert.equal(fake.calls.length, 3);
    });
  });

  void it('does not retry validation or access errors', async () => {
    await withGateway(async (fake, gateway) => {
      for (const errorType of ['ValidationException', 'AccessDeniedException']) {
        fake.reset();
        fake.failNext(1, { kind: 'status', status: errorType === 'ValidationException' ? 400 : 403, errorType });
        const error = await rejection(gateway.complete(REQUEST));
        assert.ok(error instanceof LlmUnavailableError, errorType);
        assert.equal(fake.calls.length, 1, errorType);
      }
    });
  });

  void it('waits at least the Retry-After a throttle carries before retrying', async () => {
    await withGateway(
      async (fake, gateway) => {
        fake.failNext(1, { kind: 'throttle', retryAfterSeconds: 1 });
        const result = await gateway.complete(REQUEST);
        assert.equal(result.attempts, 2);
        const [first, second] = fake.calls;
        // A lower bound only: the backoff alone (base 5 ms) would have retried at once.
        assert.ok(second!.at - first!.at >= 950, `retried after ${second!.at - first!.at} ms`);
      },
      { backoffMaxMs: 2_000 },
    );
  });

  void it('gives up at once when Retry-After is beyond the backoff cap instead of waiting', async () => {
    await withGateway(async (fake, gateway) => {
      fake.failNext(1, { kind: 'throttle', retryAfterSeconds: 30 });
      const error = await rejection(gateway.complete(REQUEST));
      assert.ok(error instanceof LlmUnavailableError);
      assert.equal(error.code, 'llm_throttled');
      assert.equal(fake.calls.length, 1);
    });
  });

  void it('times out a slow attempt and retries it', async () => {
    await withGateway(
      async (fake, gateway) => {
        fake.failNext(1, { kind: 'slow', delayMs: 10_000 });
        const result = await gateway.complete(REQUEST);
        assert.equal(result.attempts, 2);
        await waitFor(() => fake.stats.inFlight === 0);
        assert.equal(fake.stats.failed, 1, 'the slow attempt was abandoned, not left running');
      },
      { timeoutMs: 300 },
    );
  });

  void it('opens the breaker after repeated failures: no calls during the cool-down, then recovers', async () => {
    await withGateway(
      async (fake, gateway, metrics) => {
        fake.setFault({ kind: 'status', status: 503, errorType: 'ServiceUnavailableException' });
        for (let i = 0; i < 2; i++) await rejection(gateway.complete(REQUEST));
        assert.equal(gateway.breakerState, 'open');
        const before = fake.calls.length;
        const error = await rejection(gateway.complete(REQUEST));
        assert.ok(error instanceof LlmUnavailableError);
        assert.equal(error.code, 'llm_breaker_open');
        assert.equal(fake.calls.length, before, 'an open breaker does not call Bedrock');
        await metrics.render();
        assert.equal(metrics.value('hrbot_llm_breaker_state'), 2);

        fake.setFault(null);
        await waitFor(() => gateway.breakerState === 'half-open');
        const result = await gateway.complete(REQUEST);
        assert.equal(result.text, EXPECTED);
        assert.equal(gateway.breakerState, 'closed');
      },
      { breakerFailures: 2, breakerCooldownMs: 200, maxAttempts: 1 },
    );
  });

  void it('rejects at once with BusyError when the waiting line is full', async () => {
    await withGateway(
      async (fake, gateway) => {
        const calls = Array.from({ length: 6 }, () => gateway.complete(REQUEST).then(() => 'ok', (error: unknown) => error));
        const outcomes = await Promise.all(calls);
        const busy = outcomes.filter((o) => o instanceof BusyError);
        assert.equal(busy.length, 3, '1 running + 2 waiting are admitted, the rest are refused');
        assert.equal(outcomes.filter((o) => o === 'ok').length, 3);
        assert.equal(fake.calls.length, 3);
        assert.equal(gateway.stats.busy, 3);
      },
      { concurrency: 1, queueLimit: 2 },
      { latencyMs: 50 },
    );
  });

  void it('reports saturation while the waiting line is nearly full', async () => {
    await withGateway(
      async (_fake, gateway) => {
        assert.equal(gateway.saturated, false);
        const pending = Array.from({ length: 11 }, () => gateway.complete(REQUEST));
        assert.equal(gateway.saturated, true);
        await Promise.all(pending);
        assert.equal(gateway.saturated, false);
      },
      { concurrency: 1, queueLimit: 10 },
      { latencyMs: 5 },
    );
  });

  void it('coalesces 100 identical concurrent questions into one Bedrock call', async () => {
    await withGateway(
      async (fake, gateway) => {
        const results = await Promise.all(Array.from({ length: 100 }, () => gateway.complete(REQUEST, { coalesceKey: 'same-question' })));
        assert.equal(fake.calls.length, 1);
        assert.ok(results.every((r) => r.text === EXPECTED));
        assert.equal(results.filter((r) => !r.shared).length, 1, 'one leader; the rest are marked shared');
        assert.equal(gateway.stats.coalesced, 99);
        // Once settled, the next identical question is a new call.
        await gateway.complete(REQUEST, { coalesceKey: 'same-question' });
        assert.equal(fake.calls.length, 2);
      },
      {},
      { latencyMs: 30 },
    );
  });

  void it('lowers concurrency under sustained throttling and raises it back on success (AIMD)', async () => {
    await withGateway(
      async (fake, gateway) => {
        fake.failNext(8, { kind: 'throttle' });
        await Promise.all(Array.from({ length: 8 }, () => gateway.complete(REQUEST)));
        assert.ok(gateway.concurrency < 8, `concurrency lowered, is ${gateway.concurrency}`);
        for (let i = 0; i < 60; i++) await gateway.complete(REQUEST);
        assert.equal(gateway.concurrency, 8);
      },
      { concurrency: 8, maxThrottledAttempts: 5 },
    );
  });

  void it('random throttles at a constant share (not a quota) leave concurrency and the rate up; every call is answered', async () => {
    await withGateway(
      async (fake, gateway) => {
        const results = await Promise.all(Array.from({ length: 300 }, () => gateway.complete(REQUEST)));
        assert.equal(results.length, 300);
        assert.equal(gateway.stats.failures, 0);
        assert.ok(fake.stats.throttled > 50, `throttled ${fake.stats.throttled}`);
        // Every throttle used to halve concurrency and cut the rate: both ended at their floor.
        assert.ok(gateway.concurrency >= 6, `concurrency ended at ${gateway.concurrency} of 8`);
        assert.ok(gateway.rateLimit > 10, `rate ended at ${gateway.rateLimit}/s`);
      },
      // 12 throttled attempts: at 30% a call is throttled 8 times in a row with p = 0.3^8 ≈ 7e-5, which over
      // 300 calls failed about one run in fifty; 0.3^12 makes that about one in 7,000.
      { concurrency: 8, maxThrottledAttempts: 12, backoffBaseMs: 5, backoffMaxMs: 50, queueLimit: 400 },
      { latencyMs: 20, randomFaults: { throttle: 0.3, error: 0, seed: 3 } },
    );
  });

  void it('streams deltas in order and returns the full text', async () => {
    await withGateway(
      async (fake, gateway) => {
        const deltas: string[] = [];
        const result = await gateway.complete(REQUEST, {
          onDelta: async (text) => {
            await new Promise((resolve) => setImmediate(resolve));
            deltas.push(text);
          },
        });
        assert.ok(deltas.length > 3);
        assert.equal(deltas.join(''), EXPECTED);
        assert.equal(result.text, EXPECTED);
        assert.equal(result.streamed, true);
        assert.equal(fake.calls[0]?.operation, 'converse-stream');
      },
      {},
      { chunkChars: 10 },
    );
  });

  void it('a stream that breaks after text was shown fails without a retry; one that breaks before any text is retried', async () => {
    await withGateway(
      async (fake, gateway) => {
        fake.failNext(1, { kind: 'break-stream', afterChunks: 2 });
        const shown: string[] = [];
        const error = await rejection(gateway.complete(REQUEST, { onDelta: (t) => Promise.resolve(void shown.push(t)) }));
        assert.ok(error instanceof LlmUnavailableError);
        assert.equal(shown.length, 2);
        assert.equal(fake.calls.length, 1, 'not retried: a retry would stream the text twice');

        fake.reset();
        fake.failNext(1, { kind: 'break-stream', afterChunks: 0, how: 'exception' });
        const again: string[] = [];
        const result = await gateway.complete(REQUEST, { onDelta: (t) => Promise.resolve(void again.push(t)) });
        assert.equal(result.attempts, 2);
        assert.equal(again.join(''), EXPECTED);
      },
      {},
      { chunkChars: 10 },
    );
  });

  void it('a stream that stalls half way is ended by the attempt deadline, not awaited forever', async () => {
    await withGateway(
      async (fake, gateway) => {
        fake.setStreaming({ chunkDelayMs: 5_000 });
        const shown: string[] = [];
        const error = await rejection(gateway.complete(REQUEST, { onDelta: (t) => Promise.resolve(void shown.push(t)) }));
        assert.ok(error instanceof LlmUnavailableError);
        assert.equal(error.code, 'llm_timeout');
        assert.equal(shown.length, 1, 'the first piece arrived, then the stream stalled');
        await waitFor(() => fake.stats.inFlight === 0);
      },
      { timeoutMs: 300 },
      { chunkChars: 10 },
    );
  });

  void it('spreads calls under a requests-per-minute cap, so a quota is not hit', async () => {
    // 120 per minute = 2 per rolling second: five calls start over about two seconds, not in one burst.
    await withGateway(
      async (fake, gateway) => {
        // The fake's "minute" is one second here (timeScale 60). Its quota of 4 per second leaves room for
        // arrival jitter (the first requests also open the connection), which a loaded machine stretches.
        fake.setQuota({ requestsPerMinute: 4 });
        const results = await Promise.all(Array.from({ length: 5 }, () => gateway.complete(REQUEST)));
        assert.equal(results.length, 5);
        const at = fake.calls.map((c) => c.at);
        assert.ok(Math.max(...at) - Math.min(...at) >= 1_500, 'starts are spread out, not a burst');
        assert.equal(fake.stats.throttled, 0);
      },
      { requestsPerMinute: 120, concurrency: 8 },
      { timeScale: 60 },
    );
  });

  void it('without a rate cap, learns a quota from its throttles: no retry storm, no failed call', async () => {
    // Quota 20 per second (timeScale 60) against 16 calls in flight of 20 ms, i.e. 800/s unpaced: 40 times
    // the quota, so each call would be throttled dozens of times over if nothing paced it. (This bound was
    // 0.5 per call while the first throttle dropped the rate to its 0.5/s floor, before a send rate had been
    // measured: few throttles, but 120 calls took ~26 s instead of ~6. Now they take ~6 s, ~0.6-0.7 per call.)
    await withGateway(
      async (fake, gateway) => {
        fake.setQuota({ requestsPerMinute: 20 });
        const results = await Promise.all(Array.from({ length: 120 }, () => gateway.complete(REQUEST)));
        assert.equal(results.length, 120);
        assert.equal(gateway.stats.failures, 0);
        assert.ok(Number.isFinite(gateway.rateLimit), 'the rate is paced after the first throttle');
        assert.ok(fake.stats.throttled <= 120 * 1.5, `throttles ${fake.stats.throttled} for 120 calls`);
      },
      // 12 throttled attempts per call: on a machine busy with other suites (2 cores, tests in parallel) the
      // fake's 1-s quota windows and the gateway's pacing drift apart for a while; the storm bound above
      // (1.5 throttles per call overall) is what says the rate was learnt.
      { concurrency: 16, maxThrottledAttempts: 12, backoffBaseMs: 50, backoffMaxMs: 1_000, queueLimit: 200 },
      { timeScale: 60, latencyMs: 20 },
    );
  });

  void it('the SDK reads AWS_ENDPOINT_URL_BEDROCK_RUNTIME from the environment when no endpoint is passed', async () => {
    const fake = await startFakeBedrock();
    const previous = process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
    process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = fake.url;
    const gateway = new LlmGateway(
      createBedrockClient({ region: 'us-east-1', modelId: MODEL_ID, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }),
      FAST,
    );
    try {
      assert.equal((await gateway.complete(REQUEST)).text, EXPECTED);
      assert.equal(fake.calls.length, 1);
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
      else process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = previous;
      gateway.close();
      await fake.close();
    }
  });
});

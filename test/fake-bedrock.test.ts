// Proves the fake Bedrock speaks the real wire protocol: every test drives the REAL AWS SDK client at it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  ServiceUnavailableException,
  ThrottlingException,
} from '@aws-sdk/client-bedrock-runtime';
import type { BedrockRuntimeClientConfig, ConverseStreamOutput, Message, SystemContentBlock } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { crc32, encodeEventStreamMessage, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock } from './fakes/fake-bedrock.ts';

// A real-looking model id: the colon must survive the SDK's URL encoding and our decoding.
const MODEL_ID = 'anthropic.claude-3-haiku-20240307-v1:0';

const SYSTEM: SystemContentBlock[] = [
  {
    text: [
      'You are the HR assistant. Answer only from these handbook sections.',
      '',
      '## Paid time off > Carry-over',
      'Up to five unused PTO days carry over into the next calendar year. The rest expire on 31 December.',
      '',
      '## Sick leave',
      'Sick days are unlimited but need a note after three days.',
    ].join('\n'),
  },
];
const EXPECTED_ANSWER = 'According to the handbook (Paid time off > Carry-over): Up to five unused PTO days carry over into the next calendar year.';

function question(text: string): Message[] {
  return [{ role: 'user', content: [{ text }] }];
}

function makeClient(config: Partial<BedrockRuntimeClientConfig> = {}): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    maxAttempts: 1,
    ...config,
  });
}

/** Runs `body` against a fresh fake and client, and always tears both down so the process can exit. */
async function withFake(
  body: (fake: FakeBedrock, client: BedrockRuntimeClient) => Promise<void>,
  options: Parameters<typeof startFakeBedrock>[0] = {},
  config: Partial<BedrockRuntimeClientConfig> = {},
): Promise<void> {
  const fake = await startFakeBedrock(options);
  const client = makeClient({ endpoint: fake.url, ...config });
  try {
    await body(fake, client);
  } finally {
    client.destroy();
    await fake.close();
  }
}

interface StreamResult {
  text: string;
  deltas: number;
  stopReason: string | undefined;
  usage: { inputTokens?: number; outputTokens?: number; totalTokens?: number } | undefined;
}

async function readStream(stream: AsyncIterable<ConverseStreamOutput>, seen: string[] = []): Promise<StreamResult> {
  const result: StreamResult = { text: '', deltas: 0, stopReason: undefined, usage: undefined };
  for await (const event of stream) {
    const delta = event.contentBlockDelta?.delta?.text;
    if (delta !== undefined) {
      result.text += delta;
      result.deltas++;
      seen.push(delta);
    }
    if (event.messageStop) result.stopReason = event.messageStop.stopReason;
    if (event.metadata) result.usage = event.metadata.usage;
  }
  return result;
}

/** Polls `condition` every 5 ms for up to 2 s (server-side counters settle a moment after the client). */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(condition(), 'condition not met within 2 s');
}

/** The fields the SDK hangs on its errors (service exceptions carry all of them, transport errors some). */
interface SdkError extends Error {
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $response?: { headers?: Record<string, string> };
}

/** Asserts `promise` rejects, and returns the error for closer inspection. */
async function rejectionOf(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error, 'the SDK rejects with Error instances');
    return err;
  }
  assert.fail('expected the promise to reject');
}

// describe/it return promises the runner itself tracks; `void` tells the linter that is intended.
void describe('fake Bedrock with the real SDK client', () => {
  void it('event-stream framing uses the gzip CRC32', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    const message = encodeEventStreamMessage({ ':message-type': 'event' }, Buffer.from('{}'));
    assert.equal(message.readUInt32BE(0), message.length);
    assert.equal(message.readUInt32BE(8), crc32(message.subarray(0, 8)));
    assert.equal(message.readUInt32BE(message.length - 4), crc32(message.subarray(0, message.length - 4)));
  });

  void it('answers Converse with text and usage over HTTP/2 (the SDK default handler)', async () => {
    await withFake(async (fake, client) => {
      const out = await client.send(
        new ConverseCommand({
          modelId: MODEL_ID,
          system: SYSTEM,
          messages: question('How many PTO days carry over?'),
          inferenceConfig: { maxTokens: 300, temperature: 0 },
        }),
      );
      assert.equal(out.output?.message?.role, 'assistant');
      assert.equal(out.output?.message?.content?.[0]?.text, EXPECTED_ANSWER);
      assert.equal(out.stopReason, 'end_turn');
      assert.ok((out.usage?.inputTokens ?? 0) > 0);
      assert.ok((out.usage?.outputTokens ?? 0) > 0);
      assert.equal(out.usage?.totalTokens, (out.usage?.inputTokens ?? 0) + (out.usage?.outputTokens ?? 0));
      assert.equal(typeof out.metrics?.latencyMs, 'number');
      assert.equal(out.$metadata.httpStatusCode, 200);

      assert.equal(fake.calls.length, 1);
      const call = fake.calls[0]!;
      assert.equal(call.operation, 'converse');
      assert.equal(call.modelId, MODEL_ID);
      assert.equal(call.protocol, 'h2');
      assert.equal(call.attempt, 1);
      assert.equal(call.body.inferenceConfig.maxTokens, 300);
      assert.equal(call.body.messages[0].content[0].text, 'How many PTO days carry over?');
      assert.deepEqual(
        { requests: fake.stats.requests, succeeded: fake.stats.succeeded, failed: fake.stats.failed },
        { requests: 1, succeeded: 1, failed: 0 },
      );
    });
  });

  void it('streams ConverseStream deltas that add up to the answer, then stopReason and usage', async () => {
    await withFake(
      async (fake, client) => {
        fake.reply(() => ({ text: 'Five days carry over; the rest expire. 🎉 Enjoy!', inputTokens: 42, outputTokens: 12 }));
        const out = await client.send(new ConverseStreamCommand({ modelId: MODEL_ID, system: SYSTEM, messages: question('PTO?') }));
        assert.ok(out.stream);
        const result = await readStream(out.stream);
        assert.equal(result.text, 'Five days carry over; the rest expire. 🎉 Enjoy!');
        assert.ok(result.deltas > 3, `expected several deltas, got ${result.deltas}`);
        assert.equal(result.stopReason, 'end_turn');
        assert.deepEqual(result.usage, { inputTokens: 42, outputTokens: 12, totalTokens: 54 });
        assert.equal(fake.calls[0]?.operation, 'converse-stream');
        assert.equal(fake.stats.succeeded, 1);
      },
      { chunkChars: 8, chunkDelayMs: 2 },
    );
  });

  void it('surfaces a 429 as ThrottlingException', async () => {
    await withFake(async (fake, client) => {
      fake.failNext(1, { kind: 'throttle', retryAfterSeconds: 2 });
      const err = await rejectionOf(client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') })));
      assert.equal(err.name, 'ThrottlingException');
      assert.ok(err instanceof ThrottlingException);
      assert.equal(err.$metadata.httpStatusCode, 429);
      assert.equal(err.message, 'Too many requests, please wait before trying again.');
      assert.equal(err.$response?.headers?.['retry-after'], '2');

      // Only the next request was failed: the one after that is answered.
      const out = await client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') }));
      assert.ok(out.output?.message?.content?.[0]?.text);
      assert.deepEqual([fake.stats.throttled, fake.stats.succeeded], [1, 1]);
    });
  });

  void it('surfaces a 503 as ServiceUnavailableException, on Converse and ConverseStream alike', async () => {
    await withFake(async (fake, client) => {
      fake.setFault({ kind: 'status', status: 503, errorType: 'ServiceUnavailableException', message: 'Model is busy.' });
      const err = await rejectionOf(client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') })));
      assert.equal(err.name, 'ServiceUnavailableException');
      assert.ok(err instanceof ServiceUnavailableException);
      assert.equal(err.$metadata.httpStatusCode, 503);
      assert.equal(err.message, 'Model is busy.');

      const streamErr = await rejectionOf(client.send(new ConverseStreamCommand({ modelId: MODEL_ID, messages: question('hi') })));
      assert.equal(streamErr.name, 'ServiceUnavailableException');
      assert.equal(streamErr.$metadata?.httpStatusCode, 503);
      assert.equal(fake.stats.failed, 2);
    });
  });

  void it('maps the other modelled errors by x-amzn-errortype', async () => {
    await withFake(async (fake, client) => {
      const cases = [
        { status: 500, errorType: 'InternalServerException' },
        { status: 400, errorType: 'ValidationException' },
        { status: 403, errorType: 'AccessDeniedException' },
        { status: 429, errorType: 'ModelNotReadyException' },
      ] as const;
      for (const { status, errorType } of cases) {
        fake.failNext(1, { kind: 'status', status, errorType });
        const err = await rejectionOf(client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') })));
        assert.equal(err.name, errorType);
        assert.equal(err.$metadata?.httpStatusCode, status);
      }
    });
  });

  void it('lets the SDK retry a 503 when maxAttempts allows, visible as attempt numbers', async () => {
    await withFake(
      async (fake, client) => {
        fake.failNext(1, { kind: 'status', status: 503, errorType: 'ServiceUnavailableException' });
        const out = await client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') }));
        assert.equal(out.$metadata.attempts, 2);
        assert.deepEqual(
          fake.calls.map((c) => c.attempt),
          [1, 2],
        );
      },
      {},
      { maxAttempts: 2 },
    );
  });

  for (const [protocol, config] of [
    ['HTTP/2', {}],
    ['HTTP/1.1', { requestHandler: new NodeHttpHandler() }],
  ] as const) {
    void it(`a stream reset mid-way surfaces as an error inside the for-await loop (${protocol})`, async () => {
      await withFake(
        async (fake, client) => {
          fake.reply(() => ({ text: 'x'.repeat(100) }));
          fake.setFault({ kind: 'break-stream', afterChunks: 3 });
          // The command itself resolves: the break comes after the 200 headers, while iterating.
          const out = await client.send(new ConverseStreamCommand({ modelId: MODEL_ID, messages: question('hi') }));
          assert.ok(out.stream);
          const seen: string[] = [];
          const err = await rejectionOf(readStream(out.stream, seen));
          assert.ok(err instanceof Error);
          assert.equal(seen.join(''), 'x'.repeat(30), 'the deltas sent before the break arrive first');
          assert.equal(fake.stats.failed, 1);
        },
        { chunkChars: 10 },
        config,
      );
    });
  }

  void it('an exception event mid-stream surfaces as the modelled error inside the for-await loop', async () => {
    await withFake(
      async (fake, client) => {
        fake.reply(() => ({ text: 'y'.repeat(50) }));
        fake.failNext(1, { kind: 'break-stream', afterChunks: 2, how: 'exception' });
        const out = await client.send(new ConverseStreamCommand({ modelId: MODEL_ID, messages: question('hi') }));
        assert.ok(out.stream);
        const seen: string[] = [];
        const err = await rejectionOf(readStream(out.stream, seen));
        assert.equal(err.name, 'ModelStreamErrorException');
        assert.equal(err.message, 'Fake model stream error.');
        assert.equal(seen.length, 2);

        fake.failNext(1, { kind: 'break-stream', afterChunks: 1, how: 'exception', exceptionType: 'throttlingException' });
        const again = await client.send(new ConverseStreamCommand({ modelId: MODEL_ID, messages: question('hi') }));
        assert.ok(again.stream);
        const throttled = await rejectionOf(readStream(again.stream));
        assert.equal(throttled.name, 'ThrottlingException');
        assert.ok(throttled instanceof ThrottlingException);
      },
      { chunkChars: 10 },
    );
  });

  void it('a reset without response rejects the command', async () => {
    await withFake(async (fake, client) => {
      fake.failNext(1, { kind: 'reset' });
      const err = await rejectionOf(client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') })));
      assert.ok(err instanceof Error);
      assert.equal(err.$metadata?.httpStatusCode, undefined);
      assert.equal(fake.stats.failed, 1);
    });
  });

  void it('empty and truncated answers arrive as successful responses', async () => {
    await withFake(async (fake, client) => {
      fake.failNext(1, { kind: 'empty' });
      const empty = await client.send(new ConverseCommand({ modelId: MODEL_ID, system: SYSTEM, messages: question('hi') }));
      assert.equal(empty.output?.message?.content?.[0]?.text, '');
      assert.equal(empty.usage?.outputTokens, 0);

      fake.failNext(1, { kind: 'truncated' });
      const cut = await client.send(
        new ConverseCommand({ modelId: MODEL_ID, system: SYSTEM, messages: question('hi'), inferenceConfig: { maxTokens: 7 } }),
      );
      assert.equal(cut.stopReason, 'max_tokens');
      assert.equal(cut.output?.message?.content?.[0]?.text, EXPECTED_ANSWER.slice(0, Math.ceil(EXPECTED_ANSWER.length / 2)));
      assert.equal(cut.usage?.outputTokens, 7);
    });
  });

  void it('a slow answer aborted by the client ends cleanly on both sides', async () => {
    await withFake(async (fake, client) => {
      fake.failNext(1, { kind: 'slow', delayMs: 10_000 });
      const controller = new AbortController();
      const pending = client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') }), { abortSignal: controller.signal });
      // Abort only once the fake holds the request, so the test is about the server noticing.
      await waitFor(() => fake.stats.inFlight === 1);
      controller.abort();
      const err = await rejectionOf(pending);
      assert.equal(err.name, 'AbortError');
      // The fake notices the client left and stops waiting instead of sleeping 10 s.
      await waitFor(() => fake.stats.inFlight === 0);
      assert.equal(fake.stats.failed, 1);
    });
  });

  void it('close() ends requests still waiting for a reply that never comes', async () => {
    const fake = await startFakeBedrock();
    const client = makeClient({ endpoint: fake.url });
    try {
      fake.reply(() => new Promise(() => undefined));
      const pending = rejectionOf(client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') })));
      await waitFor(() => fake.stats.inFlight === 1);
      await fake.close();
      const err = await pending;
      assert.ok(err instanceof Error);
      assert.equal(fake.stats.failed, 1);
    } finally {
      client.destroy();
      await fake.close();
    }
  });

  void it('the quota answers 429 past R requests per (scaled) minute, then admits again', async () => {
    // timeScale 150: "a minute" lasts 400 ms, ample for five concurrent requests to land in one window.
    await withFake(
      async (fake, client) => {
        fake.setQuota({ requestsPerMinute: 3 });
        const results = await Promise.allSettled(
          Array.from({ length: 5 }, () => client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') }))),
        );
        const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(results.length - rejected.length, 3);
        assert.equal(rejected.length, 2);
        for (const r of rejected) {
          assert.equal(r.reason.name, 'ThrottlingException');
          assert.equal(r.reason.$metadata.httpStatusCode, 429);
        }
        assert.deepEqual([fake.stats.succeeded, fake.stats.throttled, fake.stats.requests], [3, 2, 5]);
        assert.ok(fake.stats.concurrentMax >= 1);

        await new Promise((resolve) => setTimeout(resolve, 420));
        const out = await client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') }));
        assert.ok(out.output?.message?.content?.[0]?.text);
      },
      { timeScale: 150 },
    );
  });

  void it('also speaks HTTP/1.1, for a client built with NodeHttpHandler', async () => {
    await withFake(
      async (fake, client) => {
        const out = await client.send(new ConverseCommand({ modelId: MODEL_ID, system: SYSTEM, messages: question('PTO?') }));
        assert.equal(out.output?.message?.content?.[0]?.text, EXPECTED_ANSWER);
        const stream = await client.send(new ConverseStreamCommand({ modelId: MODEL_ID, system: SYSTEM, messages: question('PTO?') }));
        assert.ok(stream.stream);
        assert.equal((await readStream(stream.stream)).text, EXPECTED_ANSWER);
        fake.failNext(1, { kind: 'throttle' });
        const err = await rejectionOf(client.send(new ConverseCommand({ modelId: MODEL_ID, messages: question('hi') })));
        assert.equal(err.name, 'ThrottlingException');
        assert.deepEqual(
          fake.calls.map((c) => c.protocol),
          ['http/1.1', 'http/1.1', 'http/1.1'],
        );
      },
      {},
      { requestHandler: new NodeHttpHandler() },
    );
  });

  void it('the SDK honours AWS_ENDPOINT_URL_BEDROCK_RUNTIME without an endpoint option', async () => {
    const fake = await startFakeBedrock();
    const previous = process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
    process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = fake.url;
    const client = makeClient();
    try {
      const out = await client.send(new ConverseCommand({ modelId: MODEL_ID, system: SYSTEM, messages: question('PTO?') }));
      assert.equal(out.output?.message?.content?.[0]?.text, EXPECTED_ANSWER);
      assert.equal(fake.calls.length, 1);
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
      else process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = previous;
      client.destroy();
      await fake.close();
    }
  });
});

// The Web API client's short way for ordinary calls, against a Web API stand-in on loopback: the same
// requests, results and errors as the SDK's WebClient, its retries, rate-limit pauses and bounds.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { parse } from 'node:querystring';
import { gzipSync } from 'node:zlib';
import { after, before, beforeEach, describe, it } from 'node:test';
import { webApi } from '@slack/bolt';
import { MAX_RESPONSE_BYTES, SlackWebApiError, SlackWebClient } from '../adapters/slack/web-api-client.ts';
import { HrbotError } from '../src/errors.ts';
import { closeServer, listenOnLoopback } from './support/loopback-server.ts';

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

type Answer = (seen: Seen, response: ServerResponse) => void;

const OK: Answer = (_seen, response) => {
  response.setHeader('content-type', 'application/json');
  response.setHeader('x-oauth-scopes', 'chat:write, im:history');
  response.end('{"ok":true,"channel":"D1","ts":"1.000100"}');
};

let base = '';
let seen: Seen[] = [];
let answers: Answer[] = [];
let inFlight = 0;
let mostInFlight = 0;
const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const entry = { path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
    seen.push(entry);
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    response.on('close', () => {
      inFlight -= 1;
    });
    (answers.shift() ?? OK)(entry, response);
  });
});

before(async () => {
  base = `http://127.0.0.1:${await listenOnLoopback(server)}/api/`;
});
after(() => closeServer(server));
beforeEach(() => {
  seen = [];
  answers = [];
  mostInFlight = 0;
});

const FAST_RETRIES = { retries: 2, minTimeout: 1, maxTimeout: 5, factor: 1 };

function status(code: number, body = '', headers: Record<string, string> = {}): Answer {
  return (_seen, response) => {
    response.writeHead(code, headers);
    response.end(body);
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('the call succeeded');
}

describe('the Slack Web API client', () => {
  it("sends the SDK WebClient's request and returns its result, at about half the CPU", async () => {
    const args = {
      channel: 'D1',
      thread_ts: '1.000001',
      text: 'Parental leave: 16 weeks & more',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*Parental leave* 16 weeks' } }],
      unfurl_links: false,
      metadata: undefined,
    };
    const sdk = new webApi.WebClient('xoxb-bot', { slackApiUrl: base, retryConfig: { retries: 0 } });
    const ours = new SlackWebClient('xoxb-bot', { slackApiUrl: base, retryConfig: { retries: 0 } });
    const theirs = await sdk.chat.postMessage(args);
    const mine = await ours.chat.postMessage(args);
    const [a, b] = seen;
    assert.ok(a !== undefined && b !== undefined);
    assert.equal(b.path, a.path);
    assert.equal(b.path, '/api/chat.postMessage');
    assert.deepEqual(parse(b.body), parse(a.body), 'the same form fields, objects as JSON');
    for (const header of ['authorization', 'content-type', 'content-length']) assert.equal(b.headers[header], a.headers[header], header);
    assert.deepEqual(mine, theirs, 'the same result, scopes from the headers included');
    assert.deepEqual(mine.response_metadata?.scopes, ['chat:write', 'im:history']);

    // A token given to the call is its bearer, as with the SDK.
    await ours.auth.test({ token: 'xoxb-other' });
    assert.equal(seen[2]?.headers.authorization, 'Bearer xoxb-other');

    // What the short way is for: the same call costs much less CPU (a ratio in one process, many calls each).
    const cpu = async (client: webApi.WebClient): Promise<number> => {
      const start = process.cpuUsage();
      for (let i = 0; i < 150; i += 1) await client.chat.postMessage(args);
      const used = process.cpuUsage(start);
      return used.user + used.system;
    };
    await cpu(ours);
    await cpu(sdk);
    const [sdkCpu, ourCpu] = [await cpu(sdk), await cpu(ours)];
    assert.ok(ourCpu < sdkCpu, `ours ${ourCpu} µs against the SDK's ${sdkCpu} µs for 150 calls`);
  });

  it("throws Slack's refusal as the SDK's platform error, without retrying it", async () => {
    answers = [status(200, '{"ok":false,"error":"channel_not_found"}', { 'content-type': 'application/json' })];
    const client = new SlackWebClient('xoxb-bot', { slackApiUrl: base, retryConfig: FAST_RETRIES });
    const error = await rejection(client.chat.postMessage({ channel: 'C404', text: 'x' }));
    assert.ok(error instanceof SlackWebApiError && error instanceof HrbotError);
    assert.equal(error.code, webApi.ErrorCode.PlatformError);
    assert.equal(error.data?.error, 'channel_not_found');
    assert.equal(seen.length, 1);
  });

  it('retries HTTP errors by its retry policy, then throws the SDK’s HTTP error', async () => {
    answers = [status(503), status(502)];
    const client = new SlackWebClient('xoxb-bot', { slackApiUrl: base, retryConfig: FAST_RETRIES });
    const result = await client.chat.postMessage({ channel: 'D1', text: 'x' });
    assert.equal(result.ok, true);
    assert.equal(seen.length, 3, 'two failures, then the answer');

    seen = [];
    answers = [status(500, 'oops'), status(500, 'oops'), status(500, 'oops'), status(500, 'oops')];
    const error = await rejection(client.chat.postMessage({ channel: 'D1', text: 'x' }));
    assert.ok(error instanceof SlackWebApiError);
    assert.equal(error.code, webApi.ErrorCode.HTTPError);
    assert.equal(error.statusCode, 500);
    assert.equal(error.body, 'oops');
    assert.equal(seen.length, 3, 'the first attempt and two retries');
  });

  it("waits out a 429's Retry-After with the whole client paused, then answers", async () => {
    answers = [status(429, '', { 'retry-after': '1' })];
    const client = new SlackWebClient('xoxb-bot', { slackApiUrl: base, retryConfig: FAST_RETRIES });
    const limited: number[] = [];
    client.on(webApi.WebClientEvent.RATE_LIMITED, (seconds: number) => limited.push(seconds));
    const first = client.chat.postMessage({ channel: 'D1', text: 'first' });
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = client.chat.postMessage({ channel: 'D1', text: 'second' });
    assert.equal((await first).ok, true);
    assert.equal((await second).ok, true);
    assert.deepEqual(limited, [1]);
    const limitedAt = seen[0]!.at;
    assert.equal(seen.length, 3);
    for (const later of seen.slice(1)) assert.ok(later.at - limitedAt >= 950, `a call ${later.at - limitedAt} ms after the 429`);

    // A 429 that says nothing of when to come back is not retried.
    seen = [];
    answers = [status(429)];
    const error = await rejection(client.chat.postMessage({ channel: 'D1', text: 'x' }));
    assert.ok(error instanceof SlackWebApiError);
    assert.equal(error.code, webApi.ErrorCode.HTTPError);
    assert.equal(error.statusCode, 429);
    assert.match(error.message, /Retry header did not contain a valid timeout/);
    assert.equal(seen.length, 1);

    // A client told to reject rate-limited calls throws at once, with the wait Slack asked for.
    seen = [];
    answers = [status(429, '', { 'retry-after': '30' })];
    const rejecting = new SlackWebClient('xoxb-bot', { slackApiUrl: base, retryConfig: FAST_RETRIES, rejectRateLimitedCalls: true });
    const limitedError = await rejection(rejecting.chat.postMessage({ channel: 'D1', text: 'x' }));
    assert.ok(limitedError instanceof SlackWebApiError);
    assert.equal(limitedError.code, webApi.ErrorCode.RateLimitedError);
    assert.equal(limitedError.retryAfter, 30);
    assert.equal(seen.length, 1);
  });

  it("throws the SDK's request error for an unreachable API and a timeout, after its retries", async () => {
    const closed = createServer();
    const port = await listenOnLoopback(closed);
    await closeServer(closed);
    const unreachable = new SlackWebClient('xoxb-bot', { slackApiUrl: `http://127.0.0.1:${port}/api/`, retryConfig: FAST_RETRIES });
    const refused = await rejection(unreachable.chat.postMessage({ channel: 'D1', text: 'x' }));
    assert.ok(refused instanceof SlackWebApiError);
    assert.equal(refused.code, webApi.ErrorCode.RequestError);
    assert.equal((refused.original as NodeJS.ErrnoException).code, 'ECONNREFUSED');

    const held: ServerResponse[] = [];
    answers = [
      (_seen, response) => {
        held.push(response);
      },
    ];
    const slow = new SlackWebClient('xoxb-bot', { slackApiUrl: base, retryConfig: { retries: 0 }, timeout: 100 });
    const timedOut = await rejection(slow.chat.postMessage({ channel: 'D1', text: 'x' }));
    assert.ok(timedOut instanceof SlackWebApiError);
    assert.equal(timedOut.code, webApi.ErrorCode.RequestError);
    assert.equal((timedOut.original as NodeJS.ErrnoException).code, 'ECONNABORTED');
    for (const response of held) response.destroy();
  });

  it('reads at most its bound of a response, fails one cut off, and reads a compressed one', async () => {
    answers = [
      (_seen, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        for (let sent = 0; sent <= MAX_RESPONSE_BYTES; sent += chunk.length) response.write(chunk);
        response.end();
      },
      (_seen, response) => {
        // Compressed, so the cut reaches the decompressor through the response's error.
        const whole = gzipSync(`{"ok":true,"text":"${'y'.repeat(5_000)}"}`);
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(whole.length) });
        response.write(whole.subarray(0, 20), () => response.socket?.destroy());
      },
      (_seen, response) => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        response.end(gzipSync('{"ok":true,"ts":"9.9"}'));
      },
    ];
    const client = new SlackWebClient('xoxb-bot', { slackApiUrl: base, retryConfig: { retries: 0 } });
    const tooLarge = await rejection(client.chat.postMessage({ channel: 'D1', text: 'x' }));
    assert.ok(tooLarge instanceof SlackWebApiError);
    assert.equal((tooLarge.original as NodeJS.ErrnoException).code, 'ERR_RESPONSE_TOO_LARGE');
    const cutOff = await rejection(client.chat.postMessage({ channel: 'D1', text: 'x' }));
    assert.ok(cutOff instanceof SlackWebApiError);
    assert.equal(cutOff.code, webApi.ErrorCode.RequestError);
    const compressed = await client.chat.postMessage({ channel: 'D1', text: 'x' });
    assert.equal(compressed.ts, '9.9');
  });

  it('keeps to its concurrency bound, and leaves binary arguments to the SDK', async () => {
    answers = Array.from({ length: 6 }, () => (entry: Seen, response: ServerResponse) => {
      setTimeout(() => {
        OK(entry, response);
      }, 30);
    });
    const client = new SlackWebClient('xoxb-bot', { slackApiUrl: base, retryConfig: { retries: 0 }, maxRequestConcurrency: 2 });
    await Promise.all(Array.from({ length: 6 }, (_, i) => client.chat.postMessage({ channel: 'D1', text: `m${i}` })));
    assert.equal(seen.length, 6);
    assert.equal(mostInFlight, 2);

    seen = [];
    await client.apiCall('users.setPhoto', { image: Buffer.from('a picture') });
    assert.match(String(seen[0]?.headers['content-type']), /^multipart\/form-data/);
  });
});

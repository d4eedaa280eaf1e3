import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { PassThrough } from 'node:stream';
import { boltLogger, SDK_LINE_LIMIT, sdkLine } from '../adapters/slack/bolt-logger.ts';
import { createLogger } from '../src/log/logger.ts';
import { MARKERS } from '../src/log/redact.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import { FakeSocketMode } from './fakes/fake-socket-mode.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { commandBody, dmEvent, eventBody, FORM_TYPE, JSON_TYPE, mentionEvent, postSigned } from './support/slack-requests.ts';
import { fixedAnswerer } from './support/test-answerers.ts';
import { closeServer, listenOnLoopback } from './support/loopback-server.ts';

const APP_TOKEN = 'xapp-1-A1-1234567890-abcdefabcdefabcdefabcdef';

/** Poll until `predicate` holds; bounded. */
async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A response_url endpoint that records what it was sent and answers 500 with `body`. */
async function failingResponseUrl(body: string): Promise<{ url: (path: string) => string; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push(Buffer.concat(chunks).toString('utf8'));
      response.writeHead(500, { 'content-type': 'text/plain' }).end(body);
    });
  });
  const port = await listenOnLoopback(server);
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    close: () => closeServer(server),
  };
}

/** Lines of the log that carry `needle`, for a readable failure message. */
function linesWith(log: string, needle: string): string {
  return log
    .split('\n')
    .filter((line) => line.includes(needle))
    .join('\n');
}

describe('Logs never carry message text', () => {
  it('Slack SDK lines keep the SDK\'s words only: payloads cut, objects named, redacted, then bounded', () => {
    const body = JSON.stringify({ channel: 'D1', text: 'my zebrafish salary question' });
    assert.equal(sdkLine([`http request body: ${body}`]), 'http request body: [payload omitted]');
    assert.equal(sdkLine(['Received a message on the WebSocket:', { envelope_id: 'x', payload: { text: 'zebrafish' } }]), 'Received a message on the WebSocket: [Object]');
    assert.equal(sdkLine(['items', ['zebrafish', 'okapi']]), 'items [array of 2]');
    assert.equal(sdkLine([new Error('boom for alice@example.com')]), `Error: boom for ${MARKERS.email}`);
    // Redacted before it is cut, so a card straddling the limit is not left half-visible.
    const long = sdkLine([`${'x'.repeat(SDK_LINE_LIMIT - 10)} 4111 1111 1111 1111 tail`]);
    assert.ok(long.length <= SDK_LINE_LIMIT + 1);
    assert.ok(!long.includes('4111'), long);
  });

  it('Slack SDK lines below the level are never built (the Web API client logs several debug lines per call)', () => {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    const sdk = boltLogger(createLogger({ level: 'info', destination: out }));
    let described = 0;
    const part = {
      get constructor() {
        described += 1;
        return Object;
      },
    };
    sdk.debug('http request', part);
    assert.equal(described, 0, 'a debug line at info level is not built');
    sdk.warn('rate limited', part);
    assert.equal(described, 1);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /rate limited \[Object\]/);
  });

  it('a failing response_url POST is logged without the request body, the response body or the URL path', async () => {
    const question = 'how many vacation days do I get, asks zebrafish-question';
    const secretPath = '/commands/T1/5550001/Qm9vU2VjcmV0UGF0aFNlZ21lbnQ';
    const endpoint = await failingResponseUrl(`upstream echoed: ${question}`);
    const t = await startSlackBot();
    try {
      const response = await postSigned(t.baseUrl, commandBody(question, endpoint.url(secretPath)), FORM_TYPE);
      assert.equal(response.status, 200);
      await waitFor(() => t.bot.logText().includes('inbox: item will be retried'), 'the delivery failure to be logged');
      const log = t.bot.logText();
      assert.ok(endpoint.received.length >= 1, 'the reply was posted to the response_url');
      const posted = JSON.parse(endpoint.received[0]!) as { text?: string };
      const replyText = posted.text ?? '';
      assert.ok(replyText.length > 20, 'the reply carries text');

      for (const secret of ['zebrafish', secretPath, 'Qm9vU2VjcmV0UGF0aFNlZ21lbnQ', '5550001', replyText.slice(0, 20), 'response_type', 'upstream echoed']) {
        assert.ok(!log.includes(secret), `${secret} leaked:\n${linesWith(log, secret)}`);
      }
      // What is kept is enough to act on: the error's class, code and HTTP status.
      const line = t.bot.logs.find((entry) => entry['msg'] === 'inbox: item will be retried')!;
      const err = line['err'] as Record<string, unknown>;
      assert.equal(err['type'], 'SlackDeliveryError');
      assert.equal(err['status'], 500);
      for (const key of ['config', 'request', 'response', 'data', 'headers']) assert.ok(!(key in err), `${key} kept in ${JSON.stringify(err)}`);
    } finally {
      await t.close();
      await endpoint.close();
    }
  });

  it('Web API calls at trace level log neither the posted text nor the text past the debug line', async () => {
    const sentence = 'Your okapi-allowance resets every leap year on the ninth moon.';
    // Handbook words throughout, so the handbook covers the question and the answerer is called.
    const tail = 'carryover-blackout-payout';
    const question = `vacation days please ${'and how many can I carry over '.repeat(6)}${tail}`;
    const t = await startSlackBot({ env: { LOG_LEVEL: 'trace' }, extensions: { answerer: fixedAnswerer(sentence) } });
    try {
      const response = await postSigned(t.baseUrl, eventBody(dmEvent(question)), JSON_TYPE);
      assert.equal(response.status, 200);
      await t.api.waitFor(() => t.api.outgoing.some((call) => JSON.stringify(call.args).includes('okapi')), 5_000, 'the answer');
      await waitFor(() => t.bot.logText().includes('message handled'), 'the turn to finish');
      const log = t.bot.logText();
      // The SDK did log at this level, so the test would see a leak if there were one.
      assert.match(log, /"component":"slack-sdk"/);
      for (const secret of ['okapi', 'ninth moon', tail]) assert.ok(!log.includes(secret), `${secret} leaked:\n${linesWith(log, secret)}`);
      // The question's start appears once, in the engine's truncated debug line, and nowhere else.
      const withQuestion = t.bot.logs.filter((entry) => JSON.stringify(entry).includes('vacation days please'));
      assert.deepEqual(
        withQuestion.map((entry) => entry['msg']),
        ['message received'],
      );
    } finally {
      await t.close();
    }
  });

  it('Socket Mode at trace level does not log the raw event', async () => {
    const socket = await new FakeSocketMode().start();
    const api = await new FakeSlackApi().start();
    api.socketUrl = socket.url;
    const sentence = 'Your okapi-allowance resets every leap year on the ninth moon.';
    const tail = 'quokka-tail-words';
    const t = await startSlackBot({
      api,
      env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: '', LOG_LEVEL: 'trace' },
      extensions: { answerer: fixedAnswerer(sentence) },
    });
    try {
      const event = mentionEvent(`parental leave ${'with many words '.repeat(6)}${tail}`, 'USOCKET');
      socket.send('events_api', JSON.parse(eventBody(event, { eventId: 'EvLEAK1' })));
      await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length >= 1, 5_000, 'the answer');
      await waitFor(() => t.bot.logText().includes('message handled'), 'the turn to finish');
      const log = t.bot.logText();
      assert.match(log, /"component":"slack-sdk"/);
      for (const secret of ['okapi', tail, 'USOCKET', APP_TOKEN]) assert.ok(!log.includes(secret), `${secret} leaked:\n${linesWith(log, secret)}`);
      const withQuestion = t.bot.logs.filter((entry) => JSON.stringify(entry).includes('parental leave'));
      assert.deepEqual(
        withQuestion.map((entry) => entry['msg']),
        ['message received'],
      );
    } finally {
      await t.close();
      await socket.close();
    }
  });
});

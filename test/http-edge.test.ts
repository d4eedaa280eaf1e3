// The HTTP edge under unauthenticated load: requests refused before their body is read, bodies
// bounded in size, time and number per route, probes always answered. Driven through the real
// HttpServer with the real Slack receiver and Teams adapter, over raw sockets where a test needs to
// declare a body and never send it.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SlackTestBot } from './support/slack-bot.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { dmEvent, eventBody, JSON_TYPE, postSigned, sign, SIGNING_SECRET } from './support/slack-requests.ts';
import type { TeamsBot } from './support/teams-bot.ts';
import { cardInvoke, personalMessage, startTeamsBot } from './support/teams-bot.ts';

/** Generous bound for an answer that should come at once (the server's own request timeout is 30 s). */
const ANSWER_WITHIN_MS = 10_000;

interface RawResponse {
  status: number;
  headers: Record<string, string>;
}

/**
 * One HTTP/1.1 request written by hand: the head now, body bytes only when `write` is called, so a
 * test can declare a body and never send it. Write errors are expected once the server has refused
 * and closed; the response and the close are what the tests look at.
 */
class RawExchange {
  readonly socket: Socket;
  readonly response: Promise<RawResponse>;
  readonly closed: Promise<void>;
  readonly connected: Promise<void>;

  constructor(baseUrl: string, method: string, path: string, headers: Record<string, string>) {
    const { hostname, port } = new URL(baseUrl);
    this.socket = connect({ host: hostname, port: Number(port) });
    this.socket.on('error', () => undefined);
    this.connected = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.response = new Promise((resolve, reject) => {
      let head = '';
      const onData = (data: Buffer) => {
        head += data.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        this.socket.off('data', onData);
        const [statusLine = '', ...lines] = head.slice(0, end).split('\r\n');
        const parsed: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]), headers: parsed });
      };
      this.socket.on('data', onData);
      this.socket.once('close', () => reject(new Error(`connection closed without a response: ${JSON.stringify(head.slice(0, 200))}`)));
    });
    // A rejection nobody awaits yet must not crash the run; the tests await `response` themselves.
    this.response.catch(() => undefined);
    const head = [`${method} ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    this.socket.write(head);
  }

  write(bytes: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** One chunk of a `Transfer-Encoding: chunked` body. */
  writeChunk(bytes: string | Buffer): void {
    const data = Buffer.from(bytes);
    this.write(Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Reject if `promise` has not settled within `ms` (a bound for a hang, not a timing assertion). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function slackHeaders(options: { signature?: string | null; timestamp?: number; length?: number | 'chunked' }): Record<string, string> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    'content-type': JSON_TYPE,
    ...(options.length === 'chunked' ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(options.length ?? 1_000_000) }),
    'x-slack-request-timestamp': String(timestamp),
    ...(options.signature === null ? {} : { 'x-slack-signature': options.signature ?? `v0=${'0'.repeat(64)}` }),
  };
}

function countBy(values: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

describe('HTTP edge: Slack (/slack/events)', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot();
  });
  after(async () => {
    await t.close();
  });

  it('refuses a request without a valid-looking signature before reading its body, and closes the connection', async () => {
    const before = t.api.calls.length;
    const cases = {
      unsigned: slackHeaders({ signature: null }),
      'no timestamp': { 'content-type': JSON_TYPE, 'content-length': '1000000', 'x-slack-signature': `v0=${'0'.repeat(64)}` },
      'stale timestamp': slackHeaders({ timestamp: Math.floor(Date.now() / 1000) - 3600 }),
      'not a v0 signature': slackHeaders({ signature: 'v0=abc' }),
    };
    for (const [name, headers] of Object.entries(cases)) {
      // A 1 MB body is declared and never sent: an answer at all means the server did not wait for it.
      const exchange = new RawExchange(t.baseUrl, 'POST', '/slack/events', headers);
      try {
        const response = await within(exchange.response, ANSWER_WITHIN_MS, name);
        assert.equal(response.status, 401, name);
        assert.equal(response.headers.connection, 'close', `${name}: the client cannot keep streaming`);
        await within(exchange.closed, ANSWER_WITHIN_MS, `${name}: connection closed by the server`);
      } finally {
        exchange.close();
      }
    }
    assert.equal(t.api.calls.length, before, 'nothing processed');
  });

  it('answers 413 to a signed body larger than Slack sends, declared or streamed, without reading it all', async () => {
    const body = eventBody(dmEvent('x'.repeat(600_000), 'UBIGBODY'));
    const declared = await postSigned(t.baseUrl, body, JSON_TYPE);
    assert.equal(declared.status, 413);

    const timestamp = Math.floor(Date.now() / 1000);
    const streamed = new RawExchange(t.baseUrl, 'POST', '/slack/events', slackHeaders({ signature: sign(SIGNING_SECRET, timestamp, body), timestamp, length: 'chunked' }));
    try {
      await streamed.connected;
      const bytes = Buffer.from(body);
      let answered = false;
      void streamed.response.then(() => {
        answered = true;
      });
      // Bounded: 64 KB pieces, stopping once the server answers.
      for (let offset = 0; offset < bytes.length && !answered; offset += 65_536) {
        streamed.writeChunk(bytes.subarray(offset, offset + 65_536));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (!answered) streamed.write('0\r\n\r\n');
      const response = await within(streamed.response, ANSWER_WITHIN_MS, 'streamed oversized body');
      assert.equal(response.status, 413);
      assert.equal(response.headers.connection, 'close');
      await within(streamed.closed, ANSWER_WITHIN_MS, 'connection closed after 413');
    } finally {
      streamed.close();
    }
  });

  it('cuts off a signed body that trickles (408), well before the server-wide 30 s request timeout', async () => {
    const exchange = new RawExchange(t.baseUrl, 'POST', '/slack/events', slackHeaders({ length: 1_000 }));
    try {
      exchange.write('{"type":');
      const response = await within(exchange.response, ANSWER_WITHIN_MS, 'trickling body');
      assert.equal(response.status, 408);
      assert.equal(response.headers.connection, 'close');
    } finally {
      exchange.close();
    }
  });

  it('under 300 slow-body connections: refuses past the read cap at once (503, Retry-After), keeps probes answering, then serves Slack', async () => {
    const unsigned = Array.from({ length: 150 }, () => new RawExchange(t.baseUrl, 'POST', '/slack/events', slackHeaders({ signature: null })));
    // A forged signature with a current timestamp can only be refuted by reading the body: these take read slots.
    const forged = Array.from({ length: 150 }, () => new RawExchange(t.baseUrl, 'POST', '/slack/events', slackHeaders({ length: 'chunked' })));
    const all = [...unsigned, ...forged];
    try {
      await within(Promise.all(all.map((e) => e.connected)), ANSWER_WITHIN_MS, 'connections');
      const health = await fetch(`${t.baseUrl}/healthz`, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
      assert.equal(health.status, 200);
      const ready = await fetch(`${t.baseUrl}/readyz`, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
      assert.equal(ready.status, 200);

      // No body byte is ever sent, so every answer here is a refusal, at once or after the 3 s read timeout.
      const unsignedAnswers = await within(Promise.all(unsigned.map((e) => e.response)), ANSWER_WITHIN_MS, 'unsigned answers');
      assert.deepEqual(countBy(unsignedAnswers.map((r) => r.status)), { 401: 150 });
      const forgedAnswers = await within(Promise.all(forged.map((e) => e.response)), ANSWER_WITHIN_MS, 'forged answers');
      const counts = countBy(forgedAnswers.map((r) => r.status));
      assert.deepEqual(Object.keys(counts).sort(), ['408', '503'], JSON.stringify(counts));
      assert.ok((counts[503] ?? 0) >= 150 - 32, `at most 32 bodies read at once: ${JSON.stringify(counts)}`);
      for (const response of forgedAnswers.filter((r) => r.status === 503)) {
        assert.equal(response.headers['retry-after'], '1');
        assert.equal(response.headers.connection, 'close');
      }
    } finally {
      for (const exchange of all) exchange.close();
    }
    const before = t.api.outgoing.length;
    const served = await postSigned(t.baseUrl, eventBody(dmEvent('holidays', 'UAFTERFLOOD')), JSON_TYPE);
    assert.equal(served.status, 200);
    await t.api.waitFor(() => t.api.outgoing.slice(before).some((c) => c.args.channel === 'DUAFTERFLOOD'), 5000, 'answer after the flood');
  });
});

describe('HTTP edge: Teams (/api/messages)', () => {
  let t: TeamsBot;
  before(async () => {
    // Small read limits so the cap and the timeout show in a test; the mechanism is the production one.
    t = await startTeamsBot({}, { tuning: { bodyLimits: { maxConcurrentReads: 2, timeoutMs: 1_000 } } });
  });
  after(async () => {
    await t.close();
  });

  it('bounds concurrent body reads (503 with Retry-After past the cap, 408 for a trickle), then serves again', async () => {
    const base = t.url.replace('/api/messages', '');
    const slow = Array.from({ length: 5 }, () => new RawExchange(base, 'POST', '/api/messages', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
    try {
      const answers = await within(Promise.all(slow.map((e) => e.response)), ANSWER_WITHIN_MS, 'slow Teams bodies');
      const counts = countBy(answers.map((r) => r.status));
      assert.deepEqual(counts, { 408: 2, 503: 3 });
      assert.ok(answers.filter((r) => r.status === 503).every((r) => r.headers['retry-after'] === '1' && r.headers.connection === 'close'));
    } finally {
      for (const exchange of slow) exchange.close();
    }
    const activity = personalMessage(t.connector.serviceUrl, 'holidays');
    assert.equal((await t.post(activity)).status, 200);
    const conversation = (activity.conversation as { id: string }).id;
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1, 10_000);
  });

  it('refuses a body larger than the Bot Framework sends (413) without reading it, and closes the connection', async () => {
    const base = t.url.replace('/api/messages', '');
    const exchange = new RawExchange(base, 'POST', '/api/messages', { 'content-type': 'application/json', 'content-length': String(1024 * 1024 + 1) });
    try {
      const response = await within(exchange.response, ANSWER_WITHIN_MS, 'oversized Teams body');
      assert.equal(response.status, 413);
      assert.equal(response.headers.connection, 'close');
    } finally {
      exchange.close();
    }
  });

  it('answers a malformed adaptiveCard/action invoke with 400, not 501, and does nothing', async () => {
    const before = t.connector.calls.length;
    for (const value of [{}, 'not an object', { action: null }, { action: 'Action.Execute' }, []]) {
      const invoke = { ...cardInvoke(t.connector.serviceUrl, {}), value };
      const response = await t.post(invoke);
      assert.equal(response.status, 400, JSON.stringify(value));
      assert.equal(JSON.parse(response.body).statusCode, 400);
    }
    await t.connector.settle(100);
    assert.equal(t.connector.calls.length, before);
  });

  it('answers an invoke whose turn fails with 500, not a 501 that says the bot has no handler', async () => {
    // A conversation id that is not a string gets past botbuilder and fails in the turn.
    const invoke = { ...cardInvoke(t.connector.serviceUrl, { hrbot: 'forget' }), conversation: { id: 42 } };
    const response = await t.post(invoke);
    assert.equal(response.status, 500);
    assert.ok(t.bot.logs.some((line) => line.msg === 'teams turn failed'));
  });
});

describe('HTTP edge: Teams with MICROSOFT_APP_ID', () => {
  it('refuses a request without a bearer token before reading its body, and closes the connection', async () => {
    const t = await startTeamsBot({ MICROSOFT_APP_ID: '11111111-2222-4333-8444-555555555555', MICROSOFT_APP_PASSWORD: 'test-app-password-value' });
    const exchange = new RawExchange(t.url.replace('/api/messages', ''), 'POST', '/api/messages', { 'content-type': 'application/json', 'content-length': '500000' });
    try {
      const response = await within(exchange.response, ANSWER_WITHIN_MS, 'no bearer');
      assert.equal(response.status, 401);
      assert.equal(response.headers.connection, 'close');
      await within(exchange.closed, ANSWER_WITHIN_MS, 'connection closed after 401');
    } finally {
      exchange.close();
      await t.close();
    }
  });
});

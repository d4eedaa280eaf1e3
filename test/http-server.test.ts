import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { HttpServer } from '../src/http/http-server.ts';
import { ask, dm, startTempBot } from './support/temp-bot.ts';

describe('HTTP server', () => {
  it('serves health, readiness and Prometheus metrics, and 404/405 for the rest', async () => {
    const bot = startTempBot();
    const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
    try {
      const port = await server.listen(0, '127.0.0.1');
      const base = `http://127.0.0.1:${port}`;
      await ask(bot.core, dm('/hr policy expenses'));

      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });

      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200);

      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
      const text = await metrics.text();
      assert.match(text, /# TYPE hrbot_replies_total counter/);
      assert.match(text, /hrbot_replies_total\{kind="lookup",platform="console"\} 1/);
      assert.match(text, /hrbot_active_conversations 0/);

      assert.equal((await fetch(`${base}/nope`)).status, 404);
      const wrongMethod = await fetch(`${base}/healthz`, { method: 'POST' });
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get('allow'), 'GET');
    } finally {
      await server.close();
      bot.close();
    }
  });

  it('shares its port between several listening sockets on Linux, each new connection served, all closed together', async (t) => {
    if (process.platform !== 'linux') return t.skip('SO_REUSEPORT listeners are used on Linux only');
    const bot = startTempBot();
    const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready(), listeners: 4 });
    try {
      const port = await server.listen(0, '127.0.0.1');
      assert.equal(listeningSockets(port), 4, 'four sockets listen on the one port');
      // Fresh connections each (no keep-alive), so the kernel spreads them over the sockets.
      const statuses = await Promise.all(Array.from({ length: 40 }, () => getOnNewConnection(port, '/healthz')));
      assert.deepEqual(new Set(statuses), new Set([200]));
      await server.close();
      assert.equal(listeningSockets(port), 0, 'none left listening after close');
      await assert.rejects(getOnNewConnection(port, '/healthz'), /ECONNREFUSED/);
    } finally {
      await server.close();
      bot.close();
    }
  });

  it('refuses a port another server holds, as a single socket would, instead of sharing its traffic', async (t) => {
    if (process.platform !== 'linux') return t.skip('SO_REUSEPORT listeners are used on Linux only');
    const bot = startTempBot();
    const first = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
    const second = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
    try {
      const port = await first.listen(0, '127.0.0.1');
      await assert.rejects(second.listen(port, '127.0.0.1'), /EADDRINUSE/);
      assert.equal(listeningSockets(port), 16, 'only the first server listens');
    } finally {
      await second.close();
      await first.close();
      bot.close();
    }
  });

  it('reports not ready when the store cannot take writes', async () => {
    const bot = startTempBot();
    const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
    try {
      const port = await server.listen(0, '127.0.0.1');
      bot.core.db.pragma('query_only = ON');
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), { status: 'not ready', reason: 'store not writable' });
    } finally {
      await server.close();
      bot.close();
    }
  });

  it('answers /healthz, /readyz and /metrics even when the request cap is reached, and refuses the rest with 503', async () => {
    const bot = startTempBot();
    const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready(), maxConcurrentRequests: 1 });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: () => void = () => undefined;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    server.route('POST', '/slow', async (_req, res) => {
      entered();
      await held;
      res.end('done');
    });
    try {
      const port = await server.listen(0, '127.0.0.1');
      const base = `http://127.0.0.1:${port}`;
      const slow = fetch(`${base}/slow`, { method: 'POST', body: 'x' });
      await inHandler;
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        assert.equal((await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) })).status, 200, path);
      }
      const refused = await fetch(`${base}/slow`, { method: 'POST', body: 'x' });
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '1');
      release();
      assert.equal((await slow).status, 200);
    } finally {
      release();
      await server.close();
      bot.close();
    }
  });
});

/** Sockets in LISTEN state on `port` (IPv4), from the kernel's own table. */
function listeningSockets(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1]?.endsWith(`:${hexPort}`) === true && fields[3] === '0A';
    }).length;
}

function getOnNewConnection(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

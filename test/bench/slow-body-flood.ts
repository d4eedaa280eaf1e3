/**
 * Benchmark: 1,000 connections to `POST /slack/events` each send their headers (no signature, or a
 * forged one with a current timestamp; a declared Content-Length of 1 MB (10^6 bytes), or chunked) and then trickle a
 * 1 MB body. The server runs as `npm start` runs it (adapters/main.ts, Slack over HTTP against the
 * fake Slack API) in a child process; its RSS is sampled from /proc/<pid>/status and `/healthz` is
 * timed throughout. Passes when RSS grows by less than 150 MB and every `/healthz` answers 200 within 1 s.
 *
 * `npx tsx test/bench/slow-body-flood.ts` (or `npm run bench slow-body-flood`). Linux only (/proc).
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FakeSlackApi } from '../fakes/fake-slack-api.ts';
import { BOT_TOKEN, SIGNING_SECRET } from '../support/slack-requests.ts';
import { KNOWLEDGE_DIR, tempDir } from '../support/temp-bot.ts';

/** Knobs of one run; the defaults are the scenario. */
export interface FloodOptions {
  connections: number;
  bodyBytes: number;
  /** Bytes written per tick and the tick, per connection: 64 KB every 500 ms sends 1 MB in 8 s. */
  chunkBytes: number;
  chunkEveryMs: number;
  /** Connections opened per batch, and the pause between batches (the listen backlog is 511). */
  connectBatch: number;
  connectEveryMs: number;
  /** The whole flood stops by this deadline, whatever is still open. */
  deadlineMs: number;
  healthzEveryMs: number;
  healthzTimeoutMs: number;
}

const DEFAULTS: FloodOptions = {
  connections: 1_000,
  bodyBytes: 1_000_000,
  chunkBytes: 65_536,
  chunkEveryMs: 500,
  connectBatch: 50,
  connectEveryMs: 50,
  deadlineMs: 45_000,
  healthzEveryMs: 250,
  healthzTimeoutMs: 5_000,
};

/** Pass thresholds, from the issue. */
const MAX_GROWTH_MB = 150;
const MAX_HEALTHZ_MS = 1_000;

export interface FloodFigures {
  connections: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  rssGrowthMb: number;
  healthzProbes: number;
  healthzMaxMs: number;
  /** Probes that failed, timed out or answered anything but 200. */
  healthzFailures: number;
  /** First status line each flood connection got back, counted ("none" = closed or cut off without one). */
  statuses: Record<string, number>;
  /** Bytes the flood managed to write in total, MB. */
  sentMb: number;
  elapsedMs: number;
}

/** Did the run meet the bar? */
export function floodPassed(figures: FloodFigures): boolean {
  return figures.rssGrowthMb < MAX_GROWTH_MB && figures.healthzMaxMs <= MAX_HEALTHZ_MS && figures.healthzFailures === 0;
}

/** One line for the bench report. */
export function formatFlood(figures: FloodFigures): string {
  const verdict = floodPassed(figures) ? 'PASS' : `FAIL (needs growth < ${MAX_GROWTH_MB} MB and /healthz 200 within ${MAX_HEALTHZ_MS} ms)`;
  return (
    `slow-body-flood: ${figures.connections} connections, RSS before ${figures.rssBeforeMb} MB, peak ${figures.rssPeakMb} MB, ` +
    `growth ${figures.rssGrowthMb} MB; /healthz max ${figures.healthzMaxMs} ms over ${figures.healthzProbes} probes, ` +
    `${figures.healthzFailures} failed; flood statuses ${JSON.stringify(figures.statuses)}; sent ${figures.sentMb} MB in ` +
    `${figures.elapsedMs} ms: ${verdict}`
  );
}

/** Run the flood against a freshly started server and return its figures. */
export async function slowBodyFlood(overrides: Partial<FloodOptions> = {}): Promise<FloodFigures> {
  const options = { ...DEFAULTS, ...overrides };
  const api = await new FakeSlackApi().start();
  const dir = tempDir('hrbot-flood-');
  let child: ChildProcess | undefined;
  try {
    const server = await startServer(api.apiUrl, join(dir.path, 'hrbot.db'));
    child = server.child;
    const pid = server.child.pid!;
    await sleep(1_000);
    const rssBefore = readRssKb(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, readRssKb(pid));
    }, 100);
    const probes: Array<{ ms: number; ok: boolean }> = [];
    let flooding = true;
    const prober = (async () => {
      while (flooding) {
        probes.push(await probeHealthz(server.port, options.healthzTimeoutMs));
        await sleep(options.healthzEveryMs);
      }
    })();
    const started = performance.now();
    let flood: { statuses: Record<string, number>; sentBytes: number };
    try {
      flood = await runFlood(server.port, options);
      // Let the server settle (and catch a late peak) before the last probe.
      await sleep(2_000);
    } finally {
      flooding = false;
      await prober;
      clearInterval(sampler);
    }
    rssPeak = Math.max(rssPeak, readRssKb(pid));
    const mb = (kb: number) => Math.round(kb / 1024);
    return {
      connections: options.connections,
      rssBeforeMb: mb(rssBefore),
      rssPeakMb: mb(rssPeak),
      rssGrowthMb: mb(rssPeak - rssBefore),
      healthzProbes: probes.length,
      healthzMaxMs: Math.round(Math.max(0, ...probes.map((p) => p.ms))),
      healthzFailures: probes.filter((p) => !p.ok).length,
      statuses: flood.statuses,
      sentMb: Math.round(flood.sentBytes / 1_048_576),
      elapsedMs: Math.round(performance.now() - started),
    };
  } finally {
    if (child !== undefined) await stopChild(child);
    await api.close();
    dir.remove();
  }
}

/** Start adapters/main.ts as `npm start` would, in Slack HTTP mode on a free loopback port. */
async function startServer(apiUrl: string, databasePath: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'adapters/main.ts'], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: {
      PATH: process.env.PATH ?? '',
      HRBOT_MODE: 'server',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      DATABASE_PATH: databasePath,
      KNOWLEDGE_DIR,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_API_URL: apiUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4_000) stderr += chunk.toString('utf8');
  });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${stderr}`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening: ${stderr}`));
    });
    lines.on('line', (line) => {
      if (!line.includes('hrbot listening')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  // Keep draining the log so the child never blocks on a full pipe.
  lines.on('line', () => undefined);
  return { child, port };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function readRssKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? 0 : Number(match[1]);
}

/** GET /healthz on a fresh connection; not ok unless a 200 arrives within the timeout. */
function probeHealthz(port: number, timeoutMs: number): Promise<{ ms: number; ok: boolean }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: timeoutMs }, (response) => {
      response.resume();
      response.on('end', () => resolve({ ms: performance.now() - started, ok: response.statusCode === 200 }));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve({ ms: performance.now() - started, ok: false }));
  });
}

/** Open the flood's connections in batches and trickle their bodies; resolves when all are done or the deadline passes. */
async function runFlood(port: number, options: FloodOptions): Promise<{ statuses: Record<string, number>; sentBytes: number }> {
  const statuses: Record<string, number> = {};
  let sentBytes = 0;
  const sockets = new Set<Socket>();
  const done: Array<Promise<void>> = [];
  const deadline = Date.now() + options.deadlineMs;
  const chunk = Buffer.alloc(options.chunkBytes, 'a');
  const open = (index: number): Promise<void> =>
    new Promise((resolve) => {
      const signed = index % 2 === 1;
      const chunked = index % 4 >= 2;
      const socket = connect({ host: '127.0.0.1', port });
      sockets.add(socket);
      let status: string | undefined;
      let head = '';
      let timer: NodeJS.Timeout | undefined;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearInterval(timer);
        sockets.delete(socket);
        socket.destroy();
        const key = status ?? 'none';
        statuses[key] = (statuses[key] ?? 0) + 1;
        resolve();
      };
      socket.on('data', (data: Buffer) => {
        if (status !== undefined) return;
        head += data.toString('latin1');
        const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
        if (match === null) return;
        status = match[1];
        finish(); // answered: this connection is done
      });
      socket.on('error', () => undefined); // a refused write (EPIPE, ECONNRESET) is what a fixed server does; counted by status
      socket.on('close', finish);
      socket.once('connect', () => {
        const timestamp = Math.floor(Date.now() / 1000);
        const headers = [
          'POST /slack/events HTTP/1.1',
          `Host: 127.0.0.1:${port}`,
          'Content-Type: application/json',
          chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${options.bodyBytes}`,
          `X-Slack-Request-Timestamp: ${timestamp}`,
          ...(signed ? [`X-Slack-Signature: v0=${'0'.repeat(64)}`] : []),
          '',
          '',
        ].join('\r\n');
        socket.write(headers);
        let sent = 0;
        timer = setInterval(() => {
          if (socket.destroyed || Date.now() > deadline) {
            finish();
            return;
          }
          if (sent >= options.bodyBytes) return; // body sent: wait for the answer (or the deadline)
          if (socket.writableNeedDrain) return; // the server is not reading: don't queue more here
          const piece = chunk.subarray(0, Math.min(chunk.length, options.bodyBytes - sent));
          socket.write(chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
          sent += piece.length;
          sentBytes += piece.length;
          if (chunked && sent >= options.bodyBytes) socket.write('0\r\n\r\n');
        }, options.chunkEveryMs);
      });
    });
  for (let index = 0; index < options.connections; index += 1) {
    done.push(open(index));
    if ((index + 1) % options.connectBatch === 0) await sleep(options.connectEveryMs);
  }
  const cutOff = setTimeout(() => {
    for (const socket of sockets) socket.destroy();
  }, Math.max(0, deadline - Date.now()) + 1_000);
  await Promise.all(done);
  clearTimeout(cutOff);
  return { statuses, sentBytes };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await slowBodyFlood();
  console.log(formatFlood(figures));
  if (!floodPassed(figures)) process.exitCode = 1;
}

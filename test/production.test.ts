// The production command (`node dist/adapters/main.js`, as the Dockerfile and the systemd unit run it)
// under a supervisor's signals: SIGTERM or SIGINT with an AI answer in flight delivers the answer and
// exits 0; a second signal stops at once and the next start delivers; a stop that hangs is ended.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock } from './fakes/fake-bedrock.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import type { RecordedCall } from './fakes/fake-slack-api.ts';
import { REPEAT_WINDOW_MS } from '../adapters/stop-signals.ts';
import { buildProduction, outputLines, startMain } from './support/main-process.ts';
import type { MainResult } from './support/main-process.ts';
import { sectionText } from './support/slack-blocks.ts';
import { dmEvent, eventBody, JSON_TYPE, postSigned } from './support/slack-requests.ts';
import { KNOWLEDGE_DIR, tempDir } from './support/temp-bot.ts';
import { slackProcessEnv } from './support/slack-process-env.ts';

const ANSWER_LATENCY_MS = 1_500;

function shown(call: RecordedCall): string {
  return call.args.blocks === undefined ? String(call.args.text ?? call.args.markdown_text ?? '') : sectionText(call.args.blocks);
}

/** The text of the last message the bot posted or edited in `channel`. */
function lastShown(api: FakeSlackApi, channel: string): string | undefined {
  const calls = api.calls.filter((call) => ['chat.postMessage', 'chat.update', 'chat.startStream'].includes(call.method) && call.args.channel === channel);
  const last = calls.at(-1);
  return last === undefined ? undefined : shown(last);
}

/** Poll `predicate` every 10 ms, at most `timeoutMs`. */
async function until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function logLine(result: MainResult, msg: string | RegExp): Record<string, unknown> | undefined {
  return outputLines(result.stdout).find((line) => (typeof msg === 'string' ? line.msg === msg : msg.test(String(line.msg))));
}

describe('production command: stops cleanly under a supervisor', () => {
  let api: FakeSlackApi;
  let bedrock: FakeBedrock;
  let dir: { path: string; remove(): void };
  let env: Record<string, string>;
  before(async () => {
    await buildProduction();
    dir = tempDir();
    api = await new FakeSlackApi().start();
    bedrock = await startFakeBedrock({
      latencyMs: ANSWER_LATENCY_MS,
      reply: (request) => {
        const tag = /tag\d+/.exec(request.messages.at(-1)?.text ?? '')?.[0] ?? 'none';
        return { text: `Full-time employees get 25 vacation days a year (answer for ${tag}).`, stopReason: 'end_turn' };
      },
    });
    env = { ...slackProcessEnv(api.apiUrl, dir.path), ...bedrockEnv(bedrock.url) };
  });
  after(async () => {
    await bedrock.close();
    await api.close();
    dir.remove();
  });

  let tags = 0;
  /** Send a signed DM and wait until its answer is in flight at Bedrock, not yet shown. */
  async function askAndWaitInFlight(base: string, user: string): Promise<{ channel: string; answered: () => boolean }> {
    const tag = `tag${++tags}`;
    const channel = `D${user}`;
    const answered = () => new RegExp(`answer for ${tag}\\)\\.`).test(lastShown(api, channel) ?? '');
    const response = await postSigned(base, eventBody(dmEvent(`how many vacation days do I get ${tag}?`, user)), JSON_TYPE);
    assert.equal(response.status, 200);
    await until(() => bedrock.calls.some((call) => JSON.stringify(call.body).includes(tag)) && bedrock.stats.inFlight > 0, 'the answer in flight at Bedrock');
    assert.equal(answered(), false, 'not answered yet when the signal is sent');
    return { channel, answered };
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with an AI answer in flight: the answer is delivered, then exit code 0`, async () => {
      const bot = await startMain({ env, production: true });
      const { answered } = await askAndWaitInFlight(`http://127.0.0.1:${bot.port}`, `U${signal}`);
      const result = await bot.stop(signal);
      assert.equal(result.signal, null, 'ended by itself, not by a signal');
      assert.equal(result.code, 0, result.stderr);
      assert.ok(answered(), `the answer in flight was delivered:\n${JSON.stringify(api.outgoing.map(shown))}`);
      assert.equal(logLine(result, 'shutting down')?.signal, signal);
      assert.equal(logLine(result, 'stopped')?.handedBack, 0, 'nothing handed back: the drain finished it');
      assert.equal(result.stderr, '', 'nothing outside the log');
    });
  }

  it('the same signal twice at once (Ctrl-C on npm start: the terminal and npm both send it) is one stop: delivered, exit 0', async () => {
    const bot = await startMain({ env, production: true });
    const { answered } = await askAndWaitInFlight(`http://127.0.0.1:${bot.port}`, 'UTWICE');
    bot.signal('SIGINT');
    // npm relays it a moment after the terminal delivered it (well inside REPEAT_WINDOW_MS).
    await new Promise((resolve) => setTimeout(resolve, 20));
    const result = await bot.stop('SIGINT');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.ok(answered(), 'the answer in flight was delivered');
    assert.equal(logLine(result, /second signal/), undefined);
  });

  it('a second signal stops at once with exit code 1; the next start delivers the answer', async () => {
    bedrock.setLatency(60_000);
    try {
      const bot = await startMain({ env, production: true });
      const { answered } = await askAndWaitInFlight(`http://127.0.0.1:${bot.port}`, 'USECOND');
      bot.signal('SIGTERM');
      await until(() => outputLines(bot.stdout()).some((line) => line.msg === 'shutting down'), "the first signal's 'shutting down' line");
      // Past the window in which a repeat counts as the same signal (Ctrl-C under npm arrives twice).
      await new Promise((resolve) => setTimeout(resolve, REPEAT_WINDOW_MS + 200));
      const result = await bot.stop('SIGTERM');
      assert.equal(result.signal, null);
      assert.equal(result.code, 1, result.stderr);
      const fatal = logLine(result, /second signal/);
      assert.ok(fatal !== undefined, result.stdout);
      assert.equal(fatal.level, 60);
      assert.equal(logLine(result, 'stopped'), undefined, 'it did not wait for the drain');
      assert.equal(logLine(result, 'exiting')?.handedBack, 1, 'the answer in progress was handed back to the inbox');
      assert.equal(answered(), false);
    } finally {
      bedrock.setLatency(ANSWER_LATENCY_MS);
    }
    const next = await startMain({ env, production: true });
    assert.ok(Number(next.started.resumed) >= 1, 'the next start took up the unanswered message');
    // Handed back, not left to its lease: taken and answered well before the lease (30 s) would expire.
    await until(() => lastShown(api, 'DUSECOND')?.includes('answer for') === true, 'the answer from the next start', 15_000);
    const result = await next.stop();
    assert.equal(result.code, 0, result.stderr);
    const db = new Database(env.DATABASE_PATH ?? '', { readonly: true });
    try {
      assert.equal(db.prepare("SELECT count(*) FROM inbox WHERE state <> 'done'").pluck().get(), 0);
    } finally {
      db.close();
    }
  });
});

/** The Dockerfile's HEALTHCHECK command, as an argv. */
function dockerHealthcheck(): string[] {
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8').replace(/\\\n/g, ' ');
  const line = dockerfile.split('\n').find((text) => text.startsWith('HEALTHCHECK'));
  const json = /CMD (\[.*\])\s*$/.exec(line ?? '')?.[1];
  assert.ok(json !== undefined, 'a HEALTHCHECK CMD in exec form');
  return JSON.parse(json) as string[];
}

/** Run the healthcheck with this Node.js, against PORT `port`; its exit code. */
function runHealthcheck(port: number): Promise<number | null> {
  const [node, ...args] = dockerHealthcheck();
  assert.equal(node, 'node');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { PORT: String(port) }, stdio: 'ignore', timeout: 15_000 });
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
}

describe("the Dockerfile's HEALTHCHECK against the production command", () => {
  it('passes while the bot serves, fails once it has stopped', async () => {
    await buildProduction();
    const dir = tempDir();
    try {
      // A container with no platform configured yet still serves the probes (the image sets HRBOT_MODE=server).
      const bot = await startMain({ env: { HRBOT_MODE: 'server', HOST: '127.0.0.1', PORT: '0', DATABASE_PATH: join(dir.path, 'hrbot.db'), KNOWLEDGE_DIR }, production: true });
      assert.equal(await runHealthcheck(bot.port), 0);
      const result = await bot.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await runHealthcheck(bot.port), 1);
    } finally {
      dir.remove();
    }
  });
});

/** Run test/support/stop-guard-child.ts, SIGTERM it once it is ready, and wait for its exit. */
function stopGuardChild(mode: 'clean' | 'hang' | 'linger'): Promise<MainResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), new URL('./support/stop-guard-child.ts', import.meta.url).pathname, mode, '500'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (outputLines(stdout).some((line) => line.msg === 'ready') && !stdout.includes('shutting down')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('the stop guard (adapters/stop-signals.ts) in a real process', () => {
  it('a stop that completes with nothing left open exits 0 at once', async () => {
    const result = await stopGuardChild('clean');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.ok(logLine(result, 'stopped') !== undefined);
    assert.equal(outputLines(result.stdout).filter((line) => line.level === 60).length, 0);
  });

  it('a drain that never settles is ended at the limit with exit code 1 and a log line (not exit 0)', async () => {
    const result = await stopGuardChild('hang');
    assert.equal(result.signal, null);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const fatal = logLine(result, /not stopped within 500 ms/);
    assert.ok(fatal !== undefined, result.stdout);
    assert.equal(fatal.level, 60);
  });

  it('a handle left open after the stop cannot keep the process alive past the limit', async () => {
    const result = await stopGuardChild('linger');
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.ok(logLine(result, 'stopped') !== undefined);
    assert.ok(logLine(result, /not stopped within 500 ms/) !== undefined, result.stdout);
  });
});

/**
 * `bolt-side-by-side`: hrbot against a bare @slack/bolt app (test/bench/bare-bolt-app.ts) on the same
 * machine, in the same run, the two alternating. Both are child processes answering Slack DM events
 * (`policy parental leave`, HMAC-signed, posted to /slack/events) with a reply of about 3 KB through
 * chat.postMessage to the fake Slack Web API: hrbot started as `npm start` does (adapters/main.ts
 * through tsx, no Bedrock, so its answer is a handbook lookup), the bare app with Bolt's HTTPReceiver.
 *
 * Before the first run, an unmeasured closed loop against the bare app warms the bench's own process.
 * Per run of one app: a short warm-up; then a closed loop of `senders` users (each sends its next
 * message once the previous one was acknowledged) for `messages` messages, timed from the first send
 * to the last reply seen at the fake, with the child's CPU time (/proc/<pid>/stat) and its write
 * syscalls and bytes written to storage (/proc/<pid>/io) read before and after (each a checkpoint
 * interval and a little after the phase before it ended); then a steady phase,
 * `steadyMessages` sent at `steadyRate` a second from `steadyUsers` users (below either app's
 * capacity, as a company's traffic mostly is), for CPU and bytes written per reply there; then `burst`
 * users sending one message each, all released together, for the acknowledgement times. Figures are
 * reported, never asserted: only a missing or duplicated reply makes the run fail.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_CHECKPOINT_EVERY_MS } from '../../src/store/checkpoint-thread.ts';
import { FakeSlackApi } from '../fakes/fake-slack-api.ts';
import { classify, isReply, ReplyTracker } from '../load/reply-tracker.ts';
import type { RunningMain } from '../support/main-process.ts';
import { startMain } from '../support/main-process.ts';
import { BOT_TOKEN, dmEvent, eventBody, sign, SIGNING_SECRET } from '../support/slack-requests.ts';
import { tempDir } from '../support/temp-bot.ts';
import { slackProcessEnv } from '../support/slack-process-env.ts';

/** Sizes of one side-by-side run; the bench's are {@link FULL_SIDE_BY_SIDE}, the test's much smaller. */
export interface SideBySideSizes {
  /** Messages of the closed-loop phase. */
  messages: number;
  /** Concurrent senders of the closed-loop phase. */
  senders: number;
  /** Senders of the burst phase, one message each, all at once. */
  burst: number;
  /** Runs of each app (alternating). */
  repetitions: number;
  /** Messages before measuring (10 senders), so neither app is timed while still compiling its hot code. */
  warmup: number;
  /**
   * Messages of an unmeasured closed loop against the bare app before the first run, so no run is
   * timed while the bench's own process (its HTTP client, signing, fake Web API) still compiles its
   * hot code: without it the first run, always hrbot's, was the slowest of every bench.
   */
  driverWarmup: number;
  /** How long to wait for the replies of a phase after its last acknowledgement, ms. */
  replyWaitMs: number;
  /** Messages of the steady phase: sent at `steadyRate` a second whatever the replies, from `steadyUsers` users in turn. */
  steadyMessages: number;
  steadyRate: number;
  steadyUsers: number;
}

export const FULL_SIDE_BY_SIDE: SideBySideSizes = {
  messages: 1_000,
  senders: 50,
  burst: 200,
  repetitions: 3,
  warmup: 50,
  driverWarmup: 1_000,
  replyWaitMs: 60_000,
  steadyMessages: 2_000,
  steadyRate: 250,
  steadyUsers: 200,
};

export type AppKind = 'hrbot' | 'bare';

/** What one run of one app measured. */
export interface AppRun {
  app: AppKind;
  repetition: number;
  /** Replies per second of the closed loop: its messages over first send to last reply. */
  repliesPerSecond: number;
  cpuMsPerReply: number;
  writeSyscallsPerReply: number;
  /** /proc/<pid>/io write_bytes: bytes the process caused to be sent to storage, KB (1,024 bytes). */
  diskKbPerReply: number;
  /**
   * The same two at a steady rate below either app's capacity (the steady phase): a group commit
   * then holds few messages, so each message's share of the pages written is larger than at full speed.
   */
  steadyCpuMsPerReply: number;
  steadyDiskKbPerReply: number;
  ackP50Ms: number;
  ackP99Ms: number;
  acksOver1s: number;
  acksOver3s: number;
  /** Burst messages that got no 2xx within the request timeout. */
  unacked: number;
  /** Messages sent in the whole run (warm-up, loop and burst), and replies missing or extra. */
  sent: number;
  missing: number;
  duplicated: number;
}

export interface SideBySideReport {
  sizes: SideBySideSizes;
  runs: AppRun[];
}

const TEXT = 'policy parental leave';
/** A request that got no answer after this long counts as unacknowledged (Slack gives up at 3 s; here the tail is measured). */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bounds on one phase's sending, and on a child's start. */
const PHASE_MAX_MS = 180_000;
const START_MAX_MS = 30_000;
const TSX = import.meta.resolve('tsx');
const BARE_APP = new URL('./bare-bolt-app.ts', import.meta.url).pathname;
/**
 * How long after a phase's last reply its counters are read (and the next phase's before it): what
 * an app does then (hrbot's checkpoint copying the phase's log back, a log flush) is the phase's cost.
 */
const SETTLE_MS = DEFAULT_CHECKPOINT_EVERY_MS + 300;
/** User id ranges of the phases (Slack user ids are U and digits), so each conversation belongs to one phase. */
const USER_BASE = { warmup: 3_000_000, loop: 1_000_000, burst: 2_000_000, steady: 4_000_000 } as const;

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time of a process, all its threads, ms (utime + stime of /proc/<pid>/stat). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may hold spaces) start at field 3, the state: utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond();
}

/** Write syscalls and bytes sent to storage by a process, all threads (/proc/<pid>/io). */
export function ioCounters(pid: number): { syscw: number; writeBytes: number } {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { syscw: field('syscw'), writeBytes: field('write_bytes') };
}

interface Child {
  pid: number;
  base: string;
  kill(): Promise<void>;
  /** Output kept for a failure's message. */
  output(): string;
}

async function startHrbot(apiUrl: string, dir: string): Promise<Child> {
  const bot: RunningMain = await startMain(
    {
      env: {
        ...slackProcessEnv(apiUrl, dir),
        // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": where hrbot's CPU per reply goes.
        ...(process.env.BENCH_BOT_NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: process.env.BENCH_BOT_NODE_OPTIONS }),
      },
      maxRunMs: 30 * 60_000,
    },
    START_MAX_MS,
  );
  return {
    pid: bot.pid,
    base: `http://127.0.0.1:${bot.port}`,
    // Stopped as a service manager would (SIGTERM), so a CPU profile asked for is written on exit.
    kill: async () => {
      await bot.stop('SIGTERM');
    },
    output: () => `${bot.stdout().slice(-2_000)}\n${bot.stderr().slice(-2_000)}`,
  };
}

function startBare(apiUrl: string): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, ['--import', TSX, BARE_APP], {
      env: { PATH: process.env.PATH ?? '', SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: apiUrl, PORT: '0' },
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30 * 60_000,
    });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const exited = new Promise<void>((done) => child.on('close', () => done()));
    const kill = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    };
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`bare Bolt app: ${why}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`not listening within ${START_MAX_MS} ms`), START_MAX_MS);
    child.on('error', (error) => fail(error.message));
    child.on('close', (code) => fail(`exited with ${code} before listening`));
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4_000)));
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString('utf8')).slice(-4_000);
      if (settled) return;
      const match = /"msg":"bare bolt listening","port":(\d+)/.exec(stdout);
      if (match === null) return;
      settled = true;
      clearTimeout(timer);
      resolve({ pid: child.pid!, base: `http://127.0.0.1:${match[1]}`, kill, output: () => `${stdout}\n${stderr}` });
    });
  });
}

function signedHeaders(body: string): Record<string, string> {
  const timestamp = Math.floor(Date.now() / 1000);
  return { 'content-type': 'application/json', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': sign(SIGNING_SECRET, timestamp, body) };
}

/** Wait until the app answers: hrbot's GET /readyz, or a signed url_verification POST for the bare app. */
async function waitReady(app: AppKind, child: Child): Promise<void> {
  const deadline = Date.now() + START_MAX_MS;
  while (Date.now() < deadline) {
    try {
      let response: Response;
      if (app === 'hrbot') {
        response = await fetch(`${child.base}/readyz`, { signal: AbortSignal.timeout(2_000) });
      } else {
        const body = JSON.stringify({ token: 'legacy-verification-token', challenge: 'ready', type: 'url_verification' });
        response = await fetch(`${child.base}/slack/events`, { method: 'POST', headers: signedHeaders(body), body, signal: AbortSignal.timeout(2_000) });
      }
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not answering yet.
    }
    await sleep(100);
  }
  throw new Error(`${app} not ready within ${START_MAX_MS} ms\n${child.output()}`);
}

/** Post one DM from `user`; the acknowledgement time in ms, or undefined when there was no 2xx in time. */
async function send(base: string, user: string): Promise<number | undefined> {
  const body = eventBody(dmEvent(TEXT, user));
  const headers = signedHeaders(body);
  const started = performance.now();
  try {
    const response = await fetch(`${base}/slack/events`, { method: 'POST', headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.ok ? performance.now() - started : undefined;
  } catch {
    return undefined;
  }
}

/** `count` messages from `senders` users, each sending its next once the previous was acknowledged. */
async function closedLoop(base: string, userBase: number, count: number, senders: number): Promise<{ sentTo: Map<string, number>; firstSentAt: number }> {
  const sentTo = new Map<string, number>();
  const firstSentAt = Date.now();
  const deadline = firstSentAt + PHASE_MAX_MS;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(senders, count) }, async (_, s) => {
      const user = `U${userBase + s}`;
      while (next < count && Date.now() < deadline) {
        next += 1;
        sentTo.set(`D${user}`, (sentTo.get(`D${user}`) ?? 0) + 1);
        await send(base, user);
      }
    }),
  );
  return { sentTo, firstSentAt };
}

/** `count` messages at `rate` a second (open loop: each is sent on time, acknowledged or not), from `users` users in turn. */
async function steadyLoad(base: string, userBase: number, count: number, rate: number, users: number): Promise<Map<string, number>> {
  const sentTo = new Map<string, number>();
  const sends: Array<Promise<number | undefined>> = [];
  const started = Date.now();
  for (let i = 0; i < count && Date.now() - started < PHASE_MAX_MS; i++) {
    const due = started + (i * 1_000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    const user = `U${userBase + (i % users)}`;
    sentTo.set(`D${user}`, (sentTo.get(`D${user}`) ?? 0) + 1);
    sends.push(send(base, user));
  }
  await Promise.all(sends);
  return sentTo;
}

/** Replies at the fake per conversation, and when the last of them showed. */
function replies(tracker: ReplyTracker, conversations: ReadonlyMap<string, number>): { count: number; lastAt: number; byConversation: Map<string, number> } {
  let count = 0;
  let lastAt = 0;
  const byConversation = new Map<string, number>();
  for (const [conversation, slots] of tracker.byConversation()) {
    if (!conversations.has(conversation)) continue;
    const shown = slots.filter((slot) => isReply(classify(slot.text).kind));
    byConversation.set(conversation, shown.length);
    count += shown.length;
    for (const slot of shown) lastAt = Math.max(lastAt, slot.textAt);
  }
  return { count, lastAt, byConversation };
}

/** Wait (at most `timeoutMs`) until the conversations hold as many replies as messages were sent to them. */
async function awaitReplies(tracker: ReplyTracker, sentTo: ReadonlyMap<string, number>, timeoutMs: number): Promise<{ count: number; lastAt: number }> {
  const expected = [...sentTo.values()].reduce((a, b) => a + b, 0);
  const deadline = Date.now() + timeoutMs;
  let seen = replies(tracker, sentTo);
  while (seen.count < expected && Date.now() < deadline) {
    await sleep(20);
    seen = replies(tracker, sentTo);
  }
  return seen;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** One app, started fresh on a fresh fake and database: warm-up, closed loop, burst. */
async function measure(app: AppKind, repetition: number, sizes: SideBySideSizes): Promise<AppRun> {
  const api = await new FakeSlackApi({ maxCalls: 20 * (sizes.messages + sizes.burst + sizes.warmup) + 1_000 }).start();
  const dir = tempDir('hrbot-side-by-side-');
  let child: Child | undefined;
  try {
    child = app === 'hrbot' ? await startHrbot(api.apiUrl, dir.path) : await startBare(api.apiUrl);
    await waitReady(app, child);
    const tracker = new ReplyTracker(api.calls, []);
    const sentTo = new Map<string, number>();
    const add = (from: ReadonlyMap<string, number>): void => {
      for (const [conversation, n] of from) sentTo.set(conversation, (sentTo.get(conversation) ?? 0) + n);
    };

    if (sizes.warmup > 0) {
      const warm = await closedLoop(child.base, USER_BASE.warmup, sizes.warmup, 10);
      add(warm.sentTo);
      await awaitReplies(tracker, warm.sentTo, sizes.replyWaitMs);
    }

    await sleep(SETTLE_MS);
    const cpuBefore = cpuMs(child.pid);
    const ioBefore = ioCounters(child.pid);
    const loop = await closedLoop(child.base, USER_BASE.loop, sizes.messages, sizes.senders);
    add(loop.sentTo);
    const looped = await awaitReplies(tracker, loop.sentTo, sizes.replyWaitMs);
    await sleep(SETTLE_MS);
    const cpuAfter = cpuMs(child.pid);
    const ioAfter = ioCounters(child.pid);
    const perReply = Math.max(1, looped.count);

    const steadyCpuBefore = cpuMs(child.pid);
    const steadyIoBefore = ioCounters(child.pid);
    const steadySent = await steadyLoad(child.base, USER_BASE.steady, sizes.steadyMessages, sizes.steadyRate, sizes.steadyUsers);
    add(steadySent);
    const steadied = await awaitReplies(tracker, steadySent, sizes.replyWaitMs);
    await sleep(SETTLE_MS);
    const steadyPerReply = Math.max(1, steadied.count);
    const steadyCpuMsPerReply = (cpuMs(child.pid) - steadyCpuBefore) / steadyPerReply;
    const steadyDiskKbPerReply = (ioCounters(child.pid).writeBytes - steadyIoBefore.writeBytes) / 1024 / steadyPerReply;

    const burstUsers = Array.from({ length: sizes.burst }, (_, i) => `U${USER_BASE.burst + i}`);
    const burstSent = new Map(burstUsers.map((user) => [`D${user}`, 1]));
    add(burstSent);
    const acks = await Promise.all(burstUsers.map((user) => send(child!.base, user)));
    await awaitReplies(tracker, burstSent, sizes.replyWaitMs);
    // A reply sent twice shows right after the first: give it a moment.
    await sleep(500);

    const times = acks.filter((ms): ms is number => ms !== undefined).sort((a, b) => a - b);
    const final = replies(tracker, sentTo).byConversation;
    let missing = 0;
    let duplicated = 0;
    for (const [conversation, n] of sentTo) {
      const got = final.get(conversation) ?? 0;
      missing += Math.max(0, n - got);
      duplicated += Math.max(0, got - n);
    }
    return {
      app,
      repetition,
      repliesPerSecond: looped.count / (Math.max(1, looped.lastAt - loop.firstSentAt) / 1000),
      cpuMsPerReply: (cpuAfter - cpuBefore) / perReply,
      writeSyscallsPerReply: (ioAfter.syscw - ioBefore.syscw) / perReply,
      diskKbPerReply: (ioAfter.writeBytes - ioBefore.writeBytes) / 1024 / perReply,
      steadyCpuMsPerReply,
      steadyDiskKbPerReply,
      ackP50Ms: percentile(times, 50),
      ackP99Ms: percentile(times, 99),
      acksOver1s: times.filter((ms) => ms > 1_000).length,
      acksOver3s: times.filter((ms) => ms > 3_000).length,
      unacked: acks.length - times.length,
      sent: [...sentTo.values()].reduce((a, b) => a + b, 0),
      missing,
      duplicated,
    };
  } finally {
    if (child !== undefined) await child.kill();
    await api.close();
    dir.remove();
  }
}

/** The driver's warm-up (see {@link SideBySideSizes.driverWarmup}): a closed loop against the bare app, nothing measured. */
async function warmDriver(sizes: SideBySideSizes): Promise<void> {
  const api = await new FakeSlackApi({ maxCalls: 20 * sizes.driverWarmup + 1_000 }).start();
  let child: Child | undefined;
  try {
    child = await startBare(api.apiUrl);
    await waitReady('bare', child);
    const tracker = new ReplyTracker(api.calls, []);
    const warm = await closedLoop(child.base, USER_BASE.warmup, sizes.driverWarmup, sizes.senders);
    await awaitReplies(tracker, warm.sentTo, sizes.replyWaitMs);
  } finally {
    if (child !== undefined) await child.kill();
    await api.close();
  }
}

/** Run both apps `repetitions` times, alternating (and alternating which goes first). */
export async function runBoltSideBySide(sizes: SideBySideSizes = FULL_SIDE_BY_SIDE, progress: (line: string) => void = () => {}): Promise<SideBySideReport> {
  const runs: AppRun[] = [];
  if (sizes.driverWarmup > 0) await warmDriver(sizes);
  for (let repetition = 1; repetition <= sizes.repetitions; repetition++) {
    const order: AppKind[] = repetition % 2 === 1 ? ['hrbot', 'bare'] : ['bare', 'hrbot'];
    for (const app of order) {
      const run = await measure(app, repetition, sizes);
      progress(`bolt-side-by-side: ${app} #${repetition}: ${JSON.stringify(run)}`);
      runs.push(run);
    }
  }
  return { sizes, runs };
}

/** Every message of every run got exactly one reply. */
export function sideBySidePassed(report: SideBySideReport): boolean {
  return report.runs.every((run) => run.missing === 0 && run.duplicated === 0);
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

type Figure = Exclude<keyof AppRun, 'app' | 'repetition'>;

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const abs = Math.abs(value);
  return abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : abs >= 1 ? value.toFixed(2) : value.toFixed(3);
}

function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? '—' : '∞';
  return `${fmt(a / b)}×`;
}

export function formatSideBySide(report: SideBySideReport): string {
  const { sizes, runs } = report;
  const of = (app: AppKind, figure: Figure): number => median(runs.filter((run) => run.app === app).map((run) => run[figure]));
  const rows: Array<[string, Figure]> = [
    [`replies/s (${sizes.senders} senders, closed loop, ${sizes.messages} messages)`, 'repliesPerSecond'],
    ['CPU ms per reply', 'cpuMsPerReply'],
    ['write syscalls per reply', 'writeSyscallsPerReply'],
    ['KB written to disk per reply', 'diskKbPerReply'],
    [`CPU ms per reply, steady ${sizes.steadyRate} messages/s from ${sizes.steadyUsers} users`, 'steadyCpuMsPerReply'],
    ['KB written to disk per reply, steady', 'steadyDiskKbPerReply'],
    [`ack p50 ms (${sizes.burst} senders at once)`, 'ackP50Ms'],
    ['ack p99 ms', 'ackP99Ms'],
    [`acks > 1 s (of ${sizes.burst})`, 'acksOver1s'],
    [`acks > 3 s (of ${sizes.burst})`, 'acksOver3s'],
    [`no ack within ${REQUEST_TIMEOUT_MS / 1000} s`, 'unacked'],
  ];
  const lines = [
    `bolt-side-by-side: hrbot (adapters/main.ts, handbook lookups) against a bare Bolt app, median of ${sizes.repetitions}, alternating`,
    '',
    '| figure | hrbot | bare Bolt | hrbot / bare |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map(([label, figure]) => `| ${label} | ${fmt(of('hrbot', figure))} | ${fmt(of('bare', figure))} | ${ratio(of('hrbot', figure), of('bare', figure))} |`),
    '',
    `raw: ${runs
      .map((run) => `${run.app}#${run.repetition} ${fmt(run.repliesPerSecond)}/s ${fmt(run.cpuMsPerReply)} cpu-ms ${fmt(run.writeSyscallsPerReply)} syscw ${fmt(run.diskKbPerReply)} KB steady ${fmt(run.steadyCpuMsPerReply)} cpu-ms ${fmt(run.steadyDiskKbPerReply)} KB p50 ${fmt(run.ackP50Ms)} p99 ${fmt(run.ackP99Ms)} >1s ${run.acksOver1s} >3s ${run.acksOver3s}`)
      .join('; ')}`,
    `replies: ${runs.map((run) => `${run.app}#${run.repetition} ${run.sent} sent, ${run.missing} missing, ${run.duplicated} duplicated`).join('; ')}`,
  ];
  return lines.join('\n');
}

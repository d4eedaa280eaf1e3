/**
 * `replicas-postgres`: the same load answered by one process on SQLite and by two replicas on one
 * PostgreSQL database (the server on 127.0.0.1:5432, a database of its own per run), alternating.
 * Each run: `users` users, each sending `perUser` DMs (`policy parental leave`, a handbook lookup, so
 * the store's path is what is measured, not Bedrock's), each after the previous one was answered
 * (closed loop), spread over the replicas round-robin. Measured: replies per second (all messages
 * over first send to last reply), the time from a message's send to its reply (p50, p99), and the
 * log lines that report a lock or serialization failure (goal 0). A missing or duplicated reply
 * fails the run.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeSlackApi } from '../fakes/fake-slack-api.ts';
import { outputLines, startMain } from '../support/main-process.ts';
import type { RunningMain } from '../support/main-process.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { dmEvent, eventBody, JSON_TYPE, postSigned } from '../support/slack-requests.ts';
import { slackProcessEnv } from '../support/slack-process-env.ts';
import { tempDir } from '../support/temp-bot.ts';
import { median } from './bolt-side-by-side.ts';

export interface ReplicaBenchSizes {
  users: number;
  perUser: number;
  repetitions: number;
  replyWaitMs: number;
}

export const FULL_REPLICA_BENCH: ReplicaBenchSizes = { users: 100, perUser: 10, repetitions: 2, replyWaitMs: 60_000 };

export interface StoreRun {
  store: 'sqlite' | 'postgres';
  replicas: number;
  messages: number;
  answered: number;
  duplicates: number;
  repliesPerSecond: number;
  replyP50Ms: number;
  replyP99Ms: number;
  /** Log lines reporting a lock, busy or serialization failure, or any error. */
  lockErrors: number;
  /** The first few of those lines' messages, for a failure to show. */
  errorSamples: string[];
}

export interface ReplicaBenchReport {
  sizes: ReplicaBenchSizes;
  runs: StoreRun[];
}

const LOCK_ERROR = /locked|SQLITE_BUSY|serializ|deadlock|40001|40P01/i;

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function runOnce(store: 'sqlite' | 'postgres', sizes: ReplicaBenchSizes): Promise<StoreRun> {
  const api = await new FakeSlackApi().start();
  const database = store === 'postgres' ? await createTestDatabase() : undefined;
  const dirs = store === 'postgres' ? [tempDir(), tempDir()] : [tempDir()];
  const bots: RunningMain[] = [];
  try {
    for (const dir of dirs) {
      const env = {
        ...slackProcessEnv(api.apiUrl, dir.path),
        RATE_LIMIT_PER_MINUTE: '10000',
        ...(database === undefined ? {} : { DATABASE_URL: database.url }),
      };
      bots.push(await startMain({ env, maxRunMs: 300_000 }, 60_000));
    }
    const bases = bots.map((bot) => `http://127.0.0.1:${bot.port}`);
    const sentAt = new Map<string, number[]>();
    // A lookup's reply is one post (no placeholder, no stream: no AI).
    const replies = (channel: string) => api.calls.filter((call) => call.method === 'chat.postMessage' && call.args.channel === channel);
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: sizes.users }, async (_, u) => {
        const user = `UB${u}`;
        const channel = `D${user}`;
        const times: number[] = [];
        sentAt.set(channel, times);
        for (let m = 0; m < sizes.perUser; m++) {
          times.push(Date.now());
          await postSigned(bases[next++ % bases.length]!, eventBody(dmEvent('policy parental leave', user)), JSON_TYPE);
          // Closed loop: the next message once this one is answered.
          const deadline = Date.now() + sizes.replyWaitMs;
          while (replies(channel).length < m + 1 && Date.now() < deadline) await sleep(5);
        }
      }),
    );
    let answered = 0;
    let duplicates = 0;
    let last = started;
    const replyMs: number[] = [];
    for (const [channel, times] of sentAt) {
      const calls = replies(channel);
      answered += Math.min(calls.length, times.length);
      duplicates += Math.max(0, calls.length - times.length);
      calls.slice(0, times.length).forEach((call, index) => {
        replyMs.push(call.at - times[index]!);
        last = Math.max(last, call.at);
      });
    }
    replyMs.sort((a, b) => a - b);
    const messages = sizes.users * sizes.perUser;
    const errorLines = bots.flatMap((bot) => outputLines(bot.stdout()).filter((line) => Number(line.level) >= 50 || LOCK_ERROR.test(JSON.stringify(line))));
    const lockErrors = errorLines.length;
    const errorSamples = errorLines.slice(0, 3).map((line) => JSON.stringify({ msg: line.msg, err: line.err }).slice(0, 300));
    return {
      store,
      replicas: bots.length,
      messages,
      answered,
      duplicates,
      repliesPerSecond: Math.round((answered / ((last - started) / 1000)) * 10) / 10,
      replyP50Ms: percentile(replyMs, 50),
      replyP99Ms: percentile(replyMs, 99),
      lockErrors,
      errorSamples,
    };
  } finally {
    for (const bot of bots) await bot.stop();
    await api.close();
    await database?.drop();
    for (const dir of dirs) dir.remove();
  }
}

/** The runs, alternating SQLite and PostgreSQL `repetitions` times each. */
export async function runReplicaBench(sizes: ReplicaBenchSizes = FULL_REPLICA_BENCH, progress: (line: string) => void = () => {}): Promise<ReplicaBenchReport> {
  const runs: StoreRun[] = [];
  for (let repetition = 0; repetition < sizes.repetitions; repetition++) {
    for (const store of ['sqlite', 'postgres'] as const) {
      const run = await runOnce(store, sizes);
      progress(`replicas-postgres: ${store} ×${run.replicas} ${run.repliesPerSecond} replies/s, p99 ${run.replyP99Ms} ms, answered ${run.answered}/${run.messages}`);
      runs.push(run);
    }
  }
  return { sizes, runs };
}

export function replicaBenchPassed(report: ReplicaBenchReport): boolean {
  return report.runs.every((run) => run.answered === run.messages && run.duplicates === 0);
}

export function formatReplicaBench(report: ReplicaBenchReport): string {
  const of = (store: StoreRun['store']) => report.runs.filter((run) => run.store === store);
  const [sqlite, postgres] = [of('sqlite'), of('postgres')];
  const rate = (runs: StoreRun[]) => median(runs.map((run) => run.repliesPerSecond));
  const p99 = (runs: StoreRun[]) => median(runs.map((run) => run.replyP99Ms));
  const row = (name: string, runs: StoreRun[]) =>
    `| ${name} | ${rate(runs)} | ${median(runs.map((run) => run.replyP50Ms))} | ${p99(runs)} | ${runs.reduce((n, run) => n + run.lockErrors, 0)} | ${runs.reduce((n, run) => n + run.messages - run.answered, 0)} | ${runs.reduce((n, run) => n + run.duplicates, 0)} |`;
  return [
    `replicas-postgres: ${report.sizes.users} users × ${report.sizes.perUser} lookups (closed loop), ${report.sizes.repetitions} runs each, alternating; medians`,
    '| store | replies/s | reply p50 ms | reply p99 ms | lock/serialization errors | missing | duplicates |',
    '|---|---|---|---|---|---|---|',
    row('SQLite, 1 process', sqlite),
    row('PostgreSQL, 2 replicas', postgres),
    `throughput ratio (PostgreSQL ×2 / SQLite ×1): ${(rate(postgres) / rate(sqlite)).toFixed(2)}; p99 ratio: ${(p99(postgres) / p99(sqlite)).toFixed(2)}`,
  ].join('\n');
}

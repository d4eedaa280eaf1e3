/**
 * One load run against the production entry point (adapters/main.ts as a child process): Slack in HTTP
 * mode against the fake Web API and Teams in emulator mode against the fake connector, at once, with
 * AI answers from the fake Bedrock. Users type at a steady pace, half in Slack DMs and half in Teams
 * personal chats; the model throttles and fails at random; optionally the bot is SIGKILLed half way
 * and restarted on the same database, or Bedrock goes down for a while. The bot is a black box: only
 * its HTTP answers and what the fakes received are read.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { bedrockEnv, startFakeBedrock } from '../fakes/fake-bedrock.ts';
import type { FakeStats, RandomFaults } from '../fakes/fake-bedrock.ts';
import { FakeSlackApi } from '../fakes/fake-slack-api.ts';
import { FakeTeamsConnector } from '../fakes/fake-teams-connector.ts';
import type { RunningMain } from '../support/main-process.ts';
import { outputLines, startMain } from '../support/main-process.ts';
import { dmEvent, eventBody } from '../support/slack-requests.ts';
import { personalMessage } from '../support/teams-bot.ts';
import { tempDir } from '../support/temp-bot.ts';
import { BotLink } from './bot-link.ts';
import type { DeliveryOutcome } from './deliveries.ts';
import { deliverSlack, deliverTeams } from './deliveries.ts';
import { fakeModelAnswer, ReplyTracker } from './reply-tracker.ts';
import { teamsLeftAllowed } from './report.ts';
import type { PlatformTally, Question } from './tally.ts';
import { tally } from './tally.ts';
import { seededRandom as random } from '../support/seeded-random.ts';
import { slackProcessEnv } from '../support/slack-process-env.ts';
import { createTestDatabase } from '../support/postgres.ts';
import pg from 'pg';

/** What one run does; sizes and times are the caller's (see run.ts for the full defaults). */
export interface LoadScenario {
  name: string;
  /** Users, half in Slack DMs (even numbers) and half in Teams personal chats (odd). */
  users: number;
  /** Messages per user, each sent after the previous one's delivery and about `intervalMs` after the previous was sent. */
  messages: number;
  intervalMs: number;
  /** Model latency of every Bedrock request, ms. */
  latencyMs: number;
  /** Random throttles and errors at Bedrock, for the whole run. */
  faults: RandomFaults;
  /** SIGKILL the bot once this share of the messages has been sent, and restart it on the same database. */
  crashAtShareSent?: number;
  /** Bedrock answers every request 503 from `afterMs` into the burst, for `forMs`. */
  bedrockDown?: { afterMs: number; forMs: number };
  /** Stop waiting for replies after this long without any new call at the fakes while the bot's inbox holds nothing unfinished, ms. */
  idleMs: number;
  /** Hard limit on the whole run, ms. */
  maxMs: number;
  /** Seed of the users' pacing. */
  seed: number;
  /** Where the bot keeps users' data: its SQLite file (default), or a fresh PostgreSQL database (DATABASE_URL) on the local server. */
  store?: 'sqlite' | 'postgres';
}

/** What a run measured. */
export interface ScenarioResult {
  scenario: LoadScenario;
  slack: PlatformTally;
  teams: PlatformTally;
  /** From the first message sent to the last reply shown, ms. */
  elapsedMs: number;
  /** Every question the bot could have seen got a reply before the run stopped waiting. */
  complete: boolean;
  /** Times the bot was killed and restarted. */
  restarts: number;
  /** Unfinished items the restarted process said it took up (crash runs, when its start-up line says). */
  resumed?: number;
  /** Exit code of the last process after SIGTERM. */
  exitCode: number | null;
  /** `PRAGMA integrity_check` of the database after the run. */
  integrity: string;
  /** Inbox rows not done after the run (undefined when there is no inbox table). */
  inboxUnfinished: number | undefined;
  bedrock: FakeStats;
  /** HTTP answers other than 2xx, by platform and status (0: no answer in time or no connection). */
  refusals: Record<string, number>;
  /** Log lines at level error or worse, all processes, by message. */
  errorLogs: Record<string, number>;
  /**
   * Event-loop delay of this (the driving) process, ms: when it is high, late acknowledgements and
   * replies may be the driver's, not the bot's (both share the machine).
   */
  driverLagMs: { p99: number; max: number };
}

const TOPICS = [
  'how many vacation days do I get',
  'how long is parental leave',
  'what is the per diem for meals when I travel',
  'how do I enrol in health insurance',
  'do I need a doctor note when I am sick',
] as const;

/** Calls the fakes keep: far above what a 5,000-message run makes. */
const MAX_RECORDED_CALLS = 500_000;


function teamsUser(u: number): { id: string; aadObjectId: string; name: string } {
  return { id: `29:load-user-${u}`, aadObjectId: `00000000-0000-4000-8000-${String(u).padStart(12, '0')}`, name: `Load User ${u}` };
}

function buildQuestions(scenario: LoadScenario): Question[][] {
  return Array.from({ length: scenario.users }, (_, user) =>
    Array.from({ length: scenario.messages }, (_, index): Question => {
      const platform = user % 2 === 0 ? 'slack' : 'teams';
      const conversation = platform === 'slack' ? `DUL${user}` : `a:personal-${teamsUser(user).aadObjectId}`;
      return { platform, user, index, tag: `q${user}x${index}`, conversation, attempts: 0, acked: false, ackedFirstTry: false, undelivered: false };
    }),
  );
}

function countErrorLines(stdout: string, into: Record<string, number>): void {
  for (const line of outputLines(stdout)) {
    if (typeof line.level !== 'number' || line.level < 50) continue;
    // Node's own warnings start with the pid, which would split one warning into one entry per process.
    const text = typeof line.msg === 'string' ? line.msg : typeof line.raw === 'string' ? line.raw : '?';
    const msg = text.split('\n')[0]!.replace(/^\(node:\d+\) /, '').slice(0, 100);
    into[msg] = (into[msg] ?? 0) + 1;
  }
}

/** Inbox rows not done in a PostgreSQL store. */
async function unfinishedOnPostgres(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM inbox WHERE state <> 'done'")).rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** Items the bot's inbox holds unfinished, from its /metrics (0 when it has no inbox gauges). */
async function inboxUnfinishedNow(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  let open = 0;
  for (const line of text.split('\n')) {
    const match = /^hrbot_inbox_(?:pending|working)(?:\{[^}]*\})? (\d+)/.exec(line);
    if (match !== null) open += Number(match[1]);
  }
  return open;
}

/** Run one scenario to its end; never throws for what the bot did (that is in the result), only for a broken setup. */
export async function runScenario(scenario: LoadScenario, progress: (line: string) => void = () => {}): Promise<ScenarioResult> {
  const dir = tempDir('hrbot-load-');
  const api = await new FakeSlackApi({ maxCalls: MAX_RECORDED_CALLS }).start();
  const connector = await new FakeTeamsConnector({ maxCalls: MAX_RECORDED_CALLS }).start();
  const bedrock = await startFakeBedrock({
    latencyMs: scenario.latencyMs,
    randomFaults: scenario.faults,
    maxCalls: 0,
    reply: (request) => ({ text: fakeModelAnswer(request.question), stopReason: 'end_turn' }),
  });
  const database = scenario.store === 'postgres' ? await createTestDatabase() : undefined;
  const env = {
    ...slackProcessEnv(api.apiUrl, dir.path),
    TEAMS_EMULATOR: 'true',
    ...bedrockEnv(bedrock.url),
    ...(database === undefined ? {} : { DATABASE_URL: database.url }),
    // e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the bot under load.
    ...(process.env.LOAD_BOT_NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: process.env.LOAD_BOT_NODE_OPTIONS }),
  };
  const mainOptions = { env, maxRunMs: scenario.maxMs + 60_000 };
  const link = new BotLink();
  const tracker = new ReplyTracker(api.calls, connector.calls);
  const users = buildQuestions(scenario);
  const questions = users.flat();
  const refusals: Record<string, number> = {};
  const timers: NodeJS.Timeout[] = [];
  const errorLogs: Record<string, number> = {};
  let resumed: number | undefined;
  let restarts = 0;
  let bot: RunningMain | undefined;
  const lag = monitorEventLoopDelay({ resolution: 20 });
  try {
    bot = await startMain(mainOptions);
    lag.enable();
    link.up(`http://127.0.0.1:${bot.port}`);
    const total = questions.length;
    const crashAfter = scenario.crashAtShareSent === undefined ? undefined : Math.max(1, Math.floor(total * scenario.crashAtShareSent));
    let sent = 0;
    let crash: Promise<Error | undefined> | undefined;
    const restart = async (): Promise<void> => {
      const at = sent;
      link.killing();
      const killed = await bot!.kill();
      countErrorLines(killed.stdout, errorLogs);
      if (process.env.LOAD_DUMP_ACKS !== undefined) writeFileSync(`${process.env.LOAD_DUMP_ACKS}-${scenario.name}-killed.log`, killed.stdout);
      progress(`${scenario.name}: SIGKILL after ${at} of ${total} sent; restarting on the same database`);
      try {
        bot = await startMain(mainOptions);
      } catch (error) {
        bot = undefined;
        link.broken(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
      restarts += 1;
      const said = bot.started['resumed'];
      resumed = typeof said === 'number' ? said : undefined;
      link.up(`http://127.0.0.1:${bot.port}`);
      progress(`${scenario.name}: restarted, resumed ${resumed}`);
    };
    const record = (q: Question, outcome: DeliveryOutcome): void => {
      q.attempts = outcome.attempts;
      q.acked = outcome.acked;
      q.ackedFirstTry = outcome.acked && outcome.attempts === 1;
      if (outcome.ackMs !== undefined) q.ackMs = outcome.ackMs;
      if (outcome.failures !== undefined && outcome.failures.length > 0) q.failures = outcome.failures;
      q.undelivered = outcome.undelivered;
      for (const status of outcome.statuses) {
        if (status >= 200 && status < 300) continue;
        const key = `${q.platform} ${status === 0 ? 'no answer' : `HTTP ${status}`}`;
        refusals[key] = (refusals[key] ?? 0) + 1;
      }
    };

    const rng = random(scenario.seed);
    const started = Date.now();
    if (scenario.bedrockDown !== undefined) {
      const { afterMs, forMs } = scenario.bedrockDown;
      timers.push(
        setTimeout(() => {
          progress(`${scenario.name}: Bedrock down for ${forMs} ms`);
          bedrock.setFault({ kind: 'status', status: 503, errorType: 'ServiceUnavailableException', message: 'Bedrock is down (load suite).' });
        }, afterMs),
        setTimeout(() => {
          progress(`${scenario.name}: Bedrock back`);
          bedrock.setFault(null);
        }, afterMs + forMs),
      );
    }
    const ticker = setInterval(() => {
      const acked = questions.filter((q) => q.acked).length;
      const slots = tracker.byConversation();
      const replied = [...slots.values()].flat().length;
      progress(`${scenario.name}: ${Math.round((Date.now() - started) / 1000)} s, sent ${sent}/${total}, acked ${acked}, reply messages ${replied}`);
    }, 5_000);
    timers.push(ticker);

    const offsets = users.map(() => rng() * scenario.intervalMs);
    const jitters = questions.map(() => (rng() - 0.5) * 0.4 * scenario.intervalMs);
    await Promise.all(
      users.map(async (asked, u) => {
        let due = started + offsets[u]!;
        for (const q of asked) {
          if (due > Date.now()) await sleep(due - Date.now());
          // Nobody types while the bot is being restarted: a run's counts should not depend on how long that takes.
          await link.ready();
          if (Date.now() - started > scenario.maxMs) return;
          const text = `${TOPICS[(u + q.index) % TOPICS.length]} ${q.tag}?`;
          q.sentAt = Date.now();
          due = q.sentAt + scenario.intervalMs + jitters[u * scenario.messages + q.index]!;
          sent += 1;
          // Awaited once every user is done; a failed restart also stops the users waiting for it (link.broken).
          if (crashAfter !== undefined && sent === crashAfter) crash = restart().then(
              () => undefined,
              (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
            );
          if (q.platform === 'slack') {
            const event = dmEvent(text, `UL${u}`);
            q.ts = String(event.ts);
            record(q, await deliverSlack(link, eventBody(event)));
          } else {
            record(q, await deliverTeams(link, personalMessage(connector.serviceUrl, text, { user: teamsUser(u) })));
          }
        }
      }),
    );
    const restartFailure = await crash;
    if (restartFailure !== undefined) throw restartFailure;
    // For a closer look at acks: every message's send time (from the start), attempts and first-attempt time.
    if (process.env.LOAD_DUMP_ACKS !== undefined) {
      const rows = questions.map((q) => ({ tag: q.tag, platform: q.platform, at: (q.sentAt ?? started) - started, attempts: q.attempts, ackMs: q.ackMs, first: q.ackedFirstTry, undelivered: q.undelivered, failures: q.failures }));
      writeFileSync(`${process.env.LOAD_DUMP_ACKS}-${scenario.name}.json`, JSON.stringify(rows));
    }
    progress(`${scenario.name}: all ${sent} sent after ${Math.round((Date.now() - started) / 1000)} s; waiting for replies`);

    // Wait until every question the bot could have seen has a reply and nothing is left half-shown,
    // or nothing new has happened for idleMs, or the run is out of time.
    const count = () => {
      const slots = tracker.byConversation();
      return { slack: tally('slack', questions, slots), teams: tally('teams', questions, slots) };
    };
    let complete = false;
    let lastSeen = tracker.callsSeen;
    let lastChange = Date.now();
    while (Date.now() - started < scenario.maxMs) {
      const { slack, teams } = count();
      // What a kill may leave on Teams never changes: with only that left, waiting is over once the bot holds nothing more.
      const settled = slack.lost + teams.lost + slack.leftBehind === 0 && teams.leftBehind <= teamsLeftAllowed(restarts);
      if (settled && (teams.leftBehind === 0 || (await inboxUnfinishedNow(link.current().base)) === 0)) {
        complete = true;
        break;
      }
      if (tracker.callsSeen !== lastSeen) {
        lastSeen = tracker.callsSeen;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > scenario.idleMs && (await inboxUnfinishedNow(link.current().base)) === 0) {
        // Quiet, and the bot holds nothing more to answer (a crashed process' items wait for their lease to expire first).
        break;
      }
      await sleep(200);
    }
    // Anything sent twice arrives right after the first: give it a moment to show.
    await sleep(1_000);
    clearInterval(ticker);
    const stopped = await bot.stop();
    bot = undefined;
    countErrorLines(stopped.stdout, errorLogs);
    if (process.env.LOAD_DUMP_ACKS !== undefined) writeFileSync(`${process.env.LOAD_DUMP_ACKS}-${scenario.name}-last.log`, stopped.stdout);
    const { slack, teams } = count();
    const slots = [...tracker.byConversation().values()].flat();
    if (process.env.LOAD_DUMP_ACKS !== undefined) {
      // The lost questions' conversations, slot by slot, and a copy of the database, for a closer look.
      const lostIn = new Set([...slack.lostSamples, ...teams.lostSamples].map((sample) => sample.slice(0, sample.lastIndexOf(':'))));
      writeFileSync(`${process.env.LOAD_DUMP_ACKS}-${scenario.name}-lost-slots.json`, JSON.stringify(slots.filter((slot) => lostIn.has(slot.conversation)), null, 1));
      copyFileSync(env.DATABASE_PATH, `${process.env.LOAD_DUMP_ACKS}-${scenario.name}.db`);
    }
    const lastReply = Math.max(started, ...slots.map((slot) => slot.textAt));
    const db = new Database(env.DATABASE_PATH, { readonly: true });
    let integrity: string;
    let inboxUnfinished: number | undefined;
    try {
      integrity = String(db.pragma('integrity_check', { simple: true }));
      const hasInbox = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'inbox'").pluck().get() === 1;
      inboxUnfinished = hasInbox ? Number(db.prepare("SELECT count(*) FROM inbox WHERE state <> 'done'").pluck().get()) : undefined;
    } finally {
      db.close();
    }
    if (database !== undefined) inboxUnfinished = await unfinishedOnPostgres(database.url);
    return {
      scenario,
      slack,
      teams,
      elapsedMs: lastReply - started,
      complete,
      restarts,
      ...(resumed === undefined ? {} : { resumed }),
      exitCode: stopped.code,
      integrity,
      inboxUnfinished,
      bedrock: { ...bedrock.stats },
      refusals,
      errorLogs,
      driverLagMs: { p99: Math.round(lag.percentile(99) / 1e6), max: Math.round(lag.max / 1e6) },
    };
  } finally {
    lag.disable();
    for (const timer of timers) clearTimeout(timer);
    if (bot !== undefined) await bot.kill();
    await bedrock.close();
    await connector.close();
    await api.close();
    await database?.drop();
    dir.remove();
  }
}

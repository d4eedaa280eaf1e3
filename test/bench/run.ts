/**
 * `npm run bench [scenario…]`: runs the named scenarios (the default set when none is named) and prints a report.
 * Scenarios are registered by name below; each stops by itself.
 */
import { formatReport, runQuotaScenario } from './bedrock-quota.ts';
import { formatRandomThrottles, runRandomThrottles } from './bedrock-random-throttles.ts';
import { floodPassed, formatFlood, slowBodyFlood } from './slow-body-flood.ts';
import { formatHandbookScale, handbookScale, handbookScalePassed } from './handbook-scale.ts';
import { storeContention } from './store-contention.ts';
import { formatSideBySide, runBoltSideBySide, sideBySidePassed } from './bolt-side-by-side.ts';
import { formatReplicaBench, replicaBenchPassed, runReplicaBench } from './replicas-postgres.ts';
import { formatStoreWrites, STORE_WRITES, storeWrites } from './store-writes.ts';

const QUOTA_BASE = { requestsPerMinute: 300, timeScale: 10, latencyMs: 100, users: 500, questions: 1_000 } as const;
const RANDOM_THROTTLES = { questions: 600, users: 300, latencyMs: 250, faults: { throttle: 0.3, error: 0.05, seed: 9 } } as const;

const scenarios: Record<string, () => Promise<string>> = {
  // The scenario: 1,000 distinct questions from 500 users at once, quota R = 300/min
  // (a "minute" lasts 6 s, so the ideal is 20 s).
  'bedrock-quota': async () => formatReport(await runQuotaScenario({ name: 'bedrock-quota', ...QUOTA_BASE, distinct: 1_000 })),
  // The same load where many employees ask the same things: coalescing and the cache cut the calls.
  'bedrock-quota-repeats': async () => formatReport(await runQuotaScenario({ name: 'bedrock-quota-repeats', ...QUOTA_BASE, distinct: 100 })),
  // The default configuration (LLM_REQUESTS_PER_MINUTE=0): the adaptive rate has to find the quota itself.
  'bedrock-quota-no-cap': async () =>
    formatReport(await runQuotaScenario({ name: 'bedrock-quota-no-cap', ...QUOTA_BASE, distinct: 1_000, botRequestsPerMinute: 0 })),
  // Throttling that does not follow the request rate (30% of attempts at random, 5% errors): answers/s
  // against the same load with no faults, in one run. Any question left without a reply fails the run.
  'bedrock-random-throttles': async () => {
    const report = await runRandomThrottles({ ...RANDOM_THROTTLES, faults: { ...RANDOM_THROTTLES.faults } });
    if (report.clean.noReply + report.faulty.noReply > 0) process.exitCode = 1;
    return formatRandomThrottles('bedrock-random-throttles', RANDOM_THROTTLES, report);
  },
  // Six processes appending history and counting quota on one SQLite file: lock errors and gaps must be 0.
  'store-contention': async () => `store-contention: ${JSON.stringify(await storeContention())}`,
  // 1,000 unauthenticated connections trickling 1 MB bodies at /slack/events: RSS growth < 150 MB and
  // /healthz answering within 1 s, or the run fails (exit code 1).
  'slow-body-flood': async () => {
    const figures = await slowBodyFlood();
    if (!floodPassed(figures)) process.exitCode = 1;
    return formatFlood(figures);
  },
  // 1,000 generated handbook files: index from empty under a minute, a re-index touching only the
  // edited files, and search p99 under 50 ms, or the run fails (exit code 1).
  'handbook-scale': async () => {
    const figures = await handbookScale();
    if (!handbookScalePassed(figures)) process.exitCode = 1;
    return formatHandbookScale(figures);
  },
  // hrbot (adapters/main.ts) against a bare Bolt app answering the same Slack DMs, alternating, 3 runs
  // each: replies/s, CPU, writes and disk per reply, ack times of a burst; medians and ratios, a report.
  // A missing or duplicated reply fails the run (exit code 1).
  'bolt-side-by-side': async () => {
    const report = await runBoltSideBySide(undefined, (line) => process.stderr.write(`${line}\n`));
    if (!sideBySidePassed(report)) process.exitCode = 1;
    return formatSideBySide(report);
  },
  // What one answered message writes to SQLite, by b-tree, at 5, 10 and 20 messages per commit: the
  // real stores driven through a worker's steps, no timing, the same figures on every run; lookups,
  // then questions counted against the daily quota.
  'store-writes': async () =>
    `${formatStoreWrites(await storeWrites())}\n\n${formatStoreWrites(await storeWrites({ ...STORE_WRITES, questions: true }), 'questions')}`,
  // One SQLite process against two replicas on one PostgreSQL database, the same closed-loop load,
  // alternating: replies/s, reply p50/p99, lock errors. A missing or duplicated reply fails the run.
  'replicas-postgres': async () => {
    const report = await runReplicaBench(undefined, (line) => process.stderr.write(`${line}\n`));
    if (!replicaBenchPassed(report)) process.exitCode = 1;
    return formatReplicaBench(report);
  },
};
const DEFAULT_SCENARIOS = ['handbook-scale', 'store-contention', 'slow-body-flood', 'bedrock-quota', 'bedrock-quota-no-cap', 'bedrock-quota-repeats', 'bedrock-random-throttles', 'bolt-side-by-side', 'store-writes', 'replicas-postgres'];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length === 0 ? DEFAULT_SCENARIOS : wanted;
  for (const name of names) {
    const run = scenarios[name];
    if (run === undefined) {
      process.stderr.write(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}\n`);
      process.exitCode = 2;
      return;
    }
    process.stdout.write(`${await run()}\n`);
  }
}

await main();

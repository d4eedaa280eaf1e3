/**
 * `npm run bench [scenario…]`: runs the named scenarios (all when none is named) and prints a report.
 * Scenarios are registered by name below; each stops by itself.
 */
import { formatReport, runQuotaScenario } from './bedrock-quota.ts';

const QUOTA_BASE = { requestsPerMinute: 300, timeScale: 10, latencyMs: 100, users: 500, questions: 1_000 } as const;

const scenarios: Record<string, () => Promise<string>> = {
  // The scenario: 1,000 distinct questions from 500 users at once, quota R = 300/min
  // (a "minute" lasts 6 s, so the ideal is 20 s).
  'bedrock-quota': async () => formatReport(await runQuotaScenario({ name: 'bedrock-quota', ...QUOTA_BASE, distinct: 1_000 })),
  // The same load where many employees ask the same things: coalescing and the cache cut the calls.
  'bedrock-quota-repeats': async () => formatReport(await runQuotaScenario({ name: 'bedrock-quota-repeats', ...QUOTA_BASE, distinct: 100 })),
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length === 0 ? Object.keys(scenarios) : wanted;
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

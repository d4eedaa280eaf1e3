/**
 * `npm run test:load [-- --users 500 --messages 10 --scenarios burst,crash,down --down-seconds 60 --store sqlite|postgres
 *   --throttle 0.3 --error 0.05 --idle-seconds 30 --seed 1]`:
 * runs the load and fault suite against the production entry point and prints one table. Counts
 * (lost, duplicates, order, left behind, database state) are asserted: the exit code is 1 when any is
 * wrong. Times are reported, never asserted.
 */
import { parseArgs } from 'node:util';
import type { ScenarioResult } from './load-scenario.ts';
import { runScenario } from './load-scenario.ts';
import { failures, formatReport } from './report.ts';
import type { ScenarioName } from './scenarios.ts';
import { FULL_SIZE, scenario, SCENARIO_NAMES } from './scenarios.ts';

function share(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1) throw new RangeError(`Expected --${name} to be a share between 0 and 1, got ${value}`);
  return parsed;
}

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new RangeError(`Expected --${name} to be an integer >= 1, got ${value}`);
  return parsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string' },
      messages: { type: 'string' },
      scenarios: { type: 'string' },
      'down-seconds': { type: 'string' },
      'idle-seconds': { type: 'string' },
      throttle: { type: 'string' },
      error: { type: 'string' },
      seed: { type: 'string' },
      store: { type: 'string' },
    },
  });
  if (values.store !== undefined && values.store !== 'sqlite' && values.store !== 'postgres') throw new RangeError(`Expected --store sqlite or postgres, got ${values.store}`);
  const store = values.store ?? 'sqlite';
  const size = {
    users: positiveInteger('users', values.users, FULL_SIZE.users),
    messages: positiveInteger('messages', values.messages, FULL_SIZE.messages),
    downMs: positiveInteger('down-seconds', values['down-seconds'], FULL_SIZE.downMs / 1000) * 1000,
    idleMs: positiveInteger('idle-seconds', values['idle-seconds'], FULL_SIZE.idleMs / 1000) * 1000,
    maxMs: FULL_SIZE.maxMs,
    throttle: share('throttle', values.throttle, FULL_SIZE.throttle),
    error: share('error', values.error, FULL_SIZE.error),
    seed: positiveInteger('seed', values.seed, FULL_SIZE.seed),
  };
  const names = (values.scenarios ?? SCENARIO_NAMES.join(',')).split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SCENARIO_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new RangeError(`Unknown scenario ${unknown.join(', ')}; known: ${SCENARIO_NAMES.join(', ')}`);
  const results: ScenarioResult[] = [];
  for (const name of names as ScenarioName[]) {
    results.push(await runScenario({ ...scenario(name, size), store }, (line) => process.stderr.write(`${line}\n`)));
  }
  process.stdout.write(`${formatReport(results)}\n`);
  const wrong = results.flatMap((result) => failures(result));
  if (wrong.length > 0) {
    process.stdout.write(`\nFAILED:\n${wrong.map((line) => `- ${line}`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`load suite could not run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 2;
});

// The `replicas-postgres` bench (test/bench/replicas-postgres.ts) at a tiny size: one SQLite process
// and two PostgreSQL replicas each answer every message exactly once, with no lock error, and every
// figure comes out as a number. Timings are the bench's report, never asserted here.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatReplicaBench, replicaBenchPassed, runReplicaBench } from './bench/replicas-postgres.ts';

it('replicas-postgres: both stores answer every message once, without lock errors, and every figure is a number', { timeout: 180_000 }, async (t) => {
  const report = await runReplicaBench({ users: 6, perUser: 3, repetitions: 1, replyWaitMs: 30_000 });
  for (const line of formatReplicaBench(report).split('\n')) t.diagnostic(line);
  assert.deepEqual(report.runs.map((run) => [run.store, run.replicas]), [['sqlite', 1], ['postgres', 2]]);
  for (const run of report.runs) {
    assert.deepEqual({ answered: run.answered, duplicates: run.duplicates, lockErrors: run.lockErrors }, { answered: 18, duplicates: 0, lockErrors: 0 }, `${run.store}: ${run.errorSamples.join('; ')}`);
    for (const figure of ['repliesPerSecond', 'replyP50Ms', 'replyP99Ms'] as const) assert.ok(Number.isFinite(run[figure]) && run[figure] > 0, `${run.store}: ${figure} = ${run[figure]}`);
  }
  assert.ok(replicaBenchPassed(report));
});

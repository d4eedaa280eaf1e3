// The `bolt-side-by-side` bench (test/bench/bolt-side-by-side.ts) at a tiny size: hrbot and the bare
// Bolt app each answer every message exactly once, and every figure comes out as a number. Timings
// are the bench's report, never asserted here.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatSideBySide, runBoltSideBySide, sideBySidePassed } from './bench/bolt-side-by-side.ts';

it('bolt-side-by-side: both apps reply to every message once, and every figure is a finite number', { timeout: 180_000 }, async (t) => {
  const report = await runBoltSideBySide({ messages: 20, senders: 10, burst: 10, repetitions: 1, warmup: 5, driverWarmup: 5, replyWaitMs: 30_000, steadyMessages: 10, steadyRate: 50, steadyUsers: 5 });
  for (const line of formatSideBySide(report).split('\n')) t.diagnostic(line);
  assert.deepEqual(report.runs.map((run) => run.app).sort(), ['bare', 'hrbot']);
  for (const run of report.runs) {
    assert.equal(run.sent, 5 + 20 + 10 + 10, `${run.app}: messages sent`);
    assert.equal(run.missing, 0, `${run.app}: replies missing`);
    assert.equal(run.duplicated, 0, `${run.app}: replies duplicated`);
    assert.equal(run.unacked, 0, `${run.app}: burst messages not acknowledged`);
    for (const figure of ['repliesPerSecond', 'cpuMsPerReply', 'steadyCpuMsPerReply', 'writeSyscallsPerReply', 'ackP50Ms', 'ackP99Ms'] as const) {
      assert.ok(Number.isFinite(run[figure]) && run[figure] > 0, `${run.app}: ${figure} = ${run[figure]}`);
    }
    // The bare app writes nothing to disk: 0 is its figure.
    for (const figure of ['diskKbPerReply', 'steadyDiskKbPerReply'] as const) assert.ok(Number.isFinite(run[figure]) && run[figure] >= 0, `${run.app}: ${figure} = ${run[figure]}`);
    assert.ok(run.acksOver1s >= 0 && run.acksOver3s <= run.acksOver1s);
  }
  assert.ok(sideBySidePassed(report));
});

// The store-writes bench in small: every step of a message is written and named, more messages per
// commit write fewer pages each, and the figures repeat exactly (no timing in them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatStoreWrites, storeWrites } from './bench/store-writes.ts';

test('store-writes names the b-trees a message writes, fewer per message in bigger commits, the same on every run', async () => {
  const options = { perCommit: [2, 8], messages: 80, users: 20, questions: true, checkpointEvery: 5 };
  const runs = await storeWrites(options);
  const [small, big] = runs;
  assert.ok(small !== undefined && big !== undefined);
  for (const run of runs) {
    for (const name of ['inbox', 'messages', 'rate_windows', 'usage_daily']) {
      assert.ok((run.logPages.get(name) ?? 0) > 0, `${name} written at G=${run.perCommit}`);
      assert.ok((run.checkpointPages.get(name) ?? 0) > 0, `${name} checkpointed at G=${run.perCommit}`);
    }
  }
  assert.ok(small.kbPerMessage > big.kbPerMessage, `G=2 ${small.kbPerMessage} KB against G=8 ${big.kbPerMessage} KB`);
  const again = await storeWrites(options);
  assert.deepEqual(again.map((run) => run.kbPerMessage), runs.map((run) => run.kbPerMessage));
  assert.match(formatStoreWrites(runs), /\| inbox \| [\d.]+ \| [\d.]+ \|/);
});

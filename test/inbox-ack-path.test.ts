import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { noticeRule } from '../src/inbox/backlog-notice.ts';
import { InboxBatcher } from '../src/inbox/inbox-batcher.ts';
import type { NewInboxItem } from '../src/inbox/inbox-store.ts';
import { InboxStore } from '../src/inbox/inbox-store.ts';
import { InboxWorker } from '../src/inbox/inbox-worker.ts';
import { createLogger } from '../src/log/logger.ts';
import { openDatabase } from '../src/store/database.ts';
import { eraseOwner } from '../src/store/erasure.ts';

const quiet = createLogger({ level: 'silent' });

function item(lane: string, order: number, payload = 'x'): NewInboxItem {
  return { eventKey: `test:${lane}-${order}`, platform: 'test', laneKey: lane, ownerKey: `test:t:${lane}`, order, payload };
}

/** The totals the triggers keep, against a count of the rows themselves. */
function totalsAgree(db: ReturnType<typeof openDatabase>, store: InboxStore): void {
  const counted = db
    .prepare("SELECT count(*) AS open, coalesce(sum(bytes), 0) AS bytes, coalesce(sum(state = 'pending'), 0) AS pending FROM inbox WHERE state <> 'done'")
    .get() as { open: number; bytes: number; pending: number };
  const stats = store.stats();
  assert.deepEqual({ open: stats.pending + stats.working, bytes: stats.openBytes, pending: stats.pending }, counted);
}

describe('inbox: the ack path', () => {
  it('keeps its open totals exact through every change an item goes through', () => {
    const db = openDatabase(':memory:');
    const store = new InboxStore(db);
    for (let i = 0; i < 12; i++) store.enqueue(item(`lane${i % 4}`, i, 'p'.repeat(10 + i)));
    totalsAgree(db, store);
    const taken = store.claim(3, 60_000);
    totalsAgree(db, store);
    store.complete(taken[0]!.id);
    store.release(taken[1]!.id);
    store.saveProgress(taken[2]!.id, '{"noticeId":"1"}');
    totalsAgree(db, store);
    eraseOwner(db, 'test:t:lane3');
    totalsAgree(db, store);
    for (const next of store.claim(10, 60_000)) store.complete(next.id);
    store.prune(Date.now() + 48 * 60 * 60_000);
    totalsAgree(db, store);
    assert.ok(store.stats().pending > 0, 'items remain to check against');
  });

  it('decides a notice in the write itself: a lane with items ahead, or a backed-up inbox, holds the item', () => {
    const store = new InboxStore(openDatabase(':memory:'));
    const rule = { laneAhead: 2, inboxPending: 5, holdMs: 60_000 };
    const lane = [1, 2, 3].map((order) => store.enqueue(item('a', order), Date.now(), rule));
    assert.deepEqual(lane.map((r) => (r.status === 'accepted' ? [r.ahead, r.notice] : r.status)), [[0, false], [1, false], [2, true]]);
    assert.deepEqual(store.claim(10, 60_000).map((t) => t.order), [1], 'the held item is not taken: only the head of lane a is');
    store.enqueue(item('b', 1), Date.now(), rule);
    store.enqueue(item('c', 1), Date.now(), rule);
    const fourth = store.enqueue(item('d', 1), Date.now(), rule);
    assert.ok(fourth.status === 'accepted' && !fourth.notice && fourth.pending === 4, `a2, a3, b, c waiting: ${JSON.stringify(fourth)}`);
    const crowded = store.enqueue(item('e', 1), Date.now(), rule);
    assert.ok(crowded.status === 'accepted' && crowded.notice && crowded.pending === 5, `five waiting before it: ${JSON.stringify(crowded)}`);
  });

  it('writes the events of one turn in one transaction, each with its own answer', async () => {
    const db = openDatabase(':memory:');
    const store = new InboxStore(db);
    let commits = 0;
    const enqueueMany = store.enqueueMany.bind(store);
    store.enqueueMany = (items, now, notices) => {
      commits += 1;
      return enqueueMany(items, now, notices);
    };
    const batcher = new InboxBatcher(store, noticeRule());
    const results = await Promise.all([item('a', 1), item('a', 2), item('a', 1), item('b', 1)].map((i) => batcher.add(i)));
    assert.equal(commits, 1);
    assert.deepEqual(results.map((r) => r.status), ['accepted', 'accepted', 'duplicate', 'accepted']);
    const later = await batcher.add(item('c', 1));
    assert.equal(later.status, 'accepted');
    assert.equal(commits, 2, 'a later turn is its own commit');
  });

  it('refuses every event of a batch the store could not write, and none is half-stored', async () => {
    const db = openDatabase(':memory:');
    const store = new InboxStore(db);
    const batcher = new InboxBatcher(store, undefined, 3);
    // A payload that is not text makes the insert fail after the first rows of the transaction were written.
    const bad = { ...item('z', 1), payload: Symbol('not storable') as unknown as string };
    const outcomes = await Promise.allSettled([batcher.add(item('a', 1)), batcher.add(item('a', 2)), batcher.add(bad)]);
    assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
    assert.equal(db.prepare('SELECT count(*) FROM inbox').pluck().get(), 0);
    assert.equal((await batcher.add(item('a', 1))).status, 'accepted', 'the next turn writes again');
  });

  it('takes fewer items at once while the event loop is slow, and more again once it is quick', async () => {
    const store = new InboxStore(openDatabase(':memory:'));
    const worker = new InboxWorker(store, quiet, { concurrency: 32, minConcurrency: 2, pollMs: 50, maxEventLoopDelayMs: 40 });
    worker.handle('test', () => Promise.resolve());
    worker.start();
    try {
      assert.equal(worker.limit, 32);
      const lowest = async (): Promise<number> => {
        let least = worker.limit;
        for (let turn = 0; turn < 6; turn++) {
          // Synchronous work the loop cannot interrupt, as a burst of answers would be.
          const end = Date.now() + 120;
          while (Date.now() < end);
          await sleep(60);
          least = Math.min(least, worker.limit);
        }
        return least;
      };
      const least = await lowest();
      assert.ok(least < 32, `lowered under a slow loop: ${least}`);
      assert.ok(least >= 2, `never below the floor: ${least}`);
      const deadline = Date.now() + 10_000;
      while (worker.limit < 32 && Date.now() < deadline) await sleep(50);
      assert.equal(worker.limit, 32, 'back to the configured concurrency');
    } finally {
      await worker.stop(100);
    }
  });
});

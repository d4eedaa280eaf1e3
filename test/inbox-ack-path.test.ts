import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { noticeRule } from '../src/inbox/backlog-notice.ts';
import { InboxBatcher } from '../src/inbox/inbox-batcher.ts';
import type { NewInboxItem } from '../src/inbox/inbox-store.ts';
import type { InboxStore } from '../src/inbox/inbox-store.ts';
import { SqliteInboxStore } from '../src/inbox/inbox-store.ts';
import { InboxWorker } from '../src/inbox/inbox-worker.ts';
import { NOTICE_SENDING, NoticeQueue } from '../src/inbox/notice-queue.ts';
import { PROCESS_ID } from '../src/inbox/process-id.ts';
import { createLogger } from '../src/log/logger.ts';
import { openDatabase } from '../src/store/database.ts';
import { eraseOwner } from '../src/store/erasure.ts';

const quiet = createLogger({ level: 'silent' });

function item(lane: string, order: number, payload = 'x'): NewInboxItem {
  return { eventKey: `test:${lane}-${order}`, platform: 'test', laneKey: lane, ownerKey: `test:t:${lane}`, order, payload };
}

/** The totals the triggers keep, against a count of the rows themselves. */
async function totalsAgree(db: ReturnType<typeof openDatabase>, store: InboxStore): Promise<void> {
  const counted = db
    .prepare("SELECT count(*) AS open, coalesce(sum(bytes), 0) AS bytes, coalesce(sum(state = 'pending'), 0) AS pending FROM inbox WHERE state <> 'done'")
    .get() as { open: number; bytes: number; pending: number };
  const stats = (await store.stats());
  assert.deepEqual({ open: stats.pending + stats.working, bytes: stats.openBytes, pending: stats.pending }, counted);
}

describe('inbox: the ack path', () => {
  it('keeps its open totals exact through every change an item goes through', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteInboxStore(db);
    for (let i = 0; i < 12; i++) (await store.enqueue(item(`lane${i % 4}`, i, 'p'.repeat(10 + i))));
    await totalsAgree(db, store);
    const taken = (await store.claim(3, 60_000));
    await totalsAgree(db, store);
    (await store.complete(taken[0]!.id));
    (await store.release(taken[1]!.id));
    (await store.saveProgress(taken[2]!.id, '{"noticeId":"1"}'));
    await totalsAgree(db, store);
    eraseOwner(db, 'test:t:lane3');
    await totalsAgree(db, store);
    for (const next of (await store.claim(10, 60_000))) (await store.complete(next.id));
    (await store.prune(Date.now() + 48 * 60 * 60_000));
    await totalsAgree(db, store);
    assert.ok((await store.stats()).pending > 0, 'items remain to check against');
  });

  it('decides a notice in the write itself: a lane with items ahead, or a backed-up inbox, holds the item', async () => {
    const store = new SqliteInboxStore(openDatabase(':memory:'));
    const rule = { laneAhead: 2, inboxPending: 5, holdMs: 60_000 };
    const lane = [];
    for (const order of [1, 2, 3]) lane.push(await store.enqueue(item('a', order), Date.now(), rule));
    assert.deepEqual(lane.map((r) => (r.status === 'accepted' ? [r.ahead, r.notice] : r.status)), [[0, false], [1, false], [2, true]]);
    assert.deepEqual((await store.claim(10, 60_000)).map((t) => t.order), [1], 'the held item is not taken: only the head of lane a is');
    (await store.enqueue(item('b', 1), Date.now(), rule));
    (await store.enqueue(item('c', 1), Date.now(), rule));
    const fourth = (await store.enqueue(item('d', 1), Date.now(), rule));
    assert.ok(fourth.status === 'accepted' && !fourth.notice && fourth.pending === 4, `a2, a3, b, c waiting: ${JSON.stringify(fourth)}`);
    const crowded = (await store.enqueue(item('e', 1), Date.now(), rule));
    assert.ok(crowded.status === 'accepted' && crowded.notice && crowded.pending === 5, `five waiting before it: ${JSON.stringify(crowded)}`);
  });

  it('where replies stand in one column, holds the earlier untouched messages of the lane for notices too, in order', async () => {
    const store = new SqliteInboxStore(openDatabase(':memory:'));
    const rule = { laneAhead: 3, inboxPending: 1_000, holdMs: 60_000, inOrder: true };
    const now = Date.now();
    const first = (await store.enqueue(item('a', 1, 'p1'), now, rule));
    assert.deepEqual((await store.claim(10, 60_000, now)).map((t) => t.order), [1], 'the first message is being answered');
    const second = await store.enqueue(item('a', 2, 'p2'), now, rule);
    const third = await store.enqueue(item('a', 3, 'p3'), now, rule);
    assert.ok(second?.status === 'accepted' && !second.notice && third?.status === 'accepted' && !third.notice, 'no notice below the bound');
    (await store.enqueue(item('b', 1), now, rule));
    const fourth = (await store.enqueue(item('a', 4), now, rule));
    assert.ok(fourth.status === 'accepted' && fourth.notice, 'the fourth has three ahead');
    assert.deepEqual(
      fourth.earlier.map(({ id, ahead, payload }) => [id, ahead, payload]),
      [
        [second.id, 1, 'p2'],
        [third.id, 2, 'p3'],
      ],
      'the second and third (not the one being answered, not another lane) get notices first',
    );
    const fifth = (await store.enqueue(item('a', 5), now, rule));
    assert.ok(fifth.status === 'accepted' && fifth.notice && fifth.earlier.length === 0, 'those already held are not held twice');
    assert.equal(first.status, 'accepted');
    await store.complete((await store.claim(10, 60_000, now)).find((t) => t.laneKey === 'b')!.id);
    assert.deepEqual((await store.claim(10, 60_000, now)), [], 'the held ones wait for their notices');
    const plain = new SqliteInboxStore(openDatabase(':memory:'));
    for (const order of [1, 2, 3]) (await plain.enqueue(item('a', order), now, { ...rule, inOrder: false }));
    const unordered = (await plain.enqueue(item('a', 4), now, { ...rule, inOrder: false }));
    assert.ok(unordered.status === 'accepted' && unordered.notice && unordered.earlier.length === 0, 'without inOrder only the item itself is held');
  });

  it('a restart releases at once the items a dead process held for notices it never sent', async () => {
    const store = new SqliteInboxStore(openDatabase(':memory:'));
    const rule = { laneAhead: 1, inboxPending: 1_000, holdMs: 60_000 };
    const now = Date.now();
    (await store.enqueue(item('a', 1), now, rule));
    const held = (await store.enqueue(item('a', 2), now, rule));
    assert.ok(held.status === 'accepted' && held.notice);
    const head = (await store.claim(10, 60_000, now, undefined, PROCESS_ID));
    (await store.complete(head[0]!.id));
    assert.deepEqual((await store.claim(10, 60_000, now)), [], 'held for its notice');
    assert.equal((await store.releaseDeadWorkers((worker) => worker === 'elsewhere:1')), 0, 'a live holder keeps its hold');
    assert.equal((await store.releaseDeadWorkers((worker) => worker === PROCESS_ID)), 1, 'the holder died: its hold is released');
    assert.deepEqual(
      (await store.claim(10, 60_000, now)).map((taken) => taken.id),
      [held.id],
      'taken at once, not after the hold',
    );
  });

  it('a notice whose store closed under it (shutdown) is dropped with a warning, never a rejection', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteInboxStore(db);
    const accepted = (await store.enqueue(item('a', 1), Date.now(), { laneAhead: 0, inboxPending: 0, holdMs: 60_000 }));
    assert.ok(accepted.status === 'accepted' && accepted.notice);
    const warnings: string[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (line: string) => warnings.push(line) } });
    const queue = new NoticeQueue(store, log);
    db.close();
    let sent = 0;
    await queue.send(accepted.id, () => Promise.resolve(String(++sent)), () => undefined, 'a');
    assert.equal(sent, 0, 'nothing sent without its mark');
    assert.ok(warnings.some((line) => line.includes('could not mark a notice')), warnings.join('\n'));
  });

  it('writes the events of one turn in one transaction, each with its own answer', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteInboxStore(db);
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
    const store = new SqliteInboxStore(db);
    const batcher = new InboxBatcher(store, undefined, 3);
    // A payload that is not text makes the insert fail after the first rows of the transaction were written.
    const bad = { ...item('z', 1), payload: Symbol('not storable') as unknown as string };
    const outcomes = await Promise.allSettled([batcher.add(item('a', 1)), batcher.add(item('a', 2)), batcher.add(bad)]);
    assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
    assert.equal(db.prepare('SELECT count(*) FROM inbox').pluck().get(), 0);
    assert.equal((await batcher.add(item('a', 1))).status, 'accepted', 'the next turn writes again');
  });

  it('starts slow, takes more items at once while the loop keeps up, and fewer while it is slow', async () => {
    const store = new SqliteInboxStore(openDatabase(':memory:'));
    const worker = new InboxWorker(store, quiet, { concurrency: 32, minConcurrency: 2, pollMs: 50, maxEventLoopDelayMs: 40 });
    worker.handle('test', () => Promise.resolve());
    await worker.start();
    try {
      assert.equal(worker.limit, 2, 'a start into a backlog first leaves room for acks');
      const rising = Date.now() + 10_000;
      while (worker.limit < 32 && Date.now() < rising) await sleep(20);
      assert.equal(worker.limit, 32, 'up to the configured concurrency while the loop is quick');
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

  it('sends few notices at once, marks each before it goes, and drops one whose message a worker already took', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteInboxStore(db);
    const progressOf = (id: number) => db.prepare('SELECT progress FROM inbox WHERE id = ?').pluck().get(id) as string | null;
    const rule = { laneAhead: 0, inboxPending: 0, holdMs: 60_000 };
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) {
      const result = await store.enqueue(item(`lane${i}`, 1), Date.now(), rule);
      assert.ok(result.status === 'accepted' && result.notice);
      ids.push(result.id);
    }
    // The hold of the last one ran out and a worker took it before its notice's turn.
    const late = ids.at(-1)!;
    (await store.makeDue(late));
    const taken = (await store.claim(1, 60_000));
    assert.equal(taken[0]?.id, late);

    const queue = new NoticeQueue(store, quiet, { concurrency: 3, maxQueued: 100 });
    let onTheirWay = 0;
    let most = 0;
    const sent: number[] = [];
    const progressAtSend: Array<string | null> = [];
    let released = 0;
    await Promise.all(
      ids.map((id) =>
        queue.send(
          id,
          async () => {
            onTheirWay += 1;
            most = Math.max(most, onTheirWay);
            progressAtSend.push(progressOf(id));
            await sleep(5);
            onTheirWay -= 1;
            sent.push(id);
            return JSON.stringify({ noticeId: `n${id}` });
          },
          () => (released += 1),
        ),
      ),
    );
    assert.equal(most, 3, 'never more on their way than the concurrency');
    assert.deepEqual([...sent].sort((a, b) => a - b), ids.slice(0, -1), 'every notice but the one whose message was taken');
    assert.ok(progressAtSend.every((p) => p === NOTICE_SENDING), 'marked as on its way before each send');
    assert.equal(released, 11);
    const next = (await store.claim(20, 60_000));
    assert.equal(next.length, 11, 'released: every noticed message may be taken now');
    assert.ok(next.every((t) => t.progress === JSON.stringify({ noticeId: `n${t.id}` })), 'each carries its notice for the answer to replace');
  });

  it('answers without a notice, at once, when too many notices wait', async () => {
    const store = new SqliteInboxStore(openDatabase(':memory:'));
    const rule = { laneAhead: 0, inboxPending: 0, holdMs: 60_000 };
    const ids: number[] = [];
    for (const i of [1, 2, 3]) {
      const result = await store.enqueue(item(`lane${i}`, 1), Date.now(), rule);
      assert.ok(result.status === 'accepted');
      ids.push(result.id);
    }
    const queue = new NoticeQueue(store, quiet, { concurrency: 1, maxQueued: 1 });
    let sends = 0;
    const slow = () => sleep(30).then(() => {
      sends += 1;
      return undefined;
    });
    await Promise.all(ids.map((id) => queue.send(id, slow, () => undefined)));
    assert.equal(sends, 2, 'one on its way, one waiting; the third went without');
    assert.equal((await store.claim(10, 60_000)).length, 3);
  });
});


import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AnswerPace } from '../src/inbox/backlog-notice.ts';
import { DEFAULT_BACKLOG_NOTICE, noticeRule } from '../src/inbox/backlog-notice.ts';
import type { InboxLimits, InboxStore, NewInboxItem } from '../src/inbox/inbox-store.ts';
import { SqliteInboxStore } from '../src/inbox/inbox-store.ts';
import { InboxWorker } from '../src/inbox/inbox-worker.ts';
import { createLogger } from '../src/log/logger.ts';
import { openDatabase } from '../src/store/database.ts';
import { STORE_ENGINES } from './support/store-engines.ts';
import type { StoreReplica } from './support/store-engines.ts';
import { tempDir } from './support/temp-bot.ts';

const quiet = createLogger({ level: 'silent' });

function item(lane: string, order: number, key = `${lane}-${order}`): NewInboxItem {
  return { eventKey: `test:${key}`, platform: 'test', laneKey: lane, ownerKey: `test:t:${lane}`, order, payload: JSON.stringify({ lane, order }) };
}

/** Wait until `check` holds, at most `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

for (const engine of STORE_ENGINES) {
  /** An inbox on a fresh store of this engine, with the replica that holds it. */
  const withInbox = async (fn: (store: InboxStore, replica: StoreReplica) => Promise<void>, limits?: Partial<InboxLimits>) => {
    const shared = await engine.open();
    try {
      const replica = await shared.replica();
      await fn(replica.inbox(limits), replica);
    } finally {
      await shared.close();
    }
  };
  const accepted = async (pending: Promise<{ status: string; ahead?: number }>) => {
    const result = await pending;
    return result.status === 'accepted' ? (result.ahead ?? 0) : -1;
  };

  describe(`inbox store on ${engine.name}`, () => {
    it('stores an event once: a redelivery is a duplicate, before and after it is done', () =>
      withInbox(async (store) => {
        assert.equal((await store.enqueue(item('a', 1))).status, 'accepted');
        assert.deepEqual(await store.enqueue(item('a', 1)), { status: 'duplicate' });
        const [taken] = await store.claim(5, 1000);
        assert.ok(taken);
        assert.equal(await store.complete(taken.id), true);
        assert.equal(await store.complete(taken.id), false, 'done once');
        assert.deepEqual(await store.enqueue(item('a', 1)), { status: 'duplicate' });
        assert.equal((await store.claim(5, 1000)).length, 0, 'nothing left to do');
      }));

    it('hands out one item per lane at a time, in the platform order, whatever the arrival order', () =>
      withInbox(async (store) => {
        for (const order of [30, 10, 20]) await store.enqueue(item('a', order));
        await store.enqueue(item('b', 5));
        const seen: string[] = [];
        for (let round = 0; round < 5; round++) {
          const taken = await store.claim(10, 60_000);
          assert.ok(new Set(taken.map((t) => t.laneKey)).size === taken.length, 'never two items of one lane at once');
          for (const t of taken) {
            seen.push(`${t.laneKey}${t.order}`);
            await store.complete(t.id);
          }
        }
        assert.deepEqual(seen.filter((s) => s.startsWith('a')), ['a10', 'a20', 'a30']);
        assert.ok(seen.includes('b5'));
      }));

    it('two replicas claiming at once never take the same item, nor two of one lane', () =>
      withInbox(async (store, replica) => {
        const [other] = [replica.inbox()];
        for (let lane = 0; lane < 8; lane++) for (let order = 1; order <= 5; order++) await store.enqueue(item(`l${lane}`, order));
        const answered: string[] = [];
        // Rounds of claims from both at once, completing what each took before the next round.
        for (let round = 0; round < 12 && answered.length < 40; round++) {
          const taken = (await Promise.all([store.claim(3, 60_000), other.claim(3, 60_000), store.claim(3, 60_000)])).flat();
          assert.equal(new Set(taken.map((t) => t.id)).size, taken.length, 'no item taken twice');
          assert.equal(new Set(taken.map((t) => t.laneKey)).size, taken.length, 'no lane taken twice');
          for (const t of taken) {
            answered.push(`${t.laneKey}:${t.order}`);
            await store.complete(t.id);
          }
        }
        assert.equal(answered.length, 40);
        for (let lane = 0; lane < 8; lane++) {
          assert.deepEqual(answered.filter((a) => a.startsWith(`l${lane}:`)), [1, 2, 3, 4, 5].map((o) => `l${lane}:${o}`), 'each lane in order');
        }
      }));

    it('reports the items ahead in the same lane', () =>
      withInbox(async (store) => {
        const results = [];
        for (const order of [1, 2, 3]) results.push(await accepted(store.enqueue(item('a', order))));
        assert.deepEqual(results, [0, 1, 2]);
        assert.equal(await accepted(store.enqueue(item('b', 1))), 0);
        assert.equal(await accepted(store.enqueue(item('a', 0, 'late'))), 0, 'a message that arrives late sorts before the ones it preceded');
      }));

    it('refuses past its item and byte bounds, and takes again once items are done', () =>
      withInbox(
        async (store) => {
          assert.equal((await store.enqueue(item('a', 1))).status, 'accepted');
          assert.equal((await store.enqueue(item('b', 1))).status, 'accepted');
          assert.deepEqual(await store.enqueue(item('c', 1)), { status: 'full', reason: 'items' });
          const big = { ...item('d', 1), payload: 'x'.repeat(2_000) };
          for (const t of await store.claim(10, 1000)) await store.complete(t.id);
          assert.deepEqual(await store.enqueue(big), { status: 'full', reason: 'bytes' });
          assert.equal((await store.enqueue(item('c', 1))).status, 'accepted');
        },
        { maxOpenItems: 2, maxOpenBytes: 1_000 },
      ));

    it("gives a dead worker's item to another once its lease expires, keeping the lane blocked until then", () =>
      withInbox(async (store) => {
        await store.enqueue(item('a', 1), 0);
        await store.enqueue(item('a', 2), 0);
        const [first] = await store.claim(10, 100, 0);
        assert.equal(first?.order, 1);
        assert.equal((await store.claim(10, 100, 50)).length, 0, 'the lane waits while the lease lives');
        const [again] = await store.claim(10, 100, 150);
        assert.equal(again?.id, first.id);
        assert.equal(again?.attempts, 2);
      }));

    it('keeps what an attempt showed, and drops the payload when done', () =>
      withInbox(async (store, replica) => {
        await store.enqueue(item('a', 1), 0);
        const [t] = await store.claim(1, 100, 0);
        assert.ok(t);
        await store.saveProgress(t.id, '{"placeholder":"123.456"}');
        const [retry] = await store.claim(1, 100, 500);
        assert.equal(retry?.progress, '{"placeholder":"123.456"}');
        await store.complete(t.id);
        assert.deepEqual(await replica.query('SELECT payload, progress FROM inbox'), [{ payload: null, progress: null }]);
      }));

    it('holds an item for its notice, marks it only while it waits untouched, then lets it be taken', () =>
      withInbox(async (store) => {
        const rule = { laneAhead: 1, inboxPending: 1_000, holdMs: 5_000, inOrder: true };
        const first = await store.enqueue(item('a', 1), 0, rule);
        const second = await store.enqueue(item('a', 2), 0, rule);
        assert.ok(first.status === 'accepted' && !first.notice, 'the first of a lane needs no notice');
        assert.ok(second.status === 'accepted' && second.notice, 'the second waits behind it: held for a notice');
        assert.deepEqual(second.earlier.map((e) => e.id), [first.id], 'in order: the earlier untouched one is held for a notice too');
        assert.equal((await store.claim(10, 100, 10)).length, 0, 'nothing taken while held');
        assert.equal(await store.markProgress(second.id, '{"noticeSending":true}', 5_000), true);
        assert.equal(await store.markProgress(second.id, '{"noticeSending":true}', 5_000), false, 'once');
        await store.makeDue(first.id);
        await store.makeDue(second.id);
        const [taken] = await store.claim(10, 100, 20);
        assert.equal(taken?.id, first.id);
      }));

    it("holds an item while its notice is on its way, and records the notice's id only while the item still waits", () =>
      withInbox(async (store) => {
        const mark = '{"noticeSending":true}';
        const a = await store.enqueue(item('a', 1), 0);
        const b = await store.enqueue(item('b', 1), 0);
        assert.ok(a.status === 'accepted' && b.status === 'accepted');
        assert.equal(await store.markProgress(a.id, mark, 5_000, 10), true);
        assert.equal(await store.markProgress(b.id, mark, 5_000, 10), true);
        assert.deepEqual(await store.claim(10, 100, 100), [], 'neither is taken while its notice is on its way');
        assert.equal(await store.replaceProgress(a.id, mark, '{"noticeId":"n1"}'), true, 'a waits: its notice is recorded');
        const taken = await store.claim(10, 100, 6_000);
        assert.deepEqual(taken.map((t) => [t.id, t.progress]).sort(), [[a.id, '{"noticeId":"n1"}'], [b.id, mark]].sort());
        await store.saveProgress(b.id, '{"reply":"worked on"}');
        assert.equal(await store.replaceProgress(b.id, mark, '{"noticeId":"n2"}'), false, 'b was taken: what its worker recorded stays');
        const again = (await store.claim(10, 100, 7_000)).find((t) => t.id === b.id);
        assert.equal(again?.progress, '{"reply":"worked on"}');
      }));

    it('hands back the items of a dead worker, and takes long waits for a notice once', () =>
      withInbox(async (store) => {
        await store.enqueue(item('a', 1), 0);
        await store.enqueue(item('b', 1), 0);
        await store.claim(1, 3_600_000, 0, undefined, 'gone-host:1');
        assert.equal(await store.releaseDeadWorkers((worker) => worker === 'gone-host:1'), 1);
        const waiting = await store.holdLongWaiting(10, 10, 1_000, ['test'], 20);
        assert.deepEqual(waiting.map((w) => w.laneKey).sort(), ['a', 'b']);
        assert.equal((await store.holdLongWaiting(10, 10, 1_000, ['test'], 30)).length, 0, 'held: not picked again');
        const stats = await store.stats(40);
        assert.deepEqual({ ...stats, oldestWaitMs: stats.oldestWaitMs > 0 }, { pending: 2, working: 0, openBytes: stats.openBytes, oldestWaitMs: true });
        assert.ok(stats.openBytes > 0);
      }));

    it("erases a user's waiting items and prunes done keys past retention and the row bound", () =>
      withInbox(
        async (store, replica) => {
          // Received at 100, 200, 300, 400 and 500; the fifth stays open.
          for (let i = 1; i <= 5; i++) await store.enqueue(item(`l${i}`, i), i * 100);
          await replica.erasure().erase('test:t:l4', 450);
          const claimed = await store.claim(10, 100, 500);
          assert.deepEqual(claimed.map((t) => t.order), [1, 2, 3, 5], 'the erased item is not worked on');
          for (const t of claimed.slice(0, 3)) await store.complete(t.id, 2_000 - t.order * 100);
          // Retention counts from receipt, whenever the item was done: at 1,150 the first is past it.
          // The bound keeps the keys at most 3 ids below the newest (the open fifth's): the second goes too.
          assert.equal(await store.prune(1_150), 2, 'the one received before 150, and the oldest beyond the bound');
          assert.equal(await store.prune(1_160), 0);
          // At 1,401 the third and the erased fourth are past retention; the open item stays whatever its age.
          assert.equal(await store.prune(1_401), 2, 'then the keys past their retention');
          assert.deepEqual(
            (await replica.query<{ state: string }>('SELECT state FROM inbox')).map((row) => row.state),
            ['working'],
          );
        },
        { doneRetentionMs: 1_000, maxDoneItems: 3 },
      ));
  });

  describe(`inbox worker on ${engine.name}`, () => {
    it('tells a long wait once, before the item is answered, and the answer sees what the notice showed', () =>
      withInbox(async (store) => {
        const worker = new InboxWorker(store, quiet, { concurrency: 1, pollMs: 20, longWaitMs: 100 });
        let release = (): void => undefined;
        const blocked = new Promise<void>((resolve) => (release = resolve));
        const seen: Array<{ order: number; progress: string | null }> = [];
        const noticed: number[] = [];
        worker.handle('test', async (t) => {
          if (t.order === 1) await blocked;
          seen.push({ order: t.order, progress: t.progress });
        });
        worker.noticeLongWaits('test', (t) => {
          noticed.push(t.order);
          return Promise.resolve(`{"notice":${t.order}}`);
        });
        await worker.start();
        await store.enqueue(item('a', 1));
        await store.enqueue(item('b', 2));
        worker.notify();
        await until(() => noticed.length === 1);
        await sleep(150);
        assert.deepEqual(noticed, [2], 'only the waiting item, and only once; the one being answered gets none');
        release();
        await until(() => seen.length === 2);
        await worker.stop(100);
        assert.deepEqual(seen, [{ order: 1, progress: null }, { order: 2, progress: '{"notice":2}' }]);
      }));

    it("takes up at once the items of a dead process on this host, and leaves other hosts' to their leases", () =>
      withInbox(async (store, replica) => {
        await store.enqueue(item('a', 1));
        await store.enqueue(item('b', 1));
        const [mine, theirs] = await store.claim(2, 3_600_000);
        assert.ok(mine && theirs);
        // pid 2^22+1 is above Linux's pid_max, so no process has it.
        await replica.query('UPDATE inbox SET worker = ? WHERE id = ?', [`${hostname()}:4194305`, mine.id]);
        await replica.query('UPDATE inbox SET worker = ? WHERE id = ?', ['another-host:1', theirs.id]);
        const worker = new InboxWorker(store, quiet, { pollMs: 10 });
        const handled: string[] = [];
        worker.handle('test', (t) => {
          handled.push(t.laneKey);
          return Promise.resolve();
        });
        await worker.start();
        await until(() => handled.length === 1);
        await sleep(50);
        await worker.stop(100);
        assert.deepEqual(handled, ['a'], "the dead local worker's item at once; the other host's waits for its hour-long lease");
      }));

    it('prunes done keys on its own', () =>
      withInbox(
        async (store, replica) => {
          const worker = new InboxWorker(store, quiet, { pollMs: 10, pruneEveryMs: 20 });
          worker.handle('test', () => Promise.resolve());
          await worker.start();
          await store.enqueue(item('a', 1));
          worker.notify();
          await until(async () => (await replica.query<{ n: number }>('SELECT count(*) AS n FROM inbox'))[0]?.n === 0, 5_000);
          await worker.stop(100);
        },
        { doneRetentionMs: 1 },
      ));

    it('an idle worker looks for work at its poll, not at every check of its pace', () =>
      withInbox(async (store) => {
        let claims = 0;
        const claim = store.claim.bind(store);
        store.claim = (...args) => {
          claims += 1;
          return claim(...args);
        };
        // Polls every 400 ms; the pace (event-loop delay) is checked every 100 ms.
        const worker = new InboxWorker(store, quiet, { pollMs: 400 });
        worker.handle('test', () => Promise.resolve());
        await worker.start();
        await sleep(1_300);
        const idle = claims;
        // Work written by this process is still taken at once: its writer notifies.
        const handled = new Promise<void>((resolve) => worker.handle('test', () => Promise.resolve(resolve())));
        await store.enqueue(item('a', 1));
        worker.notify();
        await handled;
        await worker.stop(100);
        // The start's look and three polls; looking at every pace check made it thirteen or more.
        assert.ok(idle <= 6, `${idle} claims in 1.3 s idle`);
      }));

    it('answers every item once, lanes in parallel, each lane in order, retrying failures', () =>
      withInbox(async (store) => {
        const worker = new InboxWorker(store, quiet, { concurrency: 4, pollMs: 20, retryBaseMs: 5 });
        const handled = new Map<string, number[]>();
        let inFlight = 0;
        let maxInFlight = 0;
        let failures = 0;
        worker.handle('test', async (t) => {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            await sleep(Math.floor(Math.random() * 5));
            // Every third item fails once: it must come back, in its place in the lane.
            if (t.order % 3 === 0 && t.attempts === 1) {
              failures += 1;
              throw new Error('platform unreachable');
            }
            handled.set(t.laneKey, [...(handled.get(t.laneKey) ?? []), t.order]);
          } finally {
            inFlight -= 1;
          }
        });
        await worker.start();
        for (let lane = 0; lane < 10; lane++) for (let order = 1; order <= 6; order++) await store.enqueue(item(`lane${lane}`, order));
        worker.notify();
        await until(() => [...handled.values()].reduce((n, list) => n + list.length, 0) === 60);
        assert.equal(await worker.stop(1_000), 0);
        for (const list of handled.values()) assert.deepEqual(list, [1, 2, 3, 4, 5, 6]);
        assert.equal(failures, 20);
        assert.ok(maxInFlight <= 4 && maxInFlight >= 2, `in flight at most the concurrency, and more than one: ${maxInFlight}`);
        const stats = await store.stats();
        assert.equal(stats.pending + stats.working, 0);
      }));

    it('closes an item after its last attempt, telling the handler it is the last', () =>
      withInbox(async (store) => {
        const worker = new InboxWorker(store, quiet, { pollMs: 10, retryBaseMs: 1, maxAttempts: 3 });
        const attempts: boolean[] = [];
        worker.handle('test', (_t, context) => {
          attempts.push(context.lastAttempt);
          return Promise.reject(new Error('always fails'));
        });
        await worker.start();
        await store.enqueue(item('a', 1));
        await store.enqueue(item('a', 2));
        worker.notify();
        await until(() => attempts.length === 6);
        await worker.stop(100);
        assert.deepEqual(attempts, [false, false, true, false, false, true], 'the lane moved on only after the first item was closed');
      }));

    it('hands unfinished items back when stopped, and they keep their place', () =>
      withInbox(async (store) => {
        const worker = new InboxWorker(store, quiet, { pollMs: 10 });
        let started = 0;
        worker.handle('test', async (_t, context) => {
          started += 1;
          await new Promise((_resolve, reject) => context.signal.addEventListener('abort', () => reject(new Error('stopped'))));
        });
        await worker.start();
        await store.enqueue(item('a', 1));
        await store.enqueue(item('a', 2));
        worker.notify();
        await until(() => started === 1);
        assert.equal(await worker.stop(50), 1);
        const [next] = await store.claim(10, 1000);
        assert.equal(next?.order, 1, 'the handed-back item is first again');
      }));
  });
}

describe('inbox worker processes (SQLite)', () => {
  it('loses nothing and answers nothing twice when a worker process is SIGKILLed half way', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'inbox.db');
      const db = openDatabase(path);
      const store = new SqliteInboxStore(db);
      const total = 120;
      for (let i = 0; i < total; i++) await store.enqueue(item(`lane${i % 12}`, Math.floor(i / 12)));
      const leaseMs = 300;
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/inbox-child.ts', path, '15', String(leaseMs)], { stdio: 'ignore' });
      const replies = () => (db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'test_replies'").pluck().get() === 1 ? (db.prepare('SELECT count(*) FROM test_replies').pluck().get() as number) : 0);
      await until(() => replies() >= total / 3, 60_000);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      const before = replies();
      assert.ok(before < total, 'killed half way');

      const next = spawn(process.execPath, ['--import', 'tsx', 'test/support/inbox-child.ts', path, '1', String(leaseMs)], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      next.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await until(() => replies() === total || next.exitCode !== null, 60_000);
      await until(async () => {
        const stats = await store.stats();
        return stats.pending + stats.working === 0;
      }, 10_000);
      const stopped = new Promise((resolve) => next.once('exit', resolve));
      next.kill('SIGTERM');
      await stopped;

      const rows = db.prepare('SELECT event_key AS key, lane_key AS lane, ord FROM test_replies ORDER BY id').all() as Array<{ key: string; lane: string; ord: number }>;
      assert.equal(rows.length, total, 'every item answered');
      assert.equal(new Set(rows.map((r) => r.key)).size, total, 'none answered twice');
      const byLane = new Map<string, number[]>();
      for (const r of rows) byLane.set(r.lane, [...(byLane.get(r.lane) ?? []), r.ord]);
      for (const orders of byLane.values()) assert.deepEqual(orders, [...orders].sort((a, b) => a - b), 'each lane in order');
      assert.match(out, /"resumed":[1-9]/, `the restart took up the items the dead worker held: ${out}`);
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      db.close();
    } finally {
      dir.remove();
    }
  });
});

describe('backlog notices and the pace of answers', () => {
  const options = { ...DEFAULT_BACKLOG_NOTICE, laneNoticeAhead: 3, inboxNoticePending: 200, noticeWaitMs: 5_000 };
  const pace = (itemMs: number | undefined, parallel: number): AnswerPace => ({ itemMs: () => itemMs, parallel: () => parallel });

  it('announce a wait only when it would last noticeWaitMs at the pace answers go out, never below the set counts', () => {
    // Before anything was answered, and without a pace: the counts as set.
    assert.deepEqual(noticeRule(options), { laneAhead: 3, inboxPending: 200, holdMs: options.noticeHoldMs });
    assert.deepEqual(noticeRule(options, pace(undefined, 8)), noticeRule(options));
    // 50 ms an answer: 100 in a lane, or 800 in the inbox answered 8 at a time, make 5 s.
    assert.deepEqual(noticeRule(options, pace(50, 8)), { laneAhead: 100, inboxPending: 800, holdMs: options.noticeHoldMs });
    // 4 s an answer (a slow model): the set counts, which already mean more than 5 s.
    assert.deepEqual(noticeRule(options, pace(4_000, 8)), noticeRule(options));
    // noticeWaitMs 0: the counts alone, at any pace.
    assert.deepEqual(noticeRule({ ...options, noticeWaitMs: 0 }, pace(50, 8)), noticeRule(options));
  });

  it("the worker's pace: unknown until an item is answered, then the moving average, or longer while one in hand takes longer", async () => {
    const dir = tempDir();
    const db = openDatabase(join(dir.path, 'pace.db'));
    const worker = new InboxWorker(new SqliteInboxStore(db), createLogger({ level: 'silent' }), { pollMs: 10 });
    try {
      const store = new SqliteInboxStore(db);
      let release = (): void => undefined;
      const stall = new Promise<void>((resolve) => (release = resolve));
      const answered: number[] = [];
      worker.handle('test', async (t) => {
        if (t.order === 2) await stall;
        answered.push(t.order);
      });
      assert.equal(worker.itemMs(), undefined);
      await worker.start();
      await store.enqueue(item('a', 1));
      worker.notify();
      await until(() => answered.length === 1);
      // Counted once the item is done, just after its handler returns.
      await until(() => worker.itemMs() !== undefined);
      const quick = worker.itemMs();
      assert.ok(quick !== undefined && quick < 1_000, `a quick answer's time, got ${quick}`);
      await store.enqueue(item('b', 2));
      worker.notify();
      await until(() => worker.active === 1);
      await sleep(300);
      assert.ok(worker.itemMs()! >= 250, `the stalled item in hand counts, got ${worker.itemMs()}`);
      assert.ok(worker.parallel() >= 1);
      release();
      await until(() => answered.length === 2);
    } finally {
      await worker.stop(100);
      db.close();
      dir.remove();
    }
  });
});

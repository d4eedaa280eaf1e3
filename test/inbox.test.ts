import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NewInboxItem } from '../src/inbox/inbox-store.ts';
import { InboxStore } from '../src/inbox/inbox-store.ts';
import { InboxWorker } from '../src/inbox/inbox-worker.ts';
import { createLogger } from '../src/log/logger.ts';
import { openDatabase } from '../src/store/database.ts';
import { eraseOwner } from '../src/store/erasure.ts';
import { tempDir } from './support/temp-bot.ts';

const quiet = createLogger({ level: 'silent' });

function item(lane: string, order: number, key = `${lane}-${order}`): NewInboxItem {
  return { eventKey: `test:${key}`, platform: 'test', laneKey: lane, ownerKey: `test:t:${lane}`, order, payload: JSON.stringify({ lane, order }) };
}

/** Wait until `check` holds, at most `ms`. */
async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('inbox store', () => {
  it('stores an event once: a redelivery is a duplicate, before and after it is done', () => {
    const store = new InboxStore(openDatabase(':memory:'));
    assert.equal(store.enqueue(item('a', 1)).status, 'accepted');
    assert.deepEqual(store.enqueue(item('a', 1)), { status: 'duplicate' });
    const [taken] = store.claim(5, 1000);
    assert.ok(taken);
    assert.equal(store.complete(taken.id), true);
    assert.deepEqual(store.enqueue(item('a', 1)), { status: 'duplicate' });
    assert.equal(store.claim(5, 1000).length, 0, 'nothing left to do');
  });

  it('hands out one item per lane at a time, in the platform order, whatever the arrival order', () => {
    const store = new InboxStore(openDatabase(':memory:'));
    for (const order of [30, 10, 20]) store.enqueue(item('a', order));
    store.enqueue(item('b', 5));
    const seen: string[] = [];
    for (let round = 0; round < 5; round++) {
      const taken = store.claim(10, 60_000);
      assert.ok(new Set(taken.map((t) => t.laneKey)).size === taken.length, 'never two items of one lane at once');
      for (const t of taken) {
        seen.push(`${t.laneKey}${t.order}`);
        store.complete(t.id);
      }
    }
    assert.deepEqual(seen.filter((s) => s.startsWith('a')), ['a10', 'a20', 'a30']);
    assert.ok(seen.includes('b5'));
  });

  it('reports the items ahead in the same lane', () => {
    const store = new InboxStore(openDatabase(':memory:'));
    const results = [1, 2, 3].map((order) => store.enqueue(item('a', order)));
    assert.deepEqual(results.map((r) => (r.status === 'accepted' ? r.ahead : -1)), [0, 1, 2]);
    const other = store.enqueue(item('b', 1));
    assert.equal(other.status === 'accepted' ? other.ahead : -1, 0);
  });

  it('refuses past its item and byte bounds, and takes again once items are done', () => {
    const store = new InboxStore(openDatabase(':memory:'), { maxOpenItems: 2, maxOpenBytes: 1_000 });
    assert.equal(store.enqueue(item('a', 1)).status, 'accepted');
    assert.equal(store.enqueue(item('b', 1)).status, 'accepted');
    assert.deepEqual(store.enqueue(item('c', 1)), { status: 'full', reason: 'items' });
    const big = { ...item('d', 1), payload: 'x'.repeat(2_000) };
    for (const t of store.claim(10, 1000)) store.complete(t.id);
    assert.deepEqual(store.enqueue(big), { status: 'full', reason: 'bytes' });
    assert.equal(store.enqueue(item('c', 1)).status, 'accepted');
  });

  it('gives a dead worker\'s item to another once its lease expires, keeping the lane blocked until then', () => {
    const store = new InboxStore(openDatabase(':memory:'));
    store.enqueue(item('a', 1), 0);
    store.enqueue(item('a', 2), 0);
    const [first] = store.claim(10, 100, 0);
    assert.equal(first?.order, 1);
    assert.equal(store.claim(10, 100, 50).length, 0, 'the lane waits while the lease lives');
    const [again] = store.claim(10, 100, 150);
    assert.equal(again?.id, first.id);
    assert.equal(again?.attempts, 2);
  });

  it('keeps what an attempt showed, and drops the payload when done', () => {
    const db = openDatabase(':memory:');
    const store = new InboxStore(db);
    store.enqueue(item('a', 1), 0);
    const [t] = store.claim(1, 100, 0);
    assert.ok(t);
    store.saveProgress(t.id, '{"placeholder":"123.456"}');
    const [retry] = store.claim(1, 100, 500);
    assert.equal(retry?.progress, '{"placeholder":"123.456"}');
    store.complete(t.id);
    assert.deepEqual(db.prepare('SELECT payload, progress FROM inbox').get(), { payload: null, progress: null });
  });

  it('erases a user\'s waiting items and prunes done keys past retention and the row bound', () => {
    const db = openDatabase(':memory:');
    const store = new InboxStore(db, { doneRetentionMs: 1_000, maxDoneItems: 1 });
    for (let i = 1; i <= 4; i++) store.enqueue(item(`l${i}`, i), 0);
    eraseOwner(db, 'test:t:l4');
    for (const t of store.claim(10, 100, 0)) store.complete(t.id, undefined, t.order * 100);
    assert.equal(store.prune(1_150), 2, 'the oldest beyond the bound went');
    assert.equal(store.prune(1_400), 1, 'then one past its retention');
    assert.deepEqual(store.stats(2_000), { pending: 0, working: 0, openBytes: 0, oldestWaitMs: 0 });
  });
});

describe('inbox worker', () => {
  it('tells a long wait once, before the item is answered, and the answer sees what the notice showed', async () => {
    const store = new InboxStore(openDatabase(':memory:'));
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
    worker.start();
    store.enqueue(item('a', 1));
    store.enqueue(item('b', 2));
    worker.notify();
    await until(() => noticed.length === 1);
    await sleep(150);
    assert.deepEqual(noticed, [2], 'only the waiting item, and only once; the one being answered gets none');
    release();
    await until(() => seen.length === 2);
    await worker.stop(100);
    assert.deepEqual(seen, [{ order: 1, progress: null }, { order: 2, progress: '{"notice":2}' }]);
  });

  it('takes up at once the items of a dead process on this host, and leaves other hosts\' to their leases', async () => {
    const db = openDatabase(':memory:');
    const store = new InboxStore(db);
    store.enqueue(item('a', 1));
    store.enqueue(item('b', 1));
    const [mine, theirs] = store.claim(2, 3_600_000);
    assert.ok(mine && theirs);
    // pid 2^22+1 is above Linux's pid_max, so no process has it.
    db.prepare('UPDATE inbox SET worker = ? WHERE id = ?').run(`${hostname()}:4194305`, mine.id);
    db.prepare('UPDATE inbox SET worker = ? WHERE id = ?').run('another-host:1', theirs.id);
    const worker = new InboxWorker(store, quiet, { pollMs: 10 });
    const handled: string[] = [];
    worker.handle('test', (t) => {
      handled.push(t.laneKey);
      return Promise.resolve();
    });
    worker.start();
    await until(() => handled.length === 1);
    await sleep(50);
    await worker.stop(100);
    assert.deepEqual(handled, ['a'], 'the dead local worker\'s item at once; the other host\'s waits for its hour-long lease');
  });

  it('prunes done keys on its own', async () => {
    const db = openDatabase(':memory:');
    const store = new InboxStore(db, { doneRetentionMs: 1 });
    const worker = new InboxWorker(store, quiet, { pollMs: 10, pruneEveryMs: 20 });
    worker.handle('test', () => Promise.resolve());
    worker.start();
    store.enqueue(item('a', 1));
    worker.notify();
    await until(() => db.prepare('SELECT count(*) FROM inbox').pluck().get() === 0, 5_000);
    await worker.stop(100);
  });

  it('answers every item once, lanes in parallel, each lane in order, retrying failures', async () => {
    const store = new InboxStore(openDatabase(':memory:'));
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
    worker.start();
    for (let lane = 0; lane < 10; lane++) for (let order = 1; order <= 6; order++) store.enqueue(item(`lane${lane}`, order));
    worker.notify();
    await until(() => [...handled.values()].reduce((n, list) => n + list.length, 0) === 60);
    assert.equal(await worker.stop(1_000), 0);
    for (const list of handled.values()) assert.deepEqual(list, [1, 2, 3, 4, 5, 6]);
    assert.equal(failures, 20);
    assert.ok(maxInFlight <= 4 && maxInFlight >= 2, `in flight at most the concurrency, and more than one: ${maxInFlight}`);
    assert.equal(store.stats().pending + store.stats().working, 0);
  });

  it('closes an item after its last attempt, telling the handler it is the last', async () => {
    const store = new InboxStore(openDatabase(':memory:'));
    const worker = new InboxWorker(store, quiet, { pollMs: 10, retryBaseMs: 1, maxAttempts: 3 });
    const attempts: boolean[] = [];
    worker.handle('test', (_t, context) => {
      attempts.push(context.lastAttempt);
      return Promise.reject(new Error('always fails'));
    });
    worker.start();
    store.enqueue(item('a', 1));
    store.enqueue(item('a', 2));
    worker.notify();
    await until(() => attempts.length === 6);
    await worker.stop(100);
    assert.deepEqual(attempts, [false, false, true, false, false, true], 'the lane moved on only after the first item was closed');
  });

  it('hands unfinished items back when stopped, and they keep their place', async () => {
    const store = new InboxStore(openDatabase(':memory:'));
    const worker = new InboxWorker(store, quiet, { pollMs: 10 });
    let started = 0;
    worker.handle('test', async (_t, context) => {
      started += 1;
      await new Promise((_resolve, reject) => context.signal.addEventListener('abort', () => reject(new Error('stopped'))));
    });
    worker.start();
    store.enqueue(item('a', 1));
    store.enqueue(item('a', 2));
    worker.notify();
    await until(() => started === 1);
    assert.equal(await worker.stop(50), 1);
    const [next] = store.claim(10, 1000);
    assert.equal(next?.order, 1, 'the handed-back item is first again');
  });

  it('loses nothing and answers nothing twice when a worker process is SIGKILLed half way', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'inbox.db');
      const db = openDatabase(path);
      const store = new InboxStore(db);
      const total = 120;
      for (let i = 0; i < total; i++) store.enqueue(item(`lane${i % 12}`, Math.floor(i / 12)));
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
      await until(() => store.stats().pending + store.stats().working === 0, 10_000);
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

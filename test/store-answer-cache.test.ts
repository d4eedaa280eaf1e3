// The answer cache's contract, on SQLite and on PostgreSQL alike: memory answers first, another
// replica finds the row in the shared store, a corrupt row is deleted (and logged once), rows are
// bounded with the oldest evicted, and nothing is written for a user erased since the turn began.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { AnswerCache, ANSWER_CACHE_SQL, answerCacheKey, SqliteAnswerCacheRows } from '../src/cache/answer-cache.ts';
import type { AnswerCacheOptions, CachedAnswer } from '../src/cache/answer-cache.ts';
import { StoreError } from '../src/errors.ts';
import { createLogger } from '../src/log/logger.ts';
import { Metrics } from '../src/metrics.ts';
import { eraseOwner } from '../src/store/erasure.ts';
import { PgAnswerCacheRows } from '../src/store/postgres/pg-answer-cache-rows.ts';
import { pgTransaction } from '../src/store/postgres/pg-database.ts';
import { numberedParams } from '../src/store/sql-params.ts';
import { lockOwner } from '../src/store/postgres/pg-owner.ts';
import { STORE_ENGINES, withStore } from './support/store-engines.ts';
import type { StoreReplica } from './support/store-engines.ts';

const ALICE = 'slack:T1:UALICE';
const BOB = 'slack:T1:UBOB';
const SOURCE = { file: 'pto.md', title: 'PTO', heading: 'Carry-over', headingPath: 'PTO › Carry-over', anchor: 'carry-over' };
const ANSWER: CachedAnswer = { text: 'Up to five unused PTO days carry over into the next year [1].', sources: [{ ...SOURCE, citation: 1 }] };
const OPTIONS: AnswerCacheOptions = { maxEntries: 100, maxBytes: 1_000_000, maxRows: 1_000 };

const key = (question: string) => answerCacheKey({ question, handbookVersion: 'v1', modelId: 'm', promptVersion: 'p1' });

/** An answer cache on this replica's own handle, with its logs and metrics to look at. */
function cacheOn(replica: StoreReplica, options = OPTIONS) {
  const rows = replica.raw.engine === 'sqlite' ? new SqliteAnswerCacheRows(replica.raw.db) : new PgAnswerCacheRows(replica.raw.pool);
  let text = '';
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const metrics = new Metrics();
  const cache = new AnswerCache(rows, options, { log: createLogger({ destination: sink, pseudonymKey: 'k' }), metrics });
  return {
    cache,
    lookups: (result: string) => metrics.value('hrbot_answer_cache_total', { result }),
    logs: () =>
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

async function rowCount(replica: StoreReplica): Promise<number> {
  return (await replica.query<{ count: number }>(ANSWER_CACHE_SQL.count))[0]!.count;
}


for (const engine of STORE_ENGINES) {
  void describe(`answer cache on ${engine.name}`, () => {
    void it('answers from memory without reading the store', () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        const { cache, lookups } = cacheOn(replica);
        assert.equal(await cache.get(key('pto')), undefined);
        assert.equal(await cache.set(key('pto'), ANSWER, ALICE), true);
        // Gone from the store: only the memory tier can still answer.
        await replica.query('DELETE FROM answer_cache');
        assert.deepEqual(await cache.get(key('pto')), ANSWER);
        assert.deepEqual({ memory: lookups('hit_memory'), store: lookups('hit_store'), miss: lookups('miss') }, { memory: 1, store: 0, miss: 1 });
      }));

    void it("answers on another replica from the shared store, and keeps it in that replica's memory", () =>
      withStore(engine, async (store) => {
        const [a, b] = [await store.replica(), await store.replica()];
        const writer = cacheOn(a).cache;
        const reader = cacheOn(b);
        await writer.set(key('pto'), ANSWER, ALICE, 1_000);
        assert.equal(reader.cache.sizes.entries, 0);
        assert.deepEqual(await reader.cache.get(key('pto')), ANSWER);
        assert.equal(reader.lookups('hit_store'), 1);
        assert.equal(reader.cache.sizes.entries, 1, 'a store hit is promoted to memory');
        assert.deepEqual(await reader.cache.get(key('pto')), ANSWER);
        assert.equal(reader.lookups('hit_memory'), 1);
        // The same question answered again (a new handbook answer under the same key) replaces the row.
        const newer = { text: 'Up to six unused PTO days carry over into the next year [1].', sources: ANSWER.sources };
        await cacheOn(b).cache.set(key('pto'), newer, BOB, 2_000);
        assert.equal(await rowCount(a), 1);
        assert.deepEqual(await cacheOn(a).cache.get(key('pto')), newer);
        assert.deepEqual(await a.query('SELECT origin_owner_key AS origin, created_at AS at FROM answer_cache'), [{ origin: BOB, at: 2_000 }]);
      }));

    void it('deletes a corrupt row, logs it once without its content, and treats it as a miss', () =>
      withStore(engine, async (store) => {
        const [a, b, c] = [await store.replica(), await store.replica(), await store.replica()];
        const writer = cacheOn(a).cache;
        await writer.set(key('tampered'), ANSWER, ALICE);
        await writer.set(key('garbage'), ANSWER, ALICE);
        await writer.set(key('fine'), ANSWER, ALICE);
        await a.query('UPDATE answer_cache SET payload = ? WHERE cache_key = ?', [JSON.stringify({ text: 'Something else entirely', sources: [] }), key('tampered')]);
        await a.query("UPDATE answer_cache SET payload = '{not json', checksum = 'x' WHERE cache_key = ?", [key('garbage')]);

        const reader = cacheOn(b);
        for (const k of [key('tampered'), key('garbage')]) {
          assert.equal(await reader.cache.get(k), undefined);
          assert.equal(await cacheOn(c).cache.get(k), undefined, 'a miss on every replica');
        }
        assert.deepEqual(await reader.cache.get(key('fine')), ANSWER, 'a sound row is served');
        assert.deepEqual(await b.query('SELECT cache_key AS k FROM answer_cache'), [{ k: key('fine') }]);
        assert.equal(reader.lookups('corrupt'), 2);
        const warnings = reader.logs().filter((line) => line.msg === 'corrupt answer-cache row deleted');
        assert.deepEqual(
          warnings.map((line) => line.problem),
          ['checksum mismatch', 'checksum mismatch'],
        );
        assert.ok(!JSON.stringify(warnings).includes('Something else'), 'the row content is not logged');
      }));

    void it('keeps at most maxRows rows, the oldest evicted, with two replicas writing at once', () =>
      withStore(engine, async (store) => {
        const [a, b] = [await store.replica(), await store.replica()];
        const options = { ...OPTIONS, maxRows: 5 };
        const writers = [cacheOn(a, options).cache, cacheOn(b, options).cache];
        for (let i = 0; i < 12; i++) await writers[i % 2]!.set(key(`question ${i}`), ANSWER, ALICE, 1_000 + i);
        assert.equal(await writers[0]!.storedRows(), 5);
        assert.deepEqual(
          (await a.query<{ at: number }>('SELECT created_at AS at FROM answer_cache ORDER BY created_at')).map((row) => row.at),
          [1_007, 1_008, 1_009, 1_010, 1_011],
        );
        const fresh = cacheOn(b, options).cache;
        assert.equal(await fresh.get(key('question 6')), undefined, 'evicted');
        assert.deepEqual(await fresh.get(key('question 11')), ANSWER);

        // Thirty users at once, so their writes do not take turns on a per-user lock.
        await Promise.all(Array.from({ length: 30 }, (_, i) => writers[i % 2]!.set(key(`burst ${i}`), ANSWER, `slack:T1:U${i}`, 5_000 + i)));
        assert.equal(await rowCount(b), 5, 'bounded, though the writes overlapped');
        assert.deepEqual(
          (await a.query<{ at: number }>('SELECT created_at AS at FROM answer_cache ORDER BY created_at')).map((row) => row.at),
          [5_025, 5_026, 5_027, 5_028, 5_029],
        );
      }));

    void it('writes nothing for a user erased since the turn began, and the next turn writes again', () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        const { cache } = cacheOn(replica);
        await replica.query('INSERT INTO erasures (owner_hash, seq, erased_at) VALUES (?, 5, ?)', [await replica.hash(ALICE), Date.now()]);
        assert.equal(await cache.set(key('pto'), ANSWER, ALICE, Date.now(), 4), false, 'erased since mark 4');
        assert.equal(await rowCount(replica), 0);
        assert.equal(await cache.get(key('pto')), undefined, 'not in memory either');
        assert.equal(await cache.set(key('pto'), ANSWER, BOB, Date.now(), 0), true, 'another user is not affected');
        assert.equal(await cache.set(key('leave'), ANSWER, ALICE, Date.now(), 5), true, 'a turn after the erase');
        assert.equal(await rowCount(replica), 2);
      }));

    void it("drops one owner's memory copies, by owner key here and by hash for an erase made elsewhere", () =>
      withStore(engine, async (store) => {
        const [a, b] = [await store.replica(), await store.replica()];
        const here = cacheOn(a).cache;
        const there = cacheOn(b).cache;
        await here.set(key('alice 1'), ANSWER, ALICE);
        await here.set(key('alice 2'), ANSWER, ALICE);
        await here.set(key('bob'), ANSWER, BOB);
        for (const k of [key('alice 1'), key('bob')]) assert.deepEqual(await there.get(k), ANSWER);
        // What the erase transaction does to the rows on its own.
        await a.query(ANSWER_CACHE_SQL.eraseOwner, [ALICE]);

        assert.equal(here.forgetMemoryOf(ALICE), 2);
        assert.equal(await here.get(key('alice 1')), undefined);
        assert.equal(await here.get(key('alice 2')), undefined);
        assert.equal(there.forgetErased(new Set([await b.hash(ALICE)])), 1);
        assert.equal(await there.get(key('alice 1')), undefined);
        for (const cache of [here, there]) assert.deepEqual(await cache.get(key('bob')), ANSWER, "bob's answer stays");
        assert.equal(here.forgetMemoryOf(ALICE), 0);
      }));

    if (engine.name === 'sqlite') {
      void it("deletes the owner's rows in SQLite's erase transaction through its erasure step", () =>
        withStore(engine, async (store) => {
          const replica = await store.replica();
          assert.equal(replica.raw.engine, 'sqlite');
          if (replica.raw.engine !== 'sqlite') return;
          const { cache } = cacheOn(replica);
          await cache.set(key('alice'), ANSWER, ALICE);
          await cache.set(key('bob'), ANSWER, BOB);
          assert.equal(eraseOwner(replica.raw.db, ALICE, [cache.erasureStep]).cachedAnswers, 1);
          assert.equal(await cache.get(key('alice')), undefined);
          assert.deepEqual(await replica.query('SELECT origin_owner_key AS origin FROM answer_cache'), [{ origin: BOB }]);
        }));
    } else {
      void it("waits for an erase holding the user's lock, then writes nothing", () =>
        withStore(engine, async (store) => {
          const replica = await store.replica();
          assert.equal(replica.raw.engine, 'postgres');
          if (replica.raw.engine !== 'postgres') return;
          const pool = replica.raw.pool;
          const { cache } = cacheOn(replica);
          const ownerHash = await replica.hash(ALICE);
          let release: () => void = () => undefined;
          const held = new Promise<void>((resolve) => (release = resolve));
          let locked: () => void = () => undefined;
          const lockTaken = new Promise<void>((resolve) => (locked = resolve));
          // An erase in progress (written as the erase transaction will be): it holds Alice's lock until released.
          const erase = pgTransaction(pool, async (client) => {
            await lockOwner(client, ALICE);
            locked();
            await held;
            await client.query(numberedParams(ANSWER_CACHE_SQL.eraseOwner), [ALICE]);
            await client.query('INSERT INTO erasures (owner_hash, seq, erased_at) VALUES ($1, 1, $2)', [ownerHash, Date.now()]);
          });
          await lockTaken;
          let settled = false;
          const write = cache.set(key('pto'), ANSWER, ALICE, Date.now(), 0).finally(() => (settled = true));
          try {
            await new Promise((resolve) => setTimeout(resolve, 200));
            assert.equal(settled, false, 'the write waits for the erase');
          } finally {
            // Released whatever the outcome, so a failure above does not leave the erase holding its connection.
            release();
            await erase;
          }
          assert.equal(await write, false);
          assert.equal(await rowCount(replica), 0);
          assert.equal(await cache.get(key('pto')), undefined);
        }));

      void it("refuses SQLite's erasure step: PostgreSQL's erase deletes the rows itself", () =>
        withStore(engine, async (store) => {
          const { cache } = cacheOn(await store.replica());
          assert.throws(() => cache.erasureStep(undefined as never, ALICE), StoreError);
        }));
    }
  });
}

// Retention's contract, on SQLite and on PostgreSQL alike: each table's rows older than their bound
// go and the rest stay, RETENTION_DAYS=0 keeps only today's quota counts, and every batch is a short
// transaction of at most batchRows rows, at most maxBatches per table per sweep.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERASURE_MARK_TTL_MS } from '../src/store/erasure.ts';
import { EVENT_RETENTION_MS } from '../src/store/event-ledger.ts';
import { pgDeleteBatch } from '../src/store/postgres/pg-retention.ts';
import type { DeleteBatch } from '../src/store/retention.ts';
import { Retention, sqliteDeleteBatch } from '../src/store/retention.ts';
import { RATE_WINDOW_MS, utcDay } from '../src/store/usage-store.ts';
import { STORE_ENGINES, withStore } from './support/store-engines.ts';
import type { StoreReplica } from './support/store-engines.ts';

const DAY_MS = 24 * 60 * 60_000;
const NOW = Date.parse('2031-06-15T12:00:00.000Z');
const CUTOFF = NOW - 90 * DAY_MS;

/** The engine's batch delete on this replica's handle, as the integrator builds it. */
function deleteBatchOn(replica: StoreReplica): DeleteBatch {
  return replica.raw.engine === 'sqlite' ? sqliteDeleteBatch(replica.raw.db) : pgDeleteBatch(replica.raw.pool);
}


/** A conversation of `name` with one answer (rated) at `at`. */
async function exchange(replica: StoreReplica, name: string, at: number): Promise<void> {
  await replica.query("INSERT INTO messages (conversation_key, owner_key, seq, role, text, answer_id, created_at) VALUES (?, ?, 1, 'assistant', ?, ?, ?)", [
    `conv-${name}`,
    `slack:T1:${name}`,
    `answer for ${name}`,
    `answer-${name}`,
    at,
  ]);
  await replica.query("INSERT INTO feedback (answer_id, owner_key, rating, created_at) VALUES (?, ?, 'up', ?)", [`answer-${name}`, `slack:T1:${name}`, at]);
}

async function column<T>(replica: StoreReplica, sql: string): Promise<T[]> {
  return (await replica.query<{ v: T }>(sql)).map((row) => row.v);
}

for (const engine of STORE_ENGINES) {
  void describe(`retention on ${engine.name}`, () => {
    void it("deletes each table's rows older than their bound, and keeps the rest", () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        await exchange(replica, 'old', CUTOFF - 1);
        await exchange(replica, 'edge', CUTOFF);
        await exchange(replica, 'new', NOW - 1_000);
        for (const day of [utcDay(CUTOFF - DAY_MS), utcDay(CUTOFF), utcDay(NOW)]) {
          await replica.query("INSERT INTO usage_daily (owner_key, tenant_key, day, questions) VALUES ('slack:T1:u', 'slack:T1', ?, 1)", [day]);
        }
        for (const [name, at] of [
          ['old', CUTOFF - 1],
          ['edge', CUTOFF],
        ] as const) {
          await replica.query("INSERT INTO answer_cache (cache_key, payload, checksum, origin_owner_key, created_at) VALUES (?, '{}', 'c', 'slack:T1:u', ?)", [`${name}-key`, at]);
        }
        await replica.query('INSERT INTO rate_windows (owner_key, window_start, count) VALUES (?, ?, 1), (?, ?, 1)', ['ended', NOW - RATE_WINDOW_MS, 'current', NOW - RATE_WINDOW_MS + 1]);
        await replica.query('INSERT INTO erasures (owner_hash, seq, erased_at) VALUES (?, 1, ?), (?, 2, ?)', ['old-mark', NOW - ERASURE_MARK_TTL_MS - 1, 'new-mark', NOW - 1_000]);
        await replica.query("INSERT INTO processed_events (event_key, state, claimed_at) VALUES (?, 'done', ?), (?, 'done', ?)", [
          'old-event',
          NOW - EVENT_RETENTION_MS - 1,
          'new-event',
          NOW - 1_000,
        ]);

        const report = await new Retention(deleteBatchOn(replica), { days: 90, now: () => NOW }).sweep();

        assert.deepEqual(await column(replica, 'SELECT owner_key AS v FROM messages ORDER BY owner_key'), ['slack:T1:edge', 'slack:T1:new']);
        assert.deepEqual(await column(replica, 'SELECT answer_id AS v FROM feedback ORDER BY answer_id'), ['answer-edge', 'answer-new']);
        assert.deepEqual(await column(replica, 'SELECT DISTINCT conversation_key AS v FROM messages ORDER BY conversation_key'), ['conv-edge', 'conv-new']);
        assert.deepEqual(await column(replica, 'SELECT day AS v FROM usage_daily ORDER BY day'), [utcDay(CUTOFF), utcDay(NOW)]);
        assert.deepEqual(await column(replica, 'SELECT cache_key AS v FROM answer_cache'), ['edge-key']);
        assert.deepEqual(await column(replica, 'SELECT owner_key AS v FROM rate_windows'), ['current']);
        assert.deepEqual(await column(replica, 'SELECT owner_hash AS v FROM erasures'), ['new-mark']);
        assert.deepEqual(await column(replica, 'SELECT event_key AS v FROM processed_events'), ['new-event']);
        assert.deepEqual(report, {
          messages: 1,
          feedback: 1,
          usageDays: 1,
          cachedAnswers: 1,
          rateWindows: 1,
          erasureMarks: 1,
          processedEvents: 1,
          // One batch per table: each deleted fewer rows than a batch holds.
          batches: 7,
        });
      }));

    void it("with RETENTION_DAYS=0 keeps only today's usage row", () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        await exchange(replica, 'today', NOW - 1);
        await replica.query("INSERT INTO answer_cache (cache_key, payload, checksum, origin_owner_key, created_at) VALUES ('k', '{}', 'c', 'slack:T1:u', ?)", [NOW - 1]);
        for (const day of [utcDay(NOW - DAY_MS), utcDay(NOW)]) {
          await replica.query("INSERT INTO usage_daily (owner_key, tenant_key, day, questions) VALUES ('slack:T1:u', 'slack:T1', ?, 3)", [day]);
        }

        const report = await new Retention(deleteBatchOn(replica), { days: 0, now: () => NOW }).sweep();

        for (const table of ['messages', 'feedback', 'answer_cache']) {
          assert.deepEqual(await column(replica, `SELECT CAST(COUNT(*) AS BIGINT) AS v FROM ${table}`), [0], table);
        }
        assert.deepEqual(await replica.query('SELECT day, questions FROM usage_daily'), [{ day: utcDay(NOW), questions: 3 }]);
        assert.equal(report.usageDays, 1);
      }));

    void it('deletes in batches of at most batchRows, at most maxBatches per table per sweep', () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        for (let i = 0; i < 10; i++) await exchange(replica, `u${i}`, CUTOFF - DAY_MS);
        await exchange(replica, 'recent', NOW);
        const batches: Array<{ table: string; deleted: number }> = [];
        const engineBatch = deleteBatchOn(replica);
        // The engine's own batch delete, watched: how many rows each transaction took.
        const watched: DeleteBatch = async (table, condition, bound, limit, byId) => {
          const deleted = await engineBatch(table, condition, bound, limit, byId);
          batches.push({ table, deleted });
          return deleted;
        };
        const retention = new Retention(watched, { days: 90, batchRows: 3, maxBatches: 2, now: () => NOW });

        const first = await retention.sweep();
        assert.deepEqual(
          batches.filter((batch) => batch.table === 'feedback').map((batch) => batch.deleted),
          [3, 3],
          'two full batches, then the sweep moves on',
        );
        assert.equal(first.feedback, 6);
        assert.equal(first.batches, batches.length);
        assert.ok(
          batches.every((batch) => batch.deleted <= 3),
          JSON.stringify(batches),
        );
        // Messages in two batches as well; the rest wait for the next sweep.
        assert.equal(first.messages, 6);
        assert.deepEqual(await column(replica, 'SELECT CAST(COUNT(*) AS BIGINT) AS v FROM messages'), [5]);

        batches.length = 0;
        const second = await retention.sweep();
        assert.deepEqual(
          batches.filter((batch) => batch.table === 'messages').map((batch) => batch.deleted),
          [3, 1],
        );
        assert.equal(second.messages, 4);
        assert.deepEqual(await column(replica, 'SELECT owner_key AS v FROM messages'), ['slack:T1:recent']);
        assert.deepEqual(await column(replica, 'SELECT DISTINCT conversation_key AS v FROM messages'), ['conv-recent']);
        assert.deepEqual(await column(replica, 'SELECT answer_id AS v FROM feedback'), ['answer-recent']);
      }));
  });
}

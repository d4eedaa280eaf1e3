// The usage store's contract, on SQLite and on PostgreSQL alike: rate limit and daily quota counted
// before any work, exactly, by two replicas admitting one user's messages at once; a message an
// earlier attempt counted is not counted again; nothing is counted for a user erased since.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimitedError } from '../src/errors.ts';
import { STORE_ENGINES, withStore } from './support/store-engines.ts';

const NOW = Date.parse('2031-03-10T12:00:00.000Z');
const OWNER = 'slack:T1:U1';
const TENANT = 'slack:T1';


function refusedFor(limit: 'rate' | 'daily_quota') {
  return (error: unknown) => error instanceof RateLimitedError && error.limit === limit;
}

for (const engine of STORE_ENGINES) {
  void describe(`usage store on ${engine.name}`, () => {
    void it('refuses past the per-minute limit, and admits again in the next window', () =>
      withStore(engine, async (store) => {
        const usage = (await store.replica()).usage({ perMinute: 3, dailyQuestions: 100 });
        for (let i = 0; i < 3; i++) assert.equal(await usage.admit(OWNER, TENANT, { question: false }, NOW + i), true);
        await assert.rejects(usage.admit(OWNER, TENANT, { question: false }, NOW + 10), refusedFor('rate'));
        assert.equal(await usage.admit(OWNER, TENANT, { question: false }, NOW + 60_000), true, 'a new window');
      }));

    void it('two replicas admitting one user at once admit exactly the daily quota', () =>
      withStore(engine, async (store) => {
        const limits = { perMinute: 1_000, dailyQuestions: 7 };
        const replicas = [(await store.replica()).usage(limits), (await store.replica()).usage(limits)];
        const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => replicas[i % 2]!.admit(OWNER, TENANT, { question: true }, NOW)));
        const admitted = outcomes.filter((outcome) => outcome.status === 'fulfilled' && outcome.value).length;
        const refused = outcomes.filter((outcome) => outcome.status === 'rejected' && refusedFor('daily_quota')(outcome.reason)).length;
        assert.deepEqual({ admitted, refused }, { admitted: 7, refused: 23 });
        assert.equal((await replicas[1]!.userDay(OWNER, NOW)).questions, 7, 'counted once each, on the shared store');
        // Another user's quota is their own.
        assert.equal(await replicas[0]!.admit('slack:T1:U2', TENANT, { question: true }, NOW), true);
      }));

    void it("does not count again a message an earlier attempt counted, and marks the inbox item when it counts", () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        const usage = replica.usage({ perMinute: 100, dailyQuestions: 1 });
        await replica.query(
          "INSERT INTO inbox (id, event_hash, platform, lane_key, owner_hash, ord, payload, bytes, state, received_at) VALUES (41, 'e41', 'slack', 'l', 'o', 1, '{}', 2, 'working', ?)",
          [NOW],
        );
        assert.equal(await usage.admit(OWNER, TENANT, { question: true, admission: { done: false, inboxItemId: 41 } }, NOW), true);
        assert.deepEqual(await replica.query('SELECT admitted FROM inbox WHERE id = 41'), [{ admitted: 1 }]);
        // The retry of that message after a crash: admitted, though the quota of 1 is spent, and not counted.
        assert.equal(await usage.admit(OWNER, TENANT, { question: true, admission: { done: true, inboxItemId: 41 } }, NOW), true);
        assert.equal((await usage.userDay(OWNER, NOW)).questions, 1);
        await assert.rejects(usage.admit(OWNER, TENANT, { question: true }, NOW), refusedFor('daily_quota'), 'a new message is refused');
      }));

    void it('counts nothing for a user erased after the message arrived', () =>
      withStore(engine, async (store) => {
        const replica = await store.replica();
        const usage = replica.usage({ perMinute: 100, dailyQuestions: 100 });
        await replica.query('INSERT INTO erasures (owner_hash, seq, erased_at) VALUES (?, 5, ?)', [await replica.hash(OWNER), NOW]);
        assert.equal(await usage.admit(OWNER, TENANT, { question: true, mark: 4 }, NOW), false, 'erased since mark 4');
        assert.equal(await usage.recordTokens(OWNER, TENANT, { input: 10, output: 20 }, NOW, 4), false);
        assert.deepEqual(await usage.userDay(OWNER, NOW), { day: '2031-03-10', questions: 0, inputTokens: 0, outputTokens: 0 });
        assert.equal(await usage.admit(OWNER, TENANT, { question: true, mark: 5 }, NOW), true, 'a message after the erase counts');
      }));

    void it("adds up tokens per user and day, and a tenant's day", () =>
      withStore(engine, async (store) => {
        const usage = (await store.replica()).usage({ perMinute: 100, dailyQuestions: 100 });
        await usage.admit(OWNER, TENANT, { question: true }, NOW - 24 * 60 * 60_000);
        await usage.admit(OWNER, TENANT, { question: true }, NOW);
        await usage.recordTokens(OWNER, TENANT, { input: 100, output: 50 }, NOW);
        await usage.recordTokens(OWNER, TENANT, { input: 1, output: 2 }, NOW);
        await usage.admit('slack:T1:U2', TENANT, { question: true }, NOW);
        assert.deepEqual(await usage.userDay(OWNER, NOW), { day: '2031-03-10', questions: 1, inputTokens: 101, outputTokens: 52 });
        assert.deepEqual(await usage.userSince(OWNER, 2, NOW), { day: '2031-03-09', questions: 2, inputTokens: 101, outputTokens: 52 });
        assert.deepEqual(await usage.tenantDay(TENANT, NOW), { day: '2031-03-10', users: 2, questions: 2, inputTokens: 101, outputTokens: 52 });
      }));
  });
}

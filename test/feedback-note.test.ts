// The feedback note (migration 9) in the store, on SQLite and on PostgreSQL alike: written only for
// the answer's owner, in the same transaction as the check, bounded by the column itself, and counted
// (never read) for admins.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryStore } from '../src/store/history-store.ts';
import { STORE_ENGINES } from './support/store-engines.ts';
import type { StoreReplica } from './support/store-engines.ts';

async function answer(history: HistoryStore, owner: string): Promise<string> {
  const stored = await history.appendExchange({
    conversationKey: `conv-${owner}`,
    ownerKey: owner,
    command: 'ask',
    question: 'how many vacation days?',
    answer: { text: '25', kind: 'excerpts', sources: [] },
  });
  assert.ok(stored);
  return stored.answerId;
}

for (const engine of STORE_ENGINES) {
  const withStore = async (body: (replica: StoreReplica, history: HistoryStore) => Promise<void>) => {
    const store = await engine.open();
    try {
      const replica = await store.replica();
      await body(replica, replica.history());
    } finally {
      await store.close();
    }
  };

  void describe(`feedback note on ${engine.name}`, () => {
    void it("is stored as a 👎 with its reason and text for the owner only, and refused for anyone else's or a missing answer", () =>
      withStore(async (replica, history) => {
        const id = await answer(history, 'slack:T1:UA');
        await history.recordFeedback(id, 'slack:T1:UA', 'up');
        assert.equal(await history.recordFeedbackComment(id, 'slack:T1:UB', { comment: 'nope' }), 'forbidden');
        assert.equal(await history.recordFeedbackComment('no-such-answer', 'slack:T1:UA', { comment: 'x' }), 'not_found');
        assert.deepEqual(await replica.query('SELECT rating, reason, comment FROM feedback'), [{ rating: 'up', reason: null, comment: null }]);
        assert.equal(await history.recordFeedbackComment(id, 'slack:T1:UA', { reason: 'wrong', comment: 'outdated' }), 'saved');
        assert.deepEqual(await replica.query('SELECT rating, reason, comment FROM feedback'), [{ rating: 'down', reason: 'wrong', comment: 'outdated' }]);
        assert.equal(await history.feedbackFor(id), 'down');
      }));

    void it('is bounded by the column too: a note over 2,000 characters is refused and nothing changes', () =>
      withStore(async (replica, history) => {
        const id = await answer(history, 'slack:T1:UA');
        await assert.rejects(history.recordFeedbackComment(id, 'slack:T1:UA', { comment: 'x'.repeat(2001) }), /CHECK constraint failed|violates check constraint/);
        assert.deepEqual(await replica.query('SELECT COUNT(*) AS n FROM feedback'), [{ n: 0 }]);
      }));

    void it("counts a workspace's ratings and notes for its admins, not another workspace's (even one whose id has LIKE wildcards)", () =>
      withStore(async (_replica, history) => {
        const mine = await answer(history, 'slack:T1:UA');
        await history.recordFeedbackComment(mine, 'slack:T1:UA', { comment: 'missing the Irish figures' });
        await history.recordFeedback(await answer(history, 'slack:T1:UC'), 'slack:T1:UC', 'up');
        await history.recordFeedback(await answer(history, 'slack:T_:UD'), 'slack:T_:UD', 'down');
        await history.recordFeedback(await answer(history, 'slack:T10:UE'), 'slack:T10:UE', 'down');
        assert.deepEqual({ ...(await history.feedbackTotals('slack:T1', 0)) }, { up: 1, down: 1, explained: 1 });
        assert.deepEqual({ ...(await history.feedbackTotals('slack:T_', 0)) }, { up: 0, down: 1, explained: 0 });
      }));

    void it('goes with the erase of its owner', () =>
      withStore(async (replica, history) => {
        const id = await answer(history, 'slack:T1:UA');
        await history.recordFeedbackComment(id, 'slack:T1:UA', { comment: 'private words' });
        const report = await replica.erasure().erase('slack:T1:UA');
        assert.equal(report.feedback, 1);
        assert.deepEqual(await replica.query("SELECT COUNT(*) AS n FROM feedback WHERE comment = 'private words'"), [{ n: 0 }]);
      }));
  });
}

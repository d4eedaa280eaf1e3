// The feedback note (migration 8) in the store: written only for the answer's owner, in the same
// transaction as the check, bounded by the column itself, and counted (never read) for admins.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Db } from '../src/store/database.ts';
import { openDatabase } from '../src/store/database.ts';
import { eraseOwner } from '../src/store/erasure.ts';
import { HistoryStore } from '../src/store/history-store.ts';
import { tempDir } from './support/temp-bot.ts';

function withDb(body: (db: Db, history: HistoryStore) => void): void {
  const dir = tempDir();
  const db = openDatabase(join(dir.path, 'note.db'));
  try {
    body(db, new HistoryStore(db));
  } finally {
    db.close();
    dir.remove();
  }
}

function answer(history: HistoryStore, owner: string): string {
  const stored = history.appendExchange({
    conversationKey: `conv-${owner}`,
    ownerKey: owner,
    platform: 'slack',
    kind: 'dm',
    command: 'ask',
    question: 'how many vacation days?',
    answer: { text: '25', kind: 'excerpts', sources: [] },
  });
  assert.ok(stored);
  return stored.answerId;
}

describe('feedback note', () => {
  it("is stored as a 👎 with its reason and text for the owner only, and refused for anyone else's or a missing answer", () =>
    withDb((db, history) => {
      const id = answer(history, 'slack:T1:UA');
      history.recordFeedback(id, 'slack:T1:UA', 'up');
      assert.equal(history.recordFeedbackComment(id, 'slack:T1:UB', { comment: 'nope' }), 'forbidden');
      assert.equal(history.recordFeedbackComment('no-such-answer', 'slack:T1:UA', { comment: 'x' }), 'not_found');
      assert.deepEqual(db.prepare('SELECT rating, reason, comment FROM feedback').all(), [{ rating: 'up', reason: null, comment: null }]);
      assert.equal(history.recordFeedbackComment(id, 'slack:T1:UA', { reason: 'wrong', comment: 'outdated' }), 'saved');
      assert.deepEqual(db.prepare('SELECT rating, reason, comment FROM feedback').all(), [{ rating: 'down', reason: 'wrong', comment: 'outdated' }]);
    }));

  it('is bounded by the column too: a note over 2,000 characters is refused and nothing changes', () =>
    withDb((db, history) => {
      const id = answer(history, 'slack:T1:UA');
      assert.throws(() => history.recordFeedbackComment(id, 'slack:T1:UA', { comment: 'x'.repeat(2001) }), /CHECK constraint failed/);
      assert.equal(db.prepare('SELECT COUNT(*) FROM feedback').pluck().get(), 0);
    }));

  it("counts a workspace's ratings and notes for its admins, not another workspace's (even one whose id has LIKE wildcards)", () =>
    withDb((_db, history) => {
      const mine = answer(history, 'slack:T1:UA');
      history.recordFeedbackComment(mine, 'slack:T1:UA', { comment: 'missing the Irish figures' });
      history.recordFeedback(answer(history, 'slack:T1:UC'), 'slack:T1:UC', 'up');
      history.recordFeedback(answer(history, 'slack:T_:UD'), 'slack:T_:UD', 'down');
      history.recordFeedback(answer(history, 'slack:T10:UE'), 'slack:T10:UE', 'down');
      assert.deepEqual({ ...history.feedbackTotals('slack:T1', 0) }, { up: 1, down: 1, explained: 1 });
      assert.deepEqual({ ...history.feedbackTotals('slack:T_', 0) }, { up: 0, down: 1, explained: 0 });
    }));

  it('goes with the erase of its owner', () =>
    withDb((db, history) => {
      const id = answer(history, 'slack:T1:UA');
      history.recordFeedbackComment(id, 'slack:T1:UA', { comment: 'private words' });
      const report = eraseOwner(db, 'slack:T1:UA');
      assert.equal(report.feedback, 1);
      assert.equal(db.prepare("SELECT COUNT(*) FROM feedback WHERE comment = 'private words'").pluck().get(), 0);
    }));
});

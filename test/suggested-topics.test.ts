import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { suggestedTopics } from '../src/engine/suggested-topics.ts';
import type { Source } from '../src/message.ts';
import { SqliteHistoryStore } from '../src/store/history-store.ts';
import { startTempBot } from './support/temp-bot.ts';

const FALLBACK = ['Benefits', 'Code of Conduct', 'Expenses and Travel', 'Company Holidays'];
const section = (heading: string, file = 'pto.md'): Source => ({ file, title: 'Paid Time Off', heading, headingPath: `Paid Time Off › ${heading}`, anchor: heading.toLowerCase().replace(/\s+/g, '-') });

/** Store one question and its answer from `sources` for `user` in `tenant`. */
function ask(history: SqliteHistoryStore, tenant: string, user: string, question: string, sources: Source[]): void {
  history.appendExchangeNow({
    conversationKey: `${tenant}-${user}-${question}`,
    ownerKey: `slack:${tenant}:${user}`,
    command: 'ask',
    question,
    answer: { text: 'an answer', kind: 'answer', sources },
  });
}

describe('suggested topics', () => {
  it("are the sections most people were answered from, by title, and only a workspace's own", async () => {
    const bot = startTempBot();
    try {
      const history = new SqliteHistoryStore(bot.core.db);
      for (const user of ['U1', 'U2', 'U3', 'U4']) ask(history, 'T1', user, `carry over question of ${user}`, [section('Carry over'), section('Half days')]);
      for (const user of ['U1', 'U2', 'U3']) ask(history, 'T1', user, `sick note question of ${user}`, [section('Sick notes', 'sick-leave.md')]);
      // Asked often, but by one person: it could tell colleagues what that person asked.
      for (let i = 0; i < 10; i++) ask(history, 'T1', 'ULONER', `visa question ${i}`, [section('Visa sponsorship', 'remote-work.md')]);
      // Another workspace's questions never show here.
      for (const user of ['V1', 'V2', 'V3', 'V4', 'V5']) ask(history, 'T2', user, 'other', [section('Severance', 'other.md')]);

      const topics = await suggestedTopics(new SqliteHistoryStore(bot.core.db), bot.core.db, { platform: 'slack', tenantId: 'T1' });
      assert.deepEqual(topics.map((t) => t.title), ['Carry over', 'Half days', 'Sick notes', 'Benefits']);
      assert.equal(topics[0]!.message, 'What does the handbook say about Carry over?');
      assert.doesNotMatch(JSON.stringify(topics), /question|U1|Visa|Severance/);
      assert.deepEqual((await bot.core.engine.suggestions({ platform: 'slack', tenantId: 'T2' })).map((t) => t.title), ['Severance', ...FALLBACK.slice(0, 3)]);
      assert.deepEqual((await suggestedTopics(new SqliteHistoryStore(bot.core.db), bot.core.db, { platform: 'teams', tenantId: 'T1' })).map((t) => t.title), FALLBACK, 'nor another platform');
      assert.deepEqual((await suggestedTopics(new SqliteHistoryStore(bot.core.db), bot.core.db, { platform: 'slack', tenantId: 'T1' }, { minAskers: 1, limit: 2 })).map((t) => t.title), ['Carry over', 'Half days']);
    } finally {
      bot.close();
    }
  });

  it("fall back to the handbook's documents with no history, and survive a row that does not parse", async () => {
    const bot = startTempBot();
    try {
      assert.deepEqual((await suggestedTopics(new SqliteHistoryStore(bot.core.db), bot.core.db, { platform: 'slack', tenantId: 'T1' })).map((t) => t.title), FALLBACK);
      bot.core.db.prepare("UPDATE messages SET sources = 'not json'").run();
      const history = new SqliteHistoryStore(bot.core.db);
      ask(history, 'T1', 'U1', 'q', [section('Carry over')]);
      bot.core.db.prepare("UPDATE messages SET sources = '{not json' WHERE role = 'assistant'").run();
      assert.deepEqual((await suggestedTopics(new SqliteHistoryStore(bot.core.db), bot.core.db, { platform: 'slack', tenantId: 'T1' }, { minAskers: 1 })).map((t) => t.title), FALLBACK);
    } finally {
      bot.close();
    }
  });
});

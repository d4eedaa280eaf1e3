// RETENTION_DAYS: what is older goes, in short batches, with injected clocks; 0 keeps only today's quota.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AnswerCache } from '../src/cache/answer-cache.ts';
import { loadConfig } from '../src/config.ts';
import { createCore } from '../src/core.ts';
import { createLogger } from '../src/log/logger.ts';
import type { Db } from '../src/store/database.ts';
import { openDatabase } from '../src/store/database.ts';
import { HISTORY_SQL, SqliteHistoryStore } from '../src/store/history-store.ts';
import { Retention } from '../src/store/retention.ts';
import { SqliteUsageStore, utcDay } from '../src/store/usage-store.ts';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import { ask, dm, startTempBot, tempDir } from './support/temp-bot.ts';

const DAY_MS = 24 * 60 * 60_000;
const NOW = Date.parse('2031-06-15T12:00:00.000Z');

function withDb(body: (db: Db) => Promise<void> | void): Promise<void> {
  const dir = tempDir();
  const db = openDatabase(join(dir.path, 'retention.db'));
  return Promise.resolve()
    .then(() => body(db))
    .finally(() => {
      db.close();
      dir.remove();
    });
}

/** One stored question and answer (with a rating) in its own conversation, at `at`. */
function exchange(db: Db, name: string, at: number): void {
  const stored = new SqliteHistoryStore(db).appendExchangeNow(
    {
      conversationKey: `conv-${name}`,
      ownerKey: `console:local:${name}`,
      command: 'ask',
      question: `question of ${name}`,
      answer: { text: `answer for ${name}`, kind: 'excerpts', sources: [] },
    },
    at,
  );
  assert.ok(stored);
  db.prepare(HISTORY_SQL.recordFeedback).run(stored.answerId, `console:local:${name}`, 'up', at);
}

function count(db: Db, sql: string): number {
  return db.prepare(sql).pluck().get() as number;
}

void describe('retention', () => {
  void it('deletes exactly what is older than RETENTION_DAYS, and keeps the rest', () =>
    withDb(async (db) => {
      const cutoff = NOW - 90 * DAY_MS;
      exchange(db, 'old', cutoff - 1);
      exchange(db, 'edge', cutoff);
      exchange(db, 'new', NOW - 1000);
      const usage = new SqliteUsageStore(db, { perMinute: 100, dailyQuestions: 100 });
      for (const at of [cutoff - DAY_MS, cutoff, NOW]) usage.admitNow('console:local:u', 'console:local', { question: true }, at);
      const cache = new AnswerCache(db, { maxEntries: 10, maxBytes: 100_000, maxRows: 10 });
      await cache.set('old-key', { text: 'old answer', sources: [] }, 'console:local:old', cutoff - 1);
      await cache.set('edge-key', { text: 'edge answer', sources: [] }, 'console:local:edge', cutoff);

      const report = await new Retention(db, { days: 90, now: () => NOW }).sweep();

      assert.deepEqual(db.prepare('SELECT DISTINCT owner_key FROM messages ORDER BY owner_key').pluck().all(), ['console:local:edge', 'console:local:new']);
      assert.equal(count(db, 'SELECT COUNT(*) FROM feedback'), 2);
      assert.equal(count(db, 'SELECT COUNT(DISTINCT conversation_key) FROM messages'), 2, 'the two conversations with a message kept');
      assert.deepEqual(db.prepare('SELECT day FROM usage_daily ORDER BY day').pluck().all(), [utcDay(cutoff), utcDay(NOW)]);
      assert.deepEqual(db.prepare('SELECT cache_key FROM answer_cache').pluck().all(), ['edge-key']);
      assert.equal(count(db, 'SELECT COUNT(*) FROM rate_windows'), 1, 'the current rate window stays (ended ones go, see below)');
      assert.deepEqual(
        { messages: report.messages, feedback: report.feedback, usageDays: report.usageDays, cachedAnswers: report.cachedAnswers },
        { messages: 2, feedback: 1, usageDays: 1, cachedAnswers: 1 },
      );
    }));

  void it('deletes in transactions of at most batchRows rows and lets the event loop run between them', () =>
    withDb(async (db) => {
      for (let i = 0; i < 10; i++) exchange(db, `u${i}`, NOW - 40 * DAY_MS);
      exchange(db, 'recent', NOW);
      const messages = () => count(db, 'SELECT COUNT(*) FROM messages');
      assert.equal(messages(), 22);

      const seen: number[] = [];
      let observing = true;
      const observe = () => {
        if (!observing) return;
        seen.push(messages());
        setImmediate(observe);
      };
      setImmediate(observe);
      const report = await new Retention(db, { days: 30, batchRows: 3, now: () => NOW }).sweep();
      observing = false;

      assert.equal(report.messages, 20);
      assert.equal(messages(), 2);
      // Others got the event loop after the first batch of 3 (feedback went with its answers before).
      assert.ok(seen.includes(19), `observed counts ${seen.join(',')}`);
      assert.ok(seen.every((n) => n === 22 || (22 - n) % 3 === 0 || n === 2), `observed counts ${seen.join(',')}`);
      assert.ok(report.batches >= 7, 'messages alone took seven batches');
    }));

  void it('sweeps once at start and stops with the core', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'hrbot.db');
      const db = openDatabase(path);
      exchange(db, 'ancient', Date.now() - 31 * DAY_MS);
      exchange(db, 'recent', Date.now() - DAY_MS);
      db.close();
      const config = loadConfig({ DATABASE_PATH: path, KNOWLEDGE_DIR: new URL('../knowledge/', import.meta.url).pathname, RETENTION_DAYS: '30' });
      const core = createCore(config, createLogger({ level: 'silent' }));
      try {
        assert.deepEqual(core.db.prepare('SELECT DISTINCT owner_key FROM messages').pluck().all(), ['console:local:recent']);
      } finally {
        core.close();
      }
    } finally {
      dir.remove();
    }
  });

  void it('with RETENTION_DAYS=0 stores nothing once the answer is sent except what quotas need today', async () => {
    const fake = await startFakeBedrock();
    const bot = startTempBot({
      RETENTION_DAYS: '0',
      ...bedrockEnv(fake.url),
    });
    try {
      const reply = await ask(bot.core, dm('How many vacation days do I get?', 'pat'));
      assert.equal(reply.kind, 'answer');
      assert.equal(reply.answerId, undefined, 'no feedback buttons: there is no stored answer to rate');
      const lookup = await ask(bot.core, dm('/hr policy expenses', 'pat'));
      assert.equal(lookup.answerId, undefined);
      const db = bot.core.db;
      for (const table of ['messages', 'feedback', 'answer_cache']) assert.equal(count(db, `SELECT COUNT(*) FROM ${table}`), 0, table);
      assert.equal(count(db, "SELECT questions FROM usage_daily WHERE owner_key = 'console:local:pat'"), 1, "today's quota count is kept");
      assert.ok(count(db, "SELECT input_tokens FROM usage_daily WHERE owner_key = 'console:local:pat'") > 0);
      const history = await ask(bot.core, dm('/hr history', 'pat'));
      assert.match(history.text, /I don't keep your questions/);

      // Tomorrow, today's count is no longer needed either.
      await new Retention(db, { days: 0, now: () => Date.now() + DAY_MS }).sweep();
      assert.equal(count(db, 'SELECT COUNT(*) FROM usage_daily'), 0);
      assert.equal(count(db, 'SELECT COUNT(*) FROM rate_windows'), 0);
    } finally {
      bot.close();
      await fake.close();
    }
  });

  void it('refuses a negative or fractional RETENTION_DAYS and reads an empty one as the default', () => {
    assert.equal(loadConfig({}).env.RETENTION_DAYS, 90);
    assert.equal(loadConfig({ RETENTION_DAYS: '' }).env.RETENTION_DAYS, 90);
    assert.equal(loadConfig({ RETENTION_DAYS: '0' }).env.RETENTION_DAYS, 0);
    assert.throws(() => loadConfig({ RETENTION_DAYS: '-1' }), /RETENTION_DAYS/);
    assert.throws(() => loadConfig({ RETENTION_DAYS: '1.5' }), /RETENTION_DAYS/);
  });
});

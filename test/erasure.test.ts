// Erasure against what runs beside it: answers in flight (issue 8, defect 2) and readers holding the
// database (defect 3), through the engine as the adapters call it, with the real fake Bedrock.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Reply } from '../src/message.ts';
import { openDatabase } from '../src/store/database.ts';
import { SqliteEventLedger } from '../src/store/event-ledger.ts';
import { JournalPurge } from '../src/store/journal-purge.ts';
import { SqliteUsageStore } from '../src/store/usage-store.ts';
import { openPostgresStores } from '../src/store/postgres/pg-stores.ts';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock } from './fakes/fake-bedrock.ts';
import { createTestDatabase } from './support/postgres.ts';
import type { TempBot } from './support/temp-bot.ts';
import { databaseAt } from './support/older-database.ts';
import { ask, dm, startTempBot, tempDir } from './support/temp-bot.ts';

const MODEL_ID = 'anthropic.claude-3-haiku-20240307-v1:0';
const OWNER = 'console:local:pat';
/** Every table that holds a user's data, with the column naming its owner. */
const OWNED_TABLES: ReadonlyArray<[string, string]> = [
  ['messages', 'owner_key'],
  ['feedback', 'owner_key'],
  ['usage_daily', 'owner_key'],
  ['rate_windows', 'owner_key'],
  ['answer_cache', 'origin_owner_key'],
];

function rowsOf(bot: TempBot, owner: string): Record<string, number> {
  return Object.fromEntries(
    OWNED_TABLES.map(([table, column]) => [table, bot.core.db.prepare(`SELECT COUNT(*) FROM ${table} WHERE ${column} = ?`).pluck().get(owner) as number]),
  );
}

const NONE = Object.fromEntries(OWNED_TABLES.map(([table]) => [table, 0]));

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function withAiBot(body: (fake: FakeBedrock, bot: TempBot) => Promise<void>): Promise<void> {
  const fake = await startFakeBedrock();
  const bot = startTempBot({
    ...bedrockEnv(fake.url, MODEL_ID),
  });
  try {
    await body(fake, bot);
  } finally {
    bot.close();
    await fake.close();
  }
}

void describe('erasure against an answer in flight', () => {
  const ways: ReadonlyArray<[string, (bot: TempBot) => Promise<Reply>]> = [
    ['`/hr forget` typed in another channel', (bot) => ask(bot.core, dm('/hr forget', 'pat', { conversationId: 'C-other', conversationKind: 'channel' }))],
    [
      'the erase button (outside the conversation lane)',
      (bot) => bot.core.engine.act({ platform: 'console', tenantId: 'local', userId: 'pat', eventId: `erase-${Date.now()}`, action: { type: 'forget' } }),
    ],
  ];
  for (const [how, forget] of ways) {
    void it(`writes nothing of the user once ${how} confirmed the erase`, async () => {
      await withAiBot(async (fake, bot) => {
        // Something stored before, so a follow-up would have context to bring back.
        await ask(bot.core, dm('What is the parental leave policy?', 'pat'));
        fake.setLatency(2_000);
        const inFlight = ask(bot.core, dm('How many vacation days do I get?', 'pat'));
        const calls = fake.calls.length;
        await until('the slow Bedrock call', () => fake.calls.length > calls);

        const erased = await forget(bot);
        assert.equal(erased.kind, 'notice');
        assert.match(erased.text, /^Done\. I have erased everything stored about you/);

        const late = await inFlight;
        assert.deepEqual(rowsOf(bot, OWNER), NONE, 'nothing written back after the erase');
        assert.equal(late.kind, 'notice', 'the answer that lost to the erase is replaced by a notice');
        assert.match(late.text, /erased your data while I was working on this message/);
        assert.equal(late.answerId, undefined, 'no feedback buttons on an answer that was not stored');

        // Nor does conversation memory bring the turns back: a follow-up goes to the model alone.
        fake.setLatency(0);
        await ask(bot.core, dm('And what about sick days?', 'pat'));
        const messages = fake.calls.at(-1)?.body.messages as unknown[];
        assert.equal(messages.length, 1, 'no earlier turn in the prompt');
      });
    });
  }

  void it('drops a message that was waiting in its conversation when the user erased, and counts nothing for it', async () => {
    await withAiBot(async (fake, bot) => {
      fake.setLatency(1_500);
      const first = ask(bot.core, dm('How many vacation days do I get?', 'pat'));
      const queued = ask(bot.core, dm('How do I submit expenses?', 'pat'));
      await until('the slow Bedrock call', () => fake.calls.length > 0);
      const erased = await ask(bot.core, dm('/hr forget', 'pat', { conversationId: 'C-other', conversationKind: 'channel' }));
      assert.equal(erased.kind, 'notice');
      const replies = await Promise.all([first, queued]);
      assert.deepEqual(rowsOf(bot, OWNER), NONE, 'nothing written back after the erase');
      assert.deepEqual(
        replies.map((r) => r.kind),
        ['notice', 'notice'],
      );
      assert.equal(fake.calls.length, 1, 'the waiting message spent no Bedrock call');
      // A message after the erase is stored as usual.
      const after = await ask(bot.core, dm('/hr policy expenses', 'pat'));
      assert.ok(after.answerId);
      assert.equal(rowsOf(bot, OWNER).messages, 2);
    });
  });
});

void describe('erasure with a concurrent reader', () => {
  void it('does not stall the event loop, tells the truth, and wipes the journal once the reader is gone', async (t) => {
    const bot = startTempBot();
    const reader = new Database(bot.databasePath);
    try {
      const marker = 'OCELOT-MARMOT-5521';
      await ask(bot.core, dm(`${marker} my manager and I disagree about parental leave`, 'pat'));
      // A second connection (another worker, a backup) holding a read transaction on an older snapshot.
      reader.exec('BEGIN');
      reader.prepare('SELECT COUNT(*) FROM messages').pluck().get();

      let last = performance.now();
      let longestGapMs = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        longestGapMs = Math.max(longestGapMs, now - last);
        last = now;
      }, 5);
      let erased: Reply;
      try {
        erased = await ask(bot.core, dm('/hr forget', 'pat'));
      } finally {
        clearInterval(ticker);
      }
      // Before the fix: ~10,000 ms (the busy timeout of the checkpoint). 1 s leaves room for a loaded machine.
      t.diagnostic(`longest event-loop gap during /hr forget: ${Math.round(longestGapMs)} ms`);
      assert.ok(longestGapMs < 1_000, `event loop blocked ${Math.round(longestGapMs)} ms`);
      assert.equal(erased.kind, 'notice');
      assert.doesNotMatch(erased.text, /I have erased everything/, 'not "erased" while copies remain');
      assert.match(erased.text, /I have deleted everything stored about you: 2 messages/);
      assert.match(erased.text, /still in the database's journal file/);
      assert.deepEqual(rowsOf(bot, OWNER), NONE, 'the rows themselves are gone at once');
      const files = [bot.databasePath, `${bot.databasePath}-wal`];
      const holding = () => files.filter((file) => existsSync(file) && readFileSync(file).includes(marker));
      assert.notDeepEqual(holding(), [], 'the reply was right: a copy is still there while the reader holds it');

      reader.exec('COMMIT');
      const released = performance.now();
      // Retries back off to at most 2 s; 5 s is the bound for the journal to be wiped.
      await until('the marker to leave the database files', () => holding().length === 0, 5_000);
      t.diagnostic(`journal wiped ${Math.round(performance.now() - released)} ms after the reader ended`);
    } finally {
      if (reader.open) reader.close();
      bot.close();
    }
  });

  void it('on PostgreSQL, says erased without waiting on the local file, which holds no user data', async () => {
    const database = await createTestDatabase();
    const bot = startTempBot({}, { shared: await openPostgresStores(database.url, { limits: { perMinute: 30, dailyQuestions: 100 } }) });
    const reader = new Database(bot.databasePath);
    try {
      const marker = 'PANGOLIN-HERON-8802';
      await ask(bot.core, dm(`${marker} how many vacation days do I get?`, 'pat'));
      // A reader on the local file would hold up its journal purge, were the engine to run one.
      reader.exec('BEGIN');
      reader.prepare('SELECT COUNT(*) FROM meta').pluck().get();
      const erased = await ask(bot.core, dm('/hr forget', 'pat'));
      assert.match(erased.text, /I have erased everything/);
      assert.doesNotMatch(erased.text, /journal/);
      const files = [bot.databasePath, `${bot.databasePath}-wal`];
      assert.deepEqual(
        files.filter((file) => existsSync(file) && readFileSync(file).includes(marker)),
        [],
        'the question never reached the local file',
      );
    } finally {
      reader.close();
      bot.close();
      await database.drop();
    }
  });

  void it('bounds its retries in time, and a later request tries again', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'purge.db');
    const db = openDatabase(path);
    const reader = new Database(path);
    const purge = new JournalPurge(db, { firstRetryMs: 5, maxRetryMs: 20, giveUpAfterMs: 150 });
    // The purge's timers are unref'd (they never hold a process open); here nothing else would hold it.
    const keepAlive = setTimeout(() => undefined, 10_000);
    try {
      db.prepare("INSERT INTO meta (key, value) VALUES ('probe', 'x')").run();
      reader.exec('BEGIN');
      reader.prepare('SELECT COUNT(*) FROM meta').pluck().get();
      db.prepare("DELETE FROM meta WHERE key = 'probe'").run();
      const started = performance.now();
      assert.equal(await purge.purge(), false, 'gave up while the reader held the log');
      const tookMs = performance.now() - started;
      // Timers may fire a millisecond early against performance.now(); the bound is what matters.
      assert.ok(tookMs >= 140 && tookMs < 2_000, `gave up after ${Math.round(tookMs)} ms`);
      assert.equal(purge.pending, true);
      reader.exec('COMMIT');
      assert.equal(await purge.purge(), true);
      assert.equal(purge.pending, false);
    } finally {
      clearTimeout(keepAlive);
      purge.close();
      reader.close();
      db.close();
      dir.remove();
    }
  });

  void it('says "erased" when no reader is in the way', async () => {
    const bot = startTempBot();
    try {
      await ask(bot.core, dm('how do I submit expenses?', 'pat'));
      const erased = await ask(bot.core, dm('/hr forget', 'pat'));
      assert.match(erased.text, /^Done\. I have erased everything stored about you: 2 messages/);
      assert.doesNotMatch(erased.text, /journal/);
    } finally {
      bot.close();
    }
  });
});

void describe('what an erase leaves behind', () => {
  void it('keeps processed event ids only as keyed hashes, and still drops redeliveries', async () => {
    const bot = startTempBot();
    try {
      const eventId = '19:3f2a9b7c@thread.tacv2;messageid=1712345678901';
      const message = dm('how do I submit expenses?', 'pat', { eventId, conversationId: '19:3f2a9b7c@thread.tacv2' });
      await ask(bot.core, message);
      assert.equal(await bot.core.engine.handle({ ...message }), null, 'a redelivery is still recognized');
      await ask(bot.core, dm('/hr forget', 'pat'));
      const keys = bot.core.db.prepare('SELECT event_key FROM processed_events').pluck().all() as string[];
      assert.ok(keys.length >= 2);
      for (const key of keys) assert.doesNotMatch(key, /3f2a9b7c|1712345678901|evt-|console/, 'no raw platform id');
      for (const file of [bot.databasePath, `${bot.databasePath}-wal`].filter((f) => existsSync(f))) {
        assert.equal(readFileSync(file).includes('3f2a9b7c'), false, `${file} holds the raw chat id`);
      }
    } finally {
      bot.close();
    }
  });

  void it('migrates raw event keys of an older database to keyed hashes', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'old.db');
      // A database as the releases before migration 4 left it, with a raw id in the ledger.
      const db = databaseAt(path, 3);
      db.prepare("INSERT INTO processed_events (event_key, state, claimed_at, finished_at) VALUES ('teams:19:abc@thread.v2;messageid=42', 'done', 1, 2)").run();
      db.close();

      const migrated = openDatabase(path);
      try {
        const keys = migrated.prepare('SELECT event_key FROM processed_events').pluck().all() as string[];
        assert.equal(keys.length, 1);
        assert.doesNotMatch(keys[0] ?? '', /abc|teams/);
        assert.equal(new SqliteEventLedger(migrated).claimNow('teams:19:abc@thread.v2;messageid=42', 3), 'done', 'the old event is still recognized');
      } finally {
        migrated.close();
      }
    } finally {
      dir.remove();
    }
  });

  void it('prunes ended rate-limit windows while admitting', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir.path, 'r.db'));
    try {
      const usage = new SqliteUsageStore(db, { perMinute: 10, dailyQuestions: 10 });
      const start = Date.parse('2031-05-01T10:00:00Z');
      for (let i = 0; i < 499; i++) usage.admitNow(`console:local:u${i}`, 'console:local', { question: false }, start);
      assert.equal(db.prepare('SELECT COUNT(*) FROM rate_windows').pluck().get(), 499);
      usage.admitNow('console:local:late', 'console:local', { question: false }, start + 60_000);
      assert.deepEqual(db.prepare('SELECT owner_key FROM rate_windows').pluck().all(), ['console:local:late']);
    } finally {
      db.close();
      dir.remove();
    }
  });
});

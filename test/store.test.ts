import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { flushWrites, groupWrite, MAX_GROUP_WRITES, openDatabase, PAGE_SIZE } from '../src/store/database.ts';
import { SqliteHistoryStore } from '../src/store/history-store.ts';
import { databaseAt } from './support/older-database.ts';
import { ask, dm, startTempBot, tempDir } from './support/temp-bot.ts';

const run = promisify(execFile);

describe('store', () => {
  it('gives zero "database is locked" errors with several processes writing one file at once', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'shared.db');
      openDatabase(path).close();
      const workers = 4;
      const perWorker = 150;
      const results = await Promise.all(
        Array.from({ length: workers }, (_, w) =>
          run(process.execPath, ['--import', 'tsx', 'test/support/store-writer.ts', path, String(perWorker), String(w)], {
            timeout: 120_000,
          }),
        ),
      );
      const outcomes = results.map((r) => JSON.parse(r.stdout) as { written: number; errors: Record<string, number> });
      assert.deepEqual(
        outcomes.map((o) => o.errors),
        Array.from({ length: workers }, () => ({})),
      );
      const db = openDatabase(path);
      try {
        const total = workers * perWorker;
        assert.equal(db.prepare('SELECT questions FROM usage_daily').pluck().get(), total, 'every quota count kept');
        const seqs = db.prepare('SELECT seq FROM messages ORDER BY seq').pluck().all();
        assert.deepEqual(seqs, Array.from({ length: total * 2 }, (_, i) => i + 1), 'one gap-free sequence across processes');
      } finally {
        db.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('applies migrations once and opens in WAL mode with a busy timeout and foreign keys', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'm.db');
      openDatabase(path).close();
      const db = openDatabase(path);
      try {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
        assert.ok((db.pragma('busy_timeout', { simple: true }) as number) >= 1000);
        assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
        assert.equal(db.pragma('secure_delete', { simple: true }), 1);
        assert.equal(db.pragma('temp_store', { simple: true }), 2, 'temporary files in memory');
        assert.equal(db.pragma('page_size', { simple: true }), PAGE_SIZE, 'a new file has small pages');
        const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[];
        assert.deepEqual(versions, [...new Set(versions)]);
        assert.ok(versions.length >= 2);
      } finally {
        db.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('moves the history of an older database to one index by owner, conversation and place, losing nothing', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'h.db');
      // As migration 13 left it: conversations rows, messages referring to them, feedback to the messages.
      const old = databaseAt(path, 13);
      old.exec(`
        INSERT INTO conversations (conversation_key, owner_key, platform, kind, next_seq, created_at, updated_at) VALUES
          ('c1', 'slack:T1:UA', 'slack', 'dm', 5, 100, 300), ('c2', 'slack:T1:UB', 'slack', 'dm', 3, 200, 200);
        INSERT INTO messages (conversation_key, owner_key, seq, role, text, answer_id, created_at) VALUES
          ('c1', 'slack:T1:UA', 1, 'user', 'q1', NULL, 100), ('c1', 'slack:T1:UA', 2, 'assistant', 'a1', 'ans1', 100),
          ('c1', 'slack:T1:UA', 3, 'user', 'q2', NULL, 300), ('c1', 'slack:T1:UA', 4, 'assistant', 'a2', 'ans2', 300),
          ('c2', 'slack:T1:UB', 1, 'user', 'q3', NULL, 200), ('c2', 'slack:T1:UB', 2, 'assistant', 'a3', 'ans3', 200);
        INSERT INTO feedback (answer_id, owner_key, rating, created_at) VALUES ('ans2', 'slack:T1:UA', 'down', 400);
      `);
      old.close();

      const db = openDatabase(path);
      try {
        assert.equal(db.pragma('page_size', { simple: true }), 4096, 'a file made before keeps the page size it was made with');
        assert.notEqual(PAGE_SIZE, 4096);
        assert.deepEqual(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'conversations'").all(), [], 'the conversations table went');
        assert.equal(db.prepare('SELECT COUNT(*) FROM messages').pluck().get(), 6);
        assert.deepEqual(db.prepare('SELECT answer_id, rating FROM feedback').all(), [{ answer_id: 'ans2', rating: 'down' }], 'feedback kept, not taken along');
        assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys on again');
        const plan = db.prepare("EXPLAIN QUERY PLAN SELECT MAX(seq) FROM messages WHERE owner_key = 'x' AND conversation_key = 'y'").all() as Array<{ detail: string }>;
        assert.match(plan.map((step) => step.detail).join('; '), /USING COVERING INDEX/, 'a conversation read from the index alone');
        const history = new SqliteHistoryStore(db);
        assert.equal(await history.head('c1', 'slack:T1:UA'), '100/5', 'where the conversation stood');
        const next = history.appendExchangeNow({ conversationKey: 'c1', ownerKey: 'slack:T1:UA', command: 'ask', question: 'q4', answer: { text: 'a4', kind: 'excerpts', sources: [] } }, 500);
        assert.deepEqual({ seq: next!.seq, before: next!.heads.before, after: next!.heads.after }, { seq: 5, before: '100/5', after: '100/7' });
        assert.deepEqual((await history.recentTurns('c1', 'slack:T1:UA', 3)).map((turn) => turn.text), ['a2', 'q4', 'a4']);
        // An answer deleted takes its feedback along, as before.
        db.prepare("DELETE FROM messages WHERE answer_id = 'ans2'").run();
        assert.equal(db.prepare('SELECT COUNT(*) FROM feedback').pluck().get(), 0);
      } finally {
        db.close();
      }
    } finally {
      dir.remove();
    }
  });
});

/** Files this process holds open that were deleted: SQLite's temporary files are unlinked once opened. */
function deletedOpenFiles(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.endsWith(' (deleted)') ? [target] : [];
    } catch {
      return []; // closed since the listing
    }
  });
}

describe('store: a group commit', { skip: !existsSync('/proc/self/fd') && 'needs /proc (Linux)' }, () => {
  it('journals its savepoints in memory: no temporary file holding users\' text outside DATABASE_PATH', async () => {
    const dir = tempDir();
    const db = openDatabase(join(dir.path, 'g.db'));
    try {
      db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
      const before = deletedOpenFiles();
      let during: string[] = [];
      // Each write of a group is a savepoint that journals the pages it changes: 40 writes rewriting
      // the same 200 KB of rows go well past the 64 KB SQLite keeps in memory by default.
      db.prepare('INSERT INTO notes (text) VALUES (?)').run('x'.repeat(200_000));
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          groupWrite(db, () => {
            db.prepare('UPDATE notes SET text = ?').run(String(i % 10).repeat(200_000));
            if (i === 39) during = deletedOpenFiles();
          }),
        ),
      );
      assert.equal(db.prepare('SELECT substr(text, 1, 1) FROM notes').pluck().get(), '9');
      assert.deepEqual(during.filter((file) => !before.includes(file)), []);
    } finally {
      db.close();
      dir.remove();
    }
  });
});

describe('store: commits spaced while writes come from several callers', () => {
  it('a lone writer never waits; after a commit of several callers, the next writes join one commit', async () => {
    const dir = tempDir();
    // A spacing far longer than the writes below take to issue: nothing depends on how fast the machine is.
    const db = openDatabase(join(dir.path, 's.db'), { commitSpacingMs: 1_000 });
    const reader = openDatabase(join(dir.path, 's.db'));
    try {
      db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
      const insert = db.prepare('INSERT INTO notes (text) VALUES (?)');
      const seen = reader.prepare('SELECT count(*) FROM notes WHERE text = ?').pluck();
      // One caller, one write at a time: each is committed at the next turn, never held for the spacing.
      const started = Date.now();
      for (let i = 0; i < 20; i++) await groupWrite(db, () => insert.run(`alone ${i}`));
      assert.ok(Date.now() - started < 1_000, 'no write waited for the spacing');
      assert.equal(reader.prepare('SELECT count(*) FROM notes').pluck().get(), 20);

      // Two callers at once: a commit of two writes. The writes that follow in later turns are held
      // together: the second's work runs while the first's row is not yet visible to another connection.
      await Promise.all([groupWrite(db, () => insert.run('a')), groupWrite(db, () => insert.run('b'))]);
      const first = groupWrite(db, () => insert.run('first later'));
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      const second = groupWrite(db, () => seen.get('first later'));
      assert.equal(await second, 0, 'both writes in one commit');
      await first;
      assert.equal(seen.get('first later'), 1);

      // A held group that reaches MAX_GROUP_WRITES is committed at once, without waiting out the spacing.
      await Promise.all([groupWrite(db, () => insert.run('c')), groupWrite(db, () => insert.run('d'))]);
      const heldAt = Date.now();
      await Promise.all(Array.from({ length: MAX_GROUP_WRITES }, (_, i) => groupWrite(db, () => insert.run(`full ${i}`))));
      assert.ok(Date.now() - heldAt < 1_000, 'a full group did not wait for the spacing');
      assert.equal(seen.get(`full ${MAX_GROUP_WRITES - 1}`), 1);

      // Closing: a held write is committed at once, not left to a timer that would find the store closed.
      await Promise.all([groupWrite(db, () => insert.run('e')), groupWrite(db, () => insert.run('f'))]);
      const last = groupWrite(db, () => insert.run('last'));
      flushWrites(db);
      assert.equal(seen.get('last'), 1, 'in the file before the close');
      await last;
    } finally {
      reader.close();
      db.close();
      dir.remove();
    }
  });
});

describe('/hr forget', () => {
  it('erases every row of the user in one go, says what went, and leaves no trace of the text in the files', async () => {
    const bot = startTempBot();
    try {
      const secret = 'ZEBRA-QUOKKA-7731 my manager and I disagree about parental leave';
      const reply = await ask(bot.core, dm(secret, 'pat'));
      await bot.core.engine.act({
        platform: 'console',
        tenantId: 'local',
        userId: 'pat',
        eventId: 'fb-1',
        action: { type: 'feedback', answerId: reply.answerId ?? '', rating: 'down' },
      });
      await ask(bot.core, dm('/hr policy remote work', 'pat'));
      await ask(bot.core, dm('unrelated question about dental', 'quinn'));

      const erased = await ask(bot.core, dm('/hr forget', 'pat'));
      assert.equal(erased.kind, 'notice');
      assert.equal(erased.visibility, 'private');
      assert.match(erased.text, /4 messages in 1 conversation, 1 feedback rating, 1 day of usage records/);

      const count = (sql: string) => bot.core.db.prepare(sql).pluck().get('console:local:pat');
      for (const table of ['messages', 'feedback', 'usage_daily', 'rate_windows']) {
        assert.equal(count(`SELECT COUNT(*) FROM ${table} WHERE owner_key = ?`), 0, table);
      }
      assert.equal(bot.core.db.prepare("SELECT COUNT(*) FROM messages WHERE owner_key = 'console:local:quinn'").pluck().get(), 2);

      const files = [bot.databasePath, `${bot.databasePath}-wal`].filter((f) => existsSync(f));
      for (const file of files) {
        assert.equal(readFileSync(file).includes('ZEBRA-QUOKKA-7731'), false, `${file} still holds the erased text`);
      }
      const history = await ask(bot.core, dm('/hr history', 'pat'));
      assert.match(history.text, /haven't asked me anything/);
    } finally {
      bot.close();
    }
  });

  it('erases all or nothing when a step fails', async () => {
    const failing = () => {
      throw new Error('cache table unavailable');
    };
    const bot = startTempBot({}, { erasureSteps: [failing] });
    try {
      await ask(bot.core, dm('how do I submit expenses?', 'rita'));
      const reply = await ask(bot.core, dm('/hr forget', 'rita'));
      assert.equal(reply.kind, 'error');
      assert.equal(bot.core.db.prepare("SELECT COUNT(*) FROM messages WHERE owner_key = 'console:local:rita'").pluck().get(), 2);
      assert.equal(bot.core.db.prepare("SELECT COUNT(*) FROM usage_daily WHERE owner_key = 'console:local:rita'").pluck().get(), 1);
    } finally {
      bot.close();
    }
  });
});

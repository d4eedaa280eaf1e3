import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../src/log/logger.ts';
import { CheckpointThread } from '../src/store/checkpoint-thread.ts';
import { openDatabase } from '../src/store/database.ts';
import { tempDir } from './support/temp-bot.ts';

const quiet = createLogger({ level: 'silent' });

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('store: checkpoints off the event loop', () => {
  it('copies the log back into the database from its own thread, while commits on the main thread never checkpoint', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'hrbot.db');
    const db = openDatabase(path);
    const thread = CheckpointThread.start(db, path, quiet, 20);
    try {
      assert.ok(thread !== undefined);
      await until(() => db.pragma('wal_autocheckpoint', { simple: true }) === 0);
      db.exec('CREATE TABLE filler (text TEXT)');
      const before = statSync(path).size;
      const insert = db.prepare('INSERT INTO filler VALUES (?)');
      // About 2,000 pages of log: past SQLite's own 1,000-page checkpoint, which is switched off here.
      for (let i = 0; i < 200; i++) db.transaction(() => { for (let j = 0; j < 10; j++) insert.run('x'.repeat(3_000)); })();
      await until(() => statSync(path).size > before + 5_000_000);
      thread.stop();
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'stopped: SQLite checkpoints during commits again');
    } finally {
      thread?.stop();
      db.close();
      dir.remove();
    }
  });

  it('has nothing to do for an in-memory database', () => {
    const db = openDatabase(':memory:');
    assert.equal(CheckpointThread.start(db, ':memory:', quiet), undefined);
    db.close();
  });
});

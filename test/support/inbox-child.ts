// A child process for the inbox crash test: works items of a shared inbox, recording each reply in
// the same transaction that marks its item done, slowly enough to be killed half way.
import { createLogger } from '../../src/log/logger.ts';
import { SqliteInboxStore } from '../../src/inbox/inbox-store.ts';
import { InboxWorker } from '../../src/inbox/inbox-worker.ts';
import { openDatabase } from '../../src/store/database.ts';

const [path, delayText, leaseText] = process.argv.slice(2);
if (path === undefined || delayText === undefined || leaseText === undefined) throw new Error('usage: inbox-child <db> <delay ms> <lease ms>');
const db = openDatabase(path);
db.exec('CREATE TABLE IF NOT EXISTS test_replies (id INTEGER PRIMARY KEY, event_key TEXT NOT NULL, lane_key TEXT NOT NULL, ord REAL NOT NULL, by TEXT NOT NULL)');
const record = db.prepare('INSERT INTO test_replies (event_key, lane_key, ord, by) VALUES (?, ?, ?, ?)');
const store = new SqliteInboxStore(db);
const worker = new InboxWorker(store, createLogger({ level: 'silent' }), { concurrency: 8, leaseMs: Number(leaseText), pollMs: 20 });
worker.handle('test', async (item) => {
  await new Promise((resolve) => setTimeout(resolve, Number(delayText)));
  // The reply is recorded in the transaction that marks the item done: a kill cannot split them.
  store.completeWith(item.id, () => record.run(item.payload, item.laneKey, item.order, String(process.pid)));
});
const resumed = await worker.start();
// The worker's timers do not hold the process open (a server does that); this child has nothing else.
const keepAlive = setInterval(() => undefined, 1_000);
process.stdout.write(`${JSON.stringify({ resumed })}\n`);
const stop = (): void => {
  void worker.stop(2_000).then((handedBack) => {
    process.stdout.write(`${JSON.stringify({ handedBack })}\n`);
    clearInterval(keepAlive);
    db.close();
    process.exit(0);
  });
};
process.once('SIGTERM', stop);

// A child process for the multi-process store test: appends exchanges and counts quota on a shared file.
import { openDatabase } from '../../src/store/database.ts';
import { SqliteHistoryStore } from '../../src/store/history-store.ts';
import { SqliteUsageStore } from '../../src/store/usage-store.ts';

const [path, countText, worker] = process.argv.slice(2);
if (path === undefined || countText === undefined || worker === undefined) throw new Error('usage: store-writer <db> <count> <worker>');
const db = openDatabase(path);
const history = new SqliteHistoryStore(db);
const usage = new SqliteUsageStore(db, { perMinute: 1_000_000, dailyQuestions: 1_000_000 });
const errors: Record<string, number> = {};
let written = 0;
for (let i = 0; i < Number(countText); i++) {
  try {
    usage.admitNow('console:local:shared', 'console:local', { question: true });
    history.appendExchangeNow({
      conversationKey: 'shared-conversation',
      ownerKey: 'console:local:shared',
      command: 'ask',
      question: `worker ${worker} question ${i}`,
      answer: { text: `answer ${i}`, kind: 'excerpts', sources: [] },
    });
    written += 1;
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    errors[code] = (errors[code] ?? 0) + 1;
  }
}
db.close();
process.stdout.write(JSON.stringify({ written, errors }));

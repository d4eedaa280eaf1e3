// Benchmark: several processes append history and count quota on one SQLite file at once.
// Reports counts and ratios (lock errors, writes per second, sequence gaps), never pass/fail on time.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openDatabase } from '../../src/store/database.ts';
import { tempDir } from '../support/temp-bot.ts';

const run = promisify(execFile);

/** Run the scenario and return its figures. */
export async function storeContention(options: { processes?: number; writesPerProcess?: number } = {}): Promise<Record<string, number>> {
  const processes = options.processes ?? 6;
  const writesPerProcess = options.writesPerProcess ?? 500;
  const dir = tempDir('hrbot-bench-');
  try {
    const path = join(dir.path, 'bench.db');
    openDatabase(path).close();
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: processes }, (_, w) =>
        run(process.execPath, ['--import', 'tsx', 'test/support/store-writer.ts', path, String(writesPerProcess), String(w)], {
          timeout: 300_000,
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const outcomes = results.map((r) => JSON.parse(r.stdout) as { written: number; errors: Record<string, number> });
    const errors = outcomes.reduce((sum, o) => sum + Object.values(o.errors).reduce((a, b) => a + b, 0), 0);
    const written = outcomes.reduce((sum, o) => sum + o.written, 0);
    const db = openDatabase(path);
    const { rows, maxSeq } = db.prepare('SELECT COUNT(*) AS rows, MAX(seq) AS maxSeq FROM messages').get() as { rows: number; maxSeq: number };
    db.close();
    return {
      processes,
      exchanges_attempted: processes * writesPerProcess,
      exchanges_written: written,
      lock_or_other_errors: errors,
      sequence_gaps: maxSeq - rows,
      exchanges_per_second: Math.round(written / seconds),
    };
  } finally {
    dir.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await storeContention();
  console.log(`store-contention: ${JSON.stringify(figures)}`);
}

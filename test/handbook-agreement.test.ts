// Every process sharing a store answers from the same handbook, or /readyz says it does not: on
// PostgreSQL (replicas on several machines) and on SQLite (WORKERS on one), the preferred version is
// the one most processes hold, the most recently taken up on a tie.
import assert from 'node:assert/strict';
import { appendFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import type { Core } from '../src/core.ts';
import { createCore } from '../src/core.ts';
import { createLogger } from '../src/log/logger.ts';
import { openPostgresStores } from '../src/store/postgres/pg-stores.ts';
import { preferredVersion } from '../src/store/replica-registry.ts';
import { createTestDatabase } from './support/postgres.ts';
import { KNOWLEDGE_DIR, tempDir } from './support/temp-bot.ts';

const quiet = createLogger({ level: 'silent' });

void describe('handbook version across replicas', () => {
  void it('prefers the version most processes hold, and on a tie the one taken up last', () => {
    const beat = (processId: string, handbookVersion: string, versionSince: number) => ({ processId, handbookVersion, versionSince });
    assert.equal(preferredVersion([]), undefined);
    assert.equal(preferredVersion([beat('a', 'v1', 10), beat('b', 'v1', 20), beat('c', 'v2', 99)]), 'v1', 'the majority');
    assert.equal(preferredVersion([beat('a', 'v1', 10), beat('b', 'v2', 30)]), 'v2', 'a tie: the newer');
  });

  for (const engine of ['sqlite', 'postgres'] as const) {
    void it(`takes a replica whose handbook differs out of readiness until it catches up (${engine})`, async () => {
      const dir = tempDir();
      const database = engine === 'postgres' ? await createTestDatabase() : undefined;
      const cores: Core[] = [];
      try {
        const handbooks = ['one', 'two', 'three'].map((name) => {
          const path = join(dir.path, name);
          cpSync(KNOWLEDGE_DIR, path, { recursive: true });
          return path;
        });
        // Replica two has a handbook file the others do not (a copy that drifted).
        appendFileSync(join(handbooks[1]!, 'leave.md'), '\n\n## A section only one replica has\n\nText.\n');
        const start = async (knowledge: string, processId: string) => {
          // Each its own local index (DATABASE_PATH); on SQLite they share the one file as WORKERS do.
          const local = join(dir.path, engine === 'sqlite' ? 'shared.db' : `${processId}.db`);
          const config = loadConfig({ DATABASE_PATH: local, KNOWLEDGE_DIR: knowledge });
          const shared = database === undefined ? {} : { shared: await openPostgresStores(database.url, { limits: { perMinute: 10, dailyQuestions: 10 } }) };
          const core = createCore(config, quiet, { ...shared, agreement: { processId, beatMs: 20, liveMs: 5_000 } });
          cores.push(core);
          return core;
        };
        const readiness = async (core: Core) => {
          await new Promise((resolve) => setTimeout(resolve, 120));
          return core.ready();
        };
        const one = await start(handbooks[0]!, 'replica-one');
        assert.deepEqual(await readiness(one), { ready: true }, 'alone, it agrees with itself');
        await new Promise((resolve) => setTimeout(resolve, 5));
        const two = await start(handbooks[1]!, 'replica-two');
        // One each: the version taken up last is preferred (a rolling update moves traffic to the updated one).
        assert.deepEqual(await readiness(one), { ready: false, reason: 'handbook version differs from the other replicas' });
        assert.deepEqual(await readiness(two), { ready: true });
        const three = await start(handbooks[2]!, 'replica-three');
        assert.deepEqual(await readiness(three), { ready: true }, 'two of three hold the shared version');
        assert.deepEqual(await readiness(one), { ready: true });
        assert.deepEqual(await readiness(two), { ready: false, reason: 'handbook version differs from the other replicas' }, 'the odd one out');
      } finally {
        for (const core of cores) core.close();
        await new Promise((resolve) => setTimeout(resolve, 100));
        await database?.drop();
        dir.remove();
      }
    });
  }
});

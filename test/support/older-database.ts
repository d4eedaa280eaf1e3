import Database from 'better-sqlite3';
import { migrations } from '../../src/store/migrations.ts';

/**
 * A SQLite database as a release that knew migrations up to `version` left it (the same pragmas as
 * openDatabase), for tests of what the later migrations do to a store that holds data.
 */
export function databaseAt(path: string, version: number): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  db.transaction(() => {
    for (const migration of migrations.filter((m) => m.version <= version)) {
      migration.up(db);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, 1);
    }
  })();
  return db;
}

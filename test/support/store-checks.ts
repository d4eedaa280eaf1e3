import assert from 'node:assert/strict';
import Database from 'better-sqlite3';

/** After a run: the SQLite file passes its integrity check and the inbox holds nothing unfinished. */
export function assertInboxSettled(databasePath: string): void {
  const db = new Database(databasePath, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.equal(db.prepare("SELECT count(*) FROM inbox WHERE state <> 'done'").pluck().get(), 0);
  } finally {
    db.close();
  }
}

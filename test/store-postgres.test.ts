// The PostgreSQL store's foundation, on the real server (127.0.0.1:5432): migrations numbered as
// SQLite's, applied once however many processes start together, a newer schema refused, errors that
// say what to do, and transactions that run again after a serialization failure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreError } from '../src/errors.ts';
import { migrations } from '../src/store/migrations.ts';
import { openPostgres, pgTransaction } from '../src/store/postgres/pg-database.ts';
import { PgHistoryStore } from '../src/store/postgres/pg-history-store.ts';
import { pgMigrations } from '../src/store/postgres/pg-migrations.ts';
import { createTestDatabase } from './support/postgres.ts';

void describe('PostgreSQL store: schema and transactions', () => {
  void it('numbers its migrations as SQLite does', () => {
    assert.deepEqual(
      pgMigrations.map((m) => [m.version, m.name]),
      migrations.map((m) => [m.version, m.name]),
    );
  });

  void it('migrates a new database once, however many processes start at the same time', async () => {
    const database = await createTestDatabase();
    try {
      const pools = await Promise.all(Array.from({ length: 4 }, () => openPostgres(database.url, { maxConnections: 2 })));
      try {
        const [pool] = pools;
        const applied = await pool!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(
          applied.rows.map((row) => row.version),
          pgMigrations.map((m) => m.version),
        );
        const keys = await pool!.query("SELECT value FROM meta WHERE key = 'store_hmac_key'");
        assert.equal(keys.rowCount, 1, 'one hashing key for every replica');
        // BIGINT comes back as a number, as from SQLite.
        const row = await pool!.query<{ n: number }>('SELECT 1700000000000::bigint AS n');
        assert.equal(row.rows[0]!.n, 1_700_000_000_000);
        // The inbox totals follow inserts, updates and deletes, as SQLite's triggers do.
        await pool!.query("INSERT INTO inbox (event_hash, platform, lane_key, owner_hash, ord, payload, bytes, state, received_at) VALUES ('e1', 'slack', 'l', 'o', 1, 'x', 10, 'pending', 1), ('e2', 'slack', 'l', 'o', 2, 'y', 5, 'pending', 1)");
        await pool!.query("UPDATE inbox SET state = 'working' WHERE event_hash = 'e1'");
        await pool!.query("UPDATE inbox SET state = 'done', bytes = 0 WHERE event_hash = 'e2'");
        const totals = await pool!.query('SELECT open_items, open_bytes, pending FROM inbox_totals');
        assert.deepEqual(totals.rows[0], { open_items: 1, open_bytes: 10, pending: 0 });
        await pool!.query("DELETE FROM inbox WHERE event_hash = 'e1'");
        assert.deepEqual((await pool!.query('SELECT open_items, open_bytes, pending FROM inbox_totals')).rows[0], { open_items: 0, open_bytes: 0, pending: 0 });
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
      // A second start finds nothing to do.
      const again = await openPostgres(database.url);
      await again.end();
    } finally {
      await database.drop();
    }
  });

  void it('moves the history of an older database to one index by owner, conversation and place, losing nothing', async () => {
    const database = await createTestDatabase();
    try {
      const old = await openPostgres(database.url, { migrations: pgMigrations.filter((m) => m.version <= 13) });
      await old.query(`
        INSERT INTO conversations (conversation_key, owner_key, platform, kind, next_seq, created_at, updated_at) VALUES ('c1', 'slack:T1:UA', 'slack', 'dm', 5, 100, 300);
        INSERT INTO messages (conversation_key, owner_key, seq, role, text, answer_id, created_at) VALUES
          ('c1', 'slack:T1:UA', 1, 'user', 'q1', NULL, 100), ('c1', 'slack:T1:UA', 2, 'assistant', 'a1', 'ans1', 100),
          ('c1', 'slack:T1:UA', 3, 'user', 'q2', NULL, 300), ('c1', 'slack:T1:UA', 4, 'assistant', 'a2', 'ans2', 300);
        INSERT INTO feedback (answer_id, owner_key, rating, created_at) VALUES ('ans2', 'slack:T1:UA', 'down', 400);
      `);
      await old.end();
      const pool = await openPostgres(database.url);
      try {
        assert.equal((await pool.query("SELECT to_regclass('conversations') AS t")).rows[0]!.t, null, 'the conversations table went');
        assert.equal((await pool.query('SELECT COUNT(*)::int AS n FROM messages')).rows[0]!.n, 4);
        assert.deepEqual((await pool.query('SELECT answer_id, rating FROM feedback')).rows, [{ answer_id: 'ans2', rating: 'down' }]);
        const history = new PgHistoryStore(pool);
        assert.equal(await history.head('c1', 'slack:T1:UA'), '100/5', 'where the conversation stood');
        const next = await history.appendExchange({ conversationKey: 'c1', ownerKey: 'slack:T1:UA', command: 'ask', question: 'q3', answer: { text: 'a3', kind: 'excerpts', sources: [] } }, 500);
        assert.deepEqual({ seq: next!.seq, after: next!.heads.after }, { seq: 5, after: '100/7' });
        await assert.rejects(
          pool.query("INSERT INTO messages (conversation_key, owner_key, seq, role, text, created_at) VALUES ('c1', 'slack:T1:UA', 5, 'user', 'again', 600)"),
          /messages_place/,
          'one message per place',
        );
      } finally {
        await pool.end();
      }
    } finally {
      await database.drop();
    }
  });

  void it('refuses a schema newer than this release, with what to do', async () => {
    const database = await createTestDatabase();
    try {
      const pool = await openPostgres(database.url);
      await pool.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from-the-future', 0)");
      await pool.end();
      await assert.rejects(openPostgres(database.url), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.equal(error.code, 'store_schema_newer');
        assert.match(error.message, /schema version 999, newer than this release/);
        return true;
      });
    } finally {
      await database.drop();
    }
  });

  void it('says what is wrong when the server or the database cannot be used', async () => {
    await assert.rejects(openPostgres('postgres://postgres@127.0.0.1:9/hrbot', { connectTimeoutMs: 2_000 }), (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.match(error.message, /DATABASE_URL \(127\.0\.0\.1:9\/hrbot\): nothing listens there/);
      return true;
    });
    await assert.rejects(openPostgres('postgres://postgres@127.0.0.1:5432/hrbot_no_such_database'), /the database does not exist \(3D000\): create it/);
  });

  void it('runs a transaction again after a serialization failure, and rolls back what failed', async () => {
    const database = await createTestDatabase();
    const pool = await openPostgres(database.url);
    try {
      await pool.query("INSERT INTO meta (key, value) VALUES ('n', '0')");
      // Two serializable transactions that each read then write the same row: one must fail with 40001.
      const bump = () =>
        pgTransaction(pool, async (client) => {
          await client.query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE');
          const { rows } = await client.query<{ value: string }>("SELECT value FROM meta WHERE key = 'n'");
          await new Promise((resolve) => setTimeout(resolve, 50));
          await client.query("UPDATE meta SET value = $1 WHERE key = 'n'", [String(Number(rows[0]!.value) + 1)]);
        });
      await Promise.all([bump(), bump(), bump()]);
      const { rows } = await pool.query<{ value: string }>("SELECT value FROM meta WHERE key = 'n'");
      assert.equal(rows[0]!.value, '3', 'every increment counted once, none lost to a conflict');

      await assert.rejects(
        pgTransaction(pool, async (client) => {
          await client.query("UPDATE meta SET value = 'changed' WHERE key = 'n'");
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal((await pool.query<{ value: string }>("SELECT value FROM meta WHERE key = 'n'")).rows[0]!.value, '3', 'rolled back');
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});

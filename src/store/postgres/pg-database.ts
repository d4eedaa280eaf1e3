import pg from 'pg';
import type { PoolClient } from 'pg';
import { StoreError, toError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import { pgMigrations } from './pg-migrations.ts';
import type { PgMigration } from './pg-migrations.ts';

/** The shared store on PostgreSQL: a pool of connections, migrated. */
export type PgPool = pg.Pool;
export type PgClient = PoolClient;

/** Options of {@link openPostgres}; each default is stated here. */
export interface PostgresOptions {
  /** Connections this process keeps at most. Default 10. */
  maxConnections?: number;
  /** How long a query may run before PostgreSQL cancels it, in ms. Default 10,000 (as SQLite's busy timeout). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection (from the pool, or a new one), in ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** Shown in pg_stat_activity. Default `hrbot`. */
  applicationName?: string;
  /** The migrations to apply (tests give their own). Default the project's. */
  migrations?: readonly PgMigration[];
  /** Told of connections that fail while idle in the pool. */
  log?: Logger;
}

const DEFAULTS = { maxConnections: 10, statementTimeoutMs: 10_000, connectTimeoutMs: 10_000, applicationName: 'hrbot' } as const;

/** OID of PostgreSQL's int8 (BIGINT). */
const INT8_OID = 20;
const defaultParser = pg.types.getTypeParser as (oid: number, format?: 'text') => (value: string) => unknown;
/** Type parsers: 64-bit integers (ms timestamps, counters, ids) come back as numbers, as they do from SQLite. */
const TYPES = {
  getTypeParser: (oid: number) => (oid === INT8_OID ? (value: string) => Number(value) : defaultParser(oid)),
};

/**
 * Connect to DATABASE_URL and apply pending migrations (several processes starting at once take
 * turns on an advisory lock). Rejects with a {@link StoreError} that says what to do: the server is
 * unreachable, the credentials are refused, or the schema is newer than this release.
 */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<PgPool> {
  const settings = { ...DEFAULTS, ...options };
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.maxConnections,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
    application_name: settings.applicationName,
    types: TYPES,
  });
  // An idle connection the server closed (a restart, a failover) is dropped from the pool; the next
  // query opens another. Without a listener the error would end the process.
  pool.on('error', (error) => options.log?.warn({ err: toError(error) }, 'postgres: an idle connection failed; it is replaced on next use'));
  try {
    await migratePostgres(pool, settings.migrations ?? pgMigrations);
  } catch (error) {
    await pool.end();
    if (error instanceof StoreError) throw error;
    throw new StoreError('store_open_failed', `Could not use the PostgreSQL database at DATABASE_URL (${describeTarget(url)}): ${describePgError(error)}`, {
      cause: error,
    });
  }
  return pool;
}

/** SQLSTATEs after which the whole transaction may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

/** Options of {@link pgTransaction}. */
export interface PgTransactionOptions {
  /** Runs after a serialization failure or deadlock, at most. Default 5. */
  maxAttempts?: number;
}

/**
 * Run `fn` in one transaction on one connection: committed when it resolves, rolled back when it
 * throws. A serialization failure or deadlock (another replica's transaction in the way) runs it again
 * from the start, after a short random wait, up to `maxAttempts` times.
 */
export async function pgTransaction<T>(pool: PgPool, fn: (client: PgClient) => Promise<T>, options: PgTransactionOptions = {}): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection itself failed: it goes back to the pool destroyed, not reused.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      if (attempt < maxAttempts && RETRYABLE.has(sqlState(error) ?? '')) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
        continue;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

/** The SQLSTATE of a PostgreSQL error, when it is one. */
export function sqlState(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** Key of the advisory lock migrations run under (any fixed 64-bit number; "hrbot" in ASCII). */
const MIGRATION_LOCK = 0x687262_6f74;

async function migratePostgres(pool: PgPool, migrations: readonly PgMigration[]): Promise<void> {
  await pgTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version));
    const newest = Math.max(0, ...applied);
    const known = Math.max(0, ...migrations.map((migration) => migration.version));
    if (newest > known) {
      throw new StoreError(
        'store_schema_newer',
        `The PostgreSQL database at DATABASE_URL has schema version ${newest}, newer than this release of hrbot knows (${known}): a newer release upgraded it. ` +
          'Run that release (or a newer one), or restore the backup taken before the upgrade.',
      );
    }
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await migration.up(client);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
    }
  });
}

/** Where DATABASE_URL points, without its password, for a message. */
function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return 'an unparsable URL';
  }
}

/** What went wrong, in a few words and the fix where there is one. */
function describePgError(error: unknown): string {
  const code = sqlState(error);
  switch (code) {
    case 'ECONNREFUSED':
      return 'nothing listens there (ECONNREFUSED): start PostgreSQL, or correct the host and port';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${code})`;
    case '28P01':
    case '28000':
      return `the server refused the credentials (${code}): check the user and password in DATABASE_URL`;
    case '3D000':
      return 'the database does not exist (3D000): create it (createdb), or correct its name in DATABASE_URL';
    default:
      return error instanceof Error ? `${error.message}${code === undefined ? '' : ` (${code})`}` : String(error);
  }
}

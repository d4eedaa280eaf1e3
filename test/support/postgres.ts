import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server tests use: the one these machines run on 127.0.0.1:5432 (trust auth), or
 * HRBOT_TEST_POSTGRES_URL. Each test gets a database of its own, dropped afterwards.
 */
export const POSTGRES_ADMIN_URL = process.env.HRBOT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const HOW_TO_START = 'start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or set HRBOT_TEST_POSTGRES_URL)';

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    // Not skipped: a PostgreSQL test that cannot reach its server fails, and says how to start it.
    throw new Error(`PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL} (${(error as Error).message}): ${HOW_TO_START}`, { cause: error });
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database for one test. */
export interface TestDatabase {
  name: string;
  url: string;
  /** Drop it (open connections are ended). */
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `hrbot_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

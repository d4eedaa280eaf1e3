import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import { migrations } from './migrations.ts';

export type Db = Database.Database;

/** Page size of a database file this process creates, in bytes. */
export const PAGE_SIZE = 1024;

/** Options for {@link openDatabase}. */
export interface DatabaseOptions {
  /** How long a writer waits for another process's write lock before failing, in ms. Default 10000. */
  busyTimeoutMs?: number;
  /** Least time between two commits of writes from several callers at once, in ms (see groupWrite). Default {@link COMMIT_SPACING_MS}. */
  commitSpacingMs?: number;
}

/**
 * Open (creating if needed) the one SQLite file, set the pragmas every connection needs, and apply
 * pending migrations. WAL lets readers run beside the single writer; the busy timeout makes a
 * second process wait for the write lock instead of failing with "database is locked".
 */
export function openDatabase(path: string, options: DatabaseOptions = {}): Db {
  const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
  if (path !== ':memory:') {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      throw notWritable(path, error);
    }
  }
  let db: Db;
  try {
    db = new Database(path, { timeout: busyTimeoutMs });
  } catch (error) {
    if (isNotWritableError(error)) throw notWritable(path, error);
    throw new StoreError('store_open_failed', `Could not open the database at DATABASE_PATH (${path})`, { cause: error });
  }
  try {
    // Only a new file takes it (an existing one keeps the size it was made with). A message's
    // writes land on a few pages of random b-tree leaves; every page written costs its whole size in
    // the write-ahead log and again at the checkpoint, so 1 KB pages write about a third of what
    // 4 KB pages did (store-writes bench); searches were no slower.
    db.pragma(`page_size = ${PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    // Erased rows are overwritten with zeros instead of lingering in free pages of the file.
    db.pragma('secure_delete = ON');
    // Savepoints (each write of a group commit has one) journal the pages they change; past 64 KB
    // SQLite spills that journal to an unlinked temp file: most of the bytes a message wrote, and
    // copies of users' text outside DATABASE_PATH. In memory it is bounded by the group's size.
    db.pragma('temp_store = MEMORY');
    groupStates.set(db, newGroupState(options.commitSpacingMs ?? COMMIT_SPACING_MS));
    migrate(db);
    // A file this process may read but not write opens, and even migrates when nothing is pending:
    // write once now, so that it fails here rather than at the first question.
    writeProbe(db);
  } catch (error) {
    db.close();
    // A file or folder this process may read but not write opens fine and fails at the first write.
    if (isNotWritableError(error)) throw notWritable(path, error);
    throw error;
  }
  return db;
}

/** Errors that mean this process may not create or write the database file, its folder, or its -wal and -shm files beside it. */
function isNotWritableError(error: unknown): boolean {
  if (error instanceof Database.SqliteError) return /^SQLITE_(READONLY|CANTOPEN|PERM)/.test(error.code);
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'EEXIST';
}

/** One line for the operator: the variable, the place, why, and the fix. */
function notWritable(path: string, cause: unknown): StoreError {
  const file = resolve(path);
  const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? cause.code : 'unknown error';
  const user = process.getuid === undefined ? 'this user' : `this user (uid ${process.getuid()})`;
  return new StoreError(
    'store_not_writable',
    `DATABASE_PATH ${file} cannot be written (${code}): the bot needs to create and write the file, and its -wal and -shm files, in ${dirname(file)}. ` +
      `Make that folder (and the file, if it exists) writable by ${user}, or set DATABASE_PATH to a file in a writable folder (it is created if missing).`,
    { cause },
  );
}

/**
 * The result of synchronous SQLite work as a promise, for the store interfaces both engines share:
 * a thrown error (a constraint, a busy database, a refusal) becomes the rejection, never an exception
 * thrown at the caller before it awaits.
 */
export function promised<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => resolve(work()));
}

interface GroupedWrite {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Per database: the writes waiting for their group's commit, and when and how big the last commit was. */
interface GroupState {
  pending: GroupedWrite[] | undefined;
  /** Calls off the pending group's timer (when the group is committed sooner). */
  cancel: (() => void) | undefined;
  lastCommitAt: number;
  lastSize: number;
  spacingMs: number;
}
const groupStates = new WeakMap<Db, GroupState>();

function newGroupState(spacingMs: number): GroupState {
  return { pending: undefined, cancel: undefined, lastCommitAt: 0, lastSize: 0, spacingMs };
}

/**
 * Writes grouped into one commit at most: a group that holds this many is committed at once, without
 * waiting out the spacing. About ten messages' steps: a bigger commit saves few pages more per
 * message, and its writers (acknowledgements among them) would wait for it. Side by side at full
 * speed, 512 (only a bound on the group's memory then) against 40: 15.1 against 14.2 KB written per
 * reply, and 0.55 against 0.62 of the bare Bolt app's replies a second; at a steady 250 a second,
 * where groups stay smaller, 20.4 KB either way.
 */
export const MAX_GROUP_WRITES = 40;

/**
 * Least time between two commits while writes come from several callers at once, in ms. Each commit
 * writes every page it changed to the log (and the checkpoint copies it again), however little of the
 * page changed. At a steady 250 messages a second from 200 users, committing at every turn of the event
 * loop wrote about 90 KB per answered message; 20 ms apart, but with the acks' writes still committed at
 * once, 52 KB; with the acks' writes spaced too, 25 KB, with less CPU per message (2.1 ms against 3.2)
 * and a lower ack p99 under a burst (108 ms against 250), the event loop no longer busy committing.
 */
export const COMMIT_SPACING_MS = 20;

/**
 * Group commit for SQLite writes: `work` runs in one BEGIN IMMEDIATE transaction with the other
 * writes waiting (each in its own savepoint, so one that throws rejects alone), and the promise
 * settles once the group is committed: what a caller awaited is in the log before it goes on (before
 * a platform call it guards, or an ack, say). A group is committed at the next turn of the event loop,
 * or, when the last commit held writes of several callers and was less than {@link COMMIT_SPACING_MS}
 * ago, that long after it (as PostgreSQL's commit_delay waits only when other transactions are
 * active): a lone writer, or a quiet bot, never waits, and under load many messages' writes share a commit.
 */
export function groupWrite<T>(db: Db, work: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let state = groupStates.get(db);
    if (state === undefined) {
      // A database not opened by openDatabase (a test's, a script's): the default spacing.
      state = newGroupState(COMMIT_SPACING_MS);
      groupStates.set(db, state);
    }
    let group = state.pending;
    if (group === undefined) {
      const pending: GroupedWrite[] = [];
      group = state.pending = pending;
      const wait = state.lastSize <= 1 ? 0 : state.lastCommitAt + state.spacingMs - Date.now();
      if (wait > 0) {
        const timer = setTimeout(() => commitGroup(db, pending), wait);
        state.cancel = () => clearTimeout(timer);
      } else {
        const immediate = setImmediate(() => commitGroup(db, pending));
        state.cancel = () => clearImmediate(immediate);
      }
    }
    group.push({ work, resolve: resolve as (value: unknown) => void, reject });
    if (group.length >= MAX_GROUP_WRITES) commitGroup(db, group);
  });
}

/** Commit the writes waiting for their group now: the store is closing, and the group's timer would find it closed. */
export function flushWrites(db: Db): void {
  const pending = groupStates.get(db)?.pending;
  if (pending !== undefined) commitGroup(db, pending);
}

function commitGroup(db: Db, group: GroupedWrite[]): void {
  const state = groupStates.get(db);
  if (state?.pending === group) {
    state.pending = undefined;
    state.cancel?.();
    state.cancel = undefined;
  }
  if (group.length === 0) return;
  if (state !== undefined) {
    state.lastCommitAt = Date.now();
    state.lastSize = group.length;
  }
  const writes = group.splice(0);
  const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
  try {
    if (!db.open) throw new StoreError('store_closed', 'The database is closed (the bot is stopping)');
    writeTransaction(db, () => {
      for (const write of writes) {
        try {
          // Nested in the group's transaction: a savepoint, rolled back alone if the write throws.
          outcomes.push({ ok: true, value: transactions(db).savepoint(write.work) });
        } catch (error) {
          outcomes.push({ ok: false, error });
        }
      }
    });
  } catch (error) {
    // The commit itself failed (busy past the timeout, disk full, closed): nothing of the group was written.
    for (const write of writes) write.reject(error);
    return;
  }
  writes.forEach((write, index) => {
    const outcome = outcomes[index]!;
    if (outcome.ok) write.resolve(outcome.value);
    else write.reject(outcome.error);
  });
}

/** Run `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so two writers never deadlock on upgrade. */
export function writeTransaction<T>(db: Db, fn: () => T): T {
  return transactions(db).immediate(fn) as T;
}

/**
 * better-sqlite3's transaction wrappers, made once per database and handed the work as an argument:
 * making one per call cost more CPU than the savepoint it runs (every message makes several).
 * Nested in a transaction, either runs as a savepoint.
 */
interface Transactions {
  savepoint(work: () => unknown): unknown;
  immediate(work: () => unknown): unknown;
}
const wrappers = new WeakMap<Db, Transactions>();

function transactions(db: Db): Transactions {
  let made = wrappers.get(db);
  if (made === undefined) {
    const run = db.transaction((work: () => unknown) => work());
    made = { savepoint: (work) => run(work), immediate: (work) => run.immediate(work) };
    wrappers.set(db, made);
  }
  return made;
}

function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  // Foreign keys can be switched only outside a transaction: off now if a pending migration rebuilds tables.
  const before = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const rebuilds = migrations.some((migration) => migration.rebuildsTables === true && !before.has(migration.version));
  if (rebuilds) db.pragma('foreign_keys = OFF');
  try {
    applyMigrations(db, rebuilds);
  } finally {
    if (rebuilds) db.pragma('foreign_keys = ON');
  }
}

function applyMigrations(db: Db, checkForeignKeys: boolean): void {
  writeTransaction(db, () => {
    const applied = new Set(
      db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[],
    );
    // A downgrade would run old code on tables it does not know: refuse, and say what to do.
    const newest = Math.max(0, ...applied);
    const known = Math.max(0, ...migrations.map((migration) => migration.version));
    if (newest > known) {
      throw new StoreError(
        'store_schema_newer',
        `DATABASE_PATH ${resolve(db.name)} has schema version ${newest}, newer than this release of hrbot knows (${known}): a newer release upgraded it. ` +
          'Run that release (or a newer one), or restore the backup taken before the upgrade.',
      );
    }
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      migration.up(db);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        Date.now(),
      );
    }
    if (checkForeignKeys) {
      const broken = db.pragma('foreign_key_check') as unknown[];
      if (broken.length > 0) throw new StoreError('store_migration_failed', `A migration left ${broken.length} rows whose references point nowhere; nothing was changed`);
    }
  });
}

/** Whether the store accepts a write right now (for the readiness probe). */
export function isWritable(db: Db): boolean {
  try {
    writeProbe(db);
    return true;
  } catch (error) {
    if (error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('SQLITE_')) return false;
    throw error;
  }
}

function writeProbe(db: Db): void {
  writeTransaction(db, () => db.prepare("INSERT INTO meta (key, value) VALUES ('ready_probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(Date.now())));
}

/** What one checkpoint attempt achieved. */
export interface CheckpointResult {
  /** True when the write-ahead log was folded into the main file and truncated to zero bytes. */
  complete: boolean;
  /** Frames in the log, and how many of them reached the main file (-1 when not in WAL mode). */
  logFrames: number;
  checkpointedFrames: number;
}

/**
 * Try once to fold the write-ahead log back into the main file and truncate it, so that rows just
 * erased (zeroed by secure_delete) leave no copy in the -wal file either. Never waits: while another
 * connection reads an older snapshot or holds the write lock, the log cannot be emptied, and waiting
 * here would stall the event loop for the whole busy timeout; the result says so and the caller retries.
 */
export function tryCheckpoint(db: Db): CheckpointResult {
  const previousTimeout = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 0');
  try {
    const rows = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    const row = rows[0] ?? { busy: 1, log: -1, checkpointed: -1 };
    return { complete: row.busy === 0, logFrames: row.log, checkpointedFrames: row.checkpointed };
  } catch (error) {
    // Another connection's checkpoint or lock can surface as an error instead of busy = 1.
    if (isBusyError(error)) return { complete: false, logFrames: -1, checkpointedFrames: -1 };
    throw error;
  } finally {
    db.pragma(`busy_timeout = ${previousTimeout}`);
  }
}

function isBusyError(error: unknown): boolean {
  return error instanceof Database.SqliteError && (error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED'));
}

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Db } from './database.ts';

/**
 * How often the thread checkpoints, in ms. Default 1,000: a page written again and again within a
 * second (an index's last page, the inbox's newest rows) is copied back once, where every 250 ms
 * copied it four times (about 3 of the 18 KB a reply wrote, at full speed); the log holds about a
 * second of writes.
 */
export const DEFAULT_CHECKPOINT_EVERY_MS = 1000;

/** How long {@link CheckpointThread.stop} waits for the thread to close its connection, in ms. */
const STOP_WAIT_MS = 2_000;

/** SQLite's own default, restored when the thread cannot run. */
const AUTOCHECKPOINT_PAGES = 1000;

/** Log frames (pages, 32 MB at 4 KB) past which the thread also restarts the log: rarely, since each restart makes writers wait for its last copy and sync. */
const RESTART_FRAMES = 8000;

/**
 * The thread's code: plain JavaScript (no loader needed under tsx or from dist/), its own connection,
 * a PASSIVE checkpoint on a timer. PASSIVE never waits for a reader or a writer, so with writes going
 * on it copies what it can and the log keeps growing; once the log is long, a RESTART (waiting at most
 * 100 ms for the writer) copies the few frames PASSIVE left and makes the next write start the log
 * over. A busy database is tried again at the next tick. Only failures are reported.
 */
const THREAD_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
const checkpoint = () => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    if (row && row.log >= workerData.restartFrames) {
      db.pragma('busy_timeout = 100');
      try {
        db.pragma('wal_checkpoint(RESTART)');
      } finally {
        db.pragma('busy_timeout = 0');
      }
    }
  } catch (error) {
    if (!/^SQLITE_(BUSY|LOCKED)/.test(String(error && error.code))) parentPort.postMessage({ failed: String(error && error.message) });
  }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  // The store closes right after: told synchronously, so no file of the database is touched after that.
  Atomics.store(workerData.closed, 0, 1);
  Atomics.notify(workerData.closed, 0);
  parentPort.close();
});
parentPort.postMessage({ ready: true });
`;

/**
 * Checkpoints the write-ahead log from a worker thread. Left to itself, SQLite checkpoints inside
 * whichever commit crosses 1,000 pages of log: it copies the pages back and syncs the database file
 * on the event loop, in the middle of some event's ack. With this thread running the main connection
 * never does (`wal_autocheckpoint = 0`); if the thread fails, SQLite's own checkpointing comes back.
 */
export class CheckpointThread {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #worker: Worker;
  /** Set to 1 by the thread once its connection is closed. */
  readonly #closed = new Int32Array(new SharedArrayBuffer(4));
  #stopped = false;
  #exited = false;

  private constructor(db: Db, path: string, log: Logger, everyMs: number) {
    this.#db = db;
    this.#log = log;
    this.#worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), path, everyMs, restartFrames: RESTART_FRAMES, closed: this.#closed },
      // The thread reads no configuration: it gets no environment (no tokens or keys).
      env: {},
    });
    this.#worker.unref();
    this.#worker.on('message', (message: { ready?: boolean; failed?: string }) => {
      // The store may have closed (or this been stopped) while the thread was starting.
      if (message.ready === true) {
        if (!this.#stopped && this.#db.open) this.#db.pragma('wal_autocheckpoint = 0');
      }
      else if (message.failed !== undefined) this.#log.warn({ reason: message.failed }, 'store: background checkpoint failed; retried');
    });
    this.#worker.on('error', (error) => this.#fallBack(error));
    this.#worker.on('exit', () => {
      this.#exited = true;
      if (!this.#stopped) this.#fallBack(new Error('the checkpoint thread exited'));
    });
  }

  /** Start checkpointing `db` (a file at `path`) in the background; an in-memory database has no log and gets none. */
  static start(db: Db, path: string, log: Logger, everyMs = DEFAULT_CHECKPOINT_EVERY_MS): CheckpointThread | undefined {
    if (path === ':memory:' || db.memory) return undefined;
    if (!Number.isInteger(everyMs) || everyMs < 1) throw new RangeError(`Expected \`everyMs\` to be an integer >= 1, got ${everyMs}`);
    return new CheckpointThread(db, path, log, everyMs);
  }

  /**
   * Checkpoint once more and close the thread's connection, waiting (at most 2 s) until it has: the
   * caller closes the store next, and may remove its files. The main connection checkpoints for itself again.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    if (this.#exited) return;
    this.#worker.postMessage('stop');
    Atomics.wait(this.#closed, 0, 0, STOP_WAIT_MS);
  }

  #fallBack(error: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#log.warn({ err: toError(error) }, 'store: background checkpoints stopped; SQLite checkpoints during commits again');
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }
}

import type { Db } from '../store/database.ts';
import { groupWrite, promised, writeTransaction } from '../store/database.ts';
import { keyedHash, sortableTime } from '../store/store-key.ts';
import { PROCESS_ID } from './process-id.ts';

/**
 * Marks an item done (both stores, `?` placeholders; an erase empties a user's open items with it
 * too): its payload, progress and owner go, and the row is only the key that makes a redelivery a
 * no-op. Without the owner, an erase has only open rows to look through, and no index on owners is
 * written by every message.
 */
export const INBOX_DONE_SET = "state = 'done', payload = NULL, progress = NULL, owner_hash = '', bytes = 0, finished_at = ?";
export const INBOX_DONE_SQL = `UPDATE inbox SET ${INBOX_DONE_SET} WHERE id = ? AND finished_at IS NULL`;

/**
 * Pruning done keys (both stores, `?` placeholders). Ids grow with receipt, so the old keys are the
 * head of the id order and no index by time is needed (one would be written by every message): `old`
 * deletes the done rows before the first one received since its bound; `extra` those whose id is
 * more than the bound below the newest (ids never repeat, so at most that many stay). Both read only
 * the rows they delete, and the open ones among them.
 */
export const INBOX_PRUNE_SQL = {
  old: `DELETE FROM inbox WHERE state = 'done'
    AND id < coalesce((SELECT id FROM inbox WHERE received_at >= ? ORDER BY id LIMIT 1), (SELECT max(id) + 1 FROM inbox))`,
  extra: "DELETE FROM inbox WHERE state = 'done' AND id <= (SELECT max(id) FROM inbox) - ?",
} as const;

/** Bounds of the inbox; every one has its default here. */
export interface InboxLimits {
  /** Items not yet done (pending or being worked on) the inbox holds at most. Default 50,000. */
  maxOpenItems: number;
  /** Payload bytes of open items the inbox holds at most. Default 64 MB. */
  maxOpenBytes: number;
  /** A done item's key is kept this long after its receipt, to recognise a late redelivery, in ms. Default 24 h. */
  doneRetentionMs: number;
  /** Done keys kept at most; the oldest received are pruned first. Default 200,000. */
  maxDoneItems: number;
}

export const DEFAULT_INBOX_LIMITS: InboxLimits = {
  maxOpenItems: 50_000,
  maxOpenBytes: 64_000_000,
  doneRetentionMs: 24 * 60 * 60_000,
  maxDoneItems: 200_000,
};

/** A verified platform event, as an adapter hands it to the inbox before acknowledging it. */
export interface NewInboxItem {
  /** `platform:eventId`; a redelivery carries the same key (stored as a keyed hash). */
  eventKey: string;
  platform: string;
  /** Items of one lane are worked on one at a time, in `order`. */
  laneKey: string;
  /** The verified user, so an erasure can drop what is still waiting (stored as a keyed hash). */
  ownerKey: string;
  /** The platform's own timestamp of the message (ms since the epoch, may be fractional). */
  order: number;
  /** What the adapter needs to answer it later (JSON). */
  payload: string;
  /** Never held for a notice, whatever the backlog (it answers no question, e.g. suggested prompts). */
  noNotice?: boolean;
  /**
   * The platform's own time of the event (ms), when every redelivery carries the same (a message's
   * own timestamp; Slack's event_time for other events): the stored key starts with it, so keys sort
   * by time and a commit's keys go to the end of their index (see eventKeys), not all over the
   * second's worth of keys that whole seconds would give.
   */
  eventAt?: number;
  /** A time keys of this event started with before (Slack's event_time, before a message's own ts): a redelivery stored under it is known too. */
  alsoKeyedAt?: number;
}

/**
 * The keys of an event in the inbox: the one it is stored under (its keyed hash, after the time of
 * the event when the platform gives one: see sortableTime), and every key a redelivery of it may be
 * stored under: also the bare hash, which an event stored before keys had their time has.
 */
export function eventKeys(item: NewInboxItem, hash: (value: string) => string): { stored: string; known: string[] } {
  const bare = hash(item.eventKey);
  const timed = (at: number | undefined): string[] => (at === undefined || !Number.isFinite(at) ? [] : [sortableTime(at) + bare]);
  const [stored = bare] = timed(item.eventAt);
  return { stored, known: [...new Set([stored, ...timed(item.alsoKeyedAt), bare])] };
}

/**
 * When an item is stored held, for an immediate notice that the wait will be long: its lane already
 * has `laneAhead` open items, or the inbox `inboxPending` waiting ones. Decided in the write itself,
 * so the decision costs no read of its own. The item is not taken before `holdMs` (the adapter shows
 * the notice, then calls {@link InboxStore.makeDue}), so the answer cannot overtake the notice it replaces.
 */
export interface NoticeRule {
  laneAhead: number;
  inboxPending: number;
  holdMs: number;
  /**
   * Where replies stand in one column in the order they were sent (a Teams chat, not a thread per
   * question), an earlier message of the lane still waiting with nothing shown is held for a notice
   * too, so its reply is not placed below a later message's notice.
   */
  inOrder?: boolean;
}

/** An earlier message of the lane held with a later one's notice (see {@link NoticeRule.inOrder}). */
export interface EarlierNotice {
  id: number;
  ahead: number;
  /** The item's payload: its notice goes where its own answer will. */
  payload: string;
}

/** An item taken by a worker. */
export interface InboxItem {
  id: number;
  platform: string;
  laneKey: string;
  order: number;
  payload: string;
  /** Attempts so far, this one included. */
  attempts: number;
  receivedAt: number;
  /** What an earlier attempt already showed the user (a placeholder's id), for the adapter to complete or replace. */
  progress: string | null;
  /** An earlier attempt counted the message against its user's limits (the usage store marks it in its count). */
  admitted: boolean;
}

/** The answer to an enqueue. `ahead` counts items of the same lane still waiting before this one. */
export type EnqueueResult =
  | {
      status: 'accepted';
      id: number;
      ahead: number;
      /** Items waiting in the whole inbox when it was stored, this one excluded. */
      pending: number;
      /** Held for a notice under the {@link NoticeRule} given. */
      notice: boolean;
      /** Earlier messages of the lane held with it, in lane order: their notices go first. */
      earlier: EarlierNotice[];
    }
  | { status: 'duplicate' }
  | { status: 'full'; reason: 'items' | 'bytes' };

/** Counts for readiness, metrics and the start-up log. */
export interface InboxStats {
  pending: number;
  working: number;
  openBytes: number;
  /** ms the oldest pending item has waited, 0 when none. */
  oldestWaitMs: number;
}

export interface ItemRow {
  id: number;
  platform: string;
  laneKey: string;
  ord: number;
  payload: string;
  attempts: number;
  receivedAt: number;
  progress: string | null;
  admitted: number;
}

/**
 * The durable inbox, on either store: every verified event is a row before the platform gets its
 * ack. Rows are claimed with a lease (a crashed worker's items are taken up again when it expires),
 * one lane at a time in platform order, by any process or replica, and marked done with their
 * payload dropped, so a done row is only a key that makes a redelivery a no-op.
 */
export interface InboxStore {
  readonly limits: InboxLimits;
  /** Store one event, unless its key is known or a bound is reached. */
  enqueue(item: NewInboxItem, now?: number, notices?: NoticeRule): Promise<EnqueueResult>;
  /** Store several events in one transaction: a burst's acks share one commit. */
  enqueueMany(items: readonly NewInboxItem[], now?: number, notices?: NoticeRule): Promise<EnqueueResult[]>;
  /**
   * Take up to `limit` items, at most one per lane and only a lane's first open item, whose lane has
   * no live lease. A lease that expired (its worker died) counts as open again.
   */
  claim(limit: number, leaseMs: number, now?: number, platforms?: readonly string[], worker?: string | null): Promise<InboxItem[]>;
  /**
   * Hold up to `limit` items that have waited since before `receivedBefore` with nothing shown yet,
   * for `holdMs`, so a notice can be sent before any worker answers them (then {@link makeDue}).
   */
  holdLongWaiting(receivedBefore: number, limit: number, holdMs: number, platforms: readonly string[], now?: number): Promise<InboxItem[]>;
  /**
   * Hand back at once the items of workers that `isDead` says are gone (a crashed process on this
   * host), instead of waiting for their leases: those it was answering, and those it held for a
   * notice it never sent. Resolves with how many items were handed back.
   */
  releaseDeadWorkers(isDead: (worker: string) => boolean): Promise<number>;
  /** Extend the lease of items still being worked on. */
  renew(ids: readonly number[], leaseMs: number, now?: number): Promise<void>;
  /** Record what has been shown for an item so far (for a retry after a crash). */
  saveProgress(id: number, progress: string): Promise<void>;
  /**
   * Record `progress` for an item that still waits untouched (pending, nothing recorded yet), and hold
   * it `holdMs` from `now` (longer if held longer already), so no worker takes it while its notice is
   * on its way; false when it no longer waits so.
   */
  markProgress(id: number, progress: string, holdMs: number, now?: number): Promise<boolean>;
  /** Replace progress `from` by `to` while the item still waits (pending); false when a worker took it meanwhile or it is gone. */
  replaceProgress(id: number, from: string, to: string): Promise<boolean>;
  /** Record progress only if none was recorded yet. */
  saveProgressIfNone(id: number, progress: string): Promise<void>;
  /** Mark an item done and drop its payload; false when it was no longer open (erased meanwhile). */
  complete(id: number, now?: number): Promise<boolean>;
  /** Whether an item is still open (not done, not erased). */
  isOpen(id: number): Promise<boolean>;
  /** An item held at enqueue (`holdMs`) may be taken now. */
  makeDue(id: number): Promise<void>;
  /** Give an item back (shutdown, or a retry after `delayMs`): it keeps its place in its lane. */
  release(id: number, delayMs?: number, now?: number): Promise<void>;
  /** Drop done keys past their retention and beyond the row bound; resolves with how many went. */
  prune(now?: number): Promise<number>;
  stats(now?: number): Promise<InboxStats>;
}

/**
 * {@link InboxStore} on SQLite: reads are done before the promise returns; each write is one
 * savepoint in the turn's group commit (groupWrite) and settles once it is on disk.
 */
export class SqliteInboxStore implements InboxStore {
  readonly #db: Db;
  readonly #limits: InboxLimits;
  readonly #sql: ReturnType<typeof prepare>;

  constructor(db: Db, limits: Partial<InboxLimits> = {}) {
    this.#db = db;
    this.#limits = { ...DEFAULT_INBOX_LIMITS, ...limits };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected inbox limit \`${name}\` to be an integer >= 1, got ${value}`);
    }
    this.#sql = prepare(db);
  }

  get limits(): InboxLimits {
    return this.#limits;
  }

  async enqueue(item: NewInboxItem, now = Date.now(), notices?: NoticeRule): Promise<EnqueueResult> {
    return (await this.enqueueMany([item], now, notices))[0] ?? { status: 'duplicate' };
  }

  /** Reads only the totals row, the event's key and its lane (all indexed), whatever the backlog. */
  enqueueMany(items: readonly NewInboxItem[], now = Date.now(), notices?: NoticeRule): Promise<EnqueueResult[]> {
    if (items.length === 0) return Promise.resolve([]);
    return groupWrite(this.#db, () => {
      const sql = this.#sql;
      let { open, bytes, pending } = sql.totals.get() as { open: number; bytes: number; pending: number };
      return items.map((item): EnqueueResult => {
        const keys = eventKeys(item, (value) => keyedHash(this.#db, value));
        if (keys.known.some((key) => sql.exists.get(key) !== undefined)) return { status: 'duplicate' };
        const eventHash = keys.stored;
        const size = Buffer.byteLength(item.payload);
        if (open + 1 > this.#limits.maxOpenItems) return { status: 'full', reason: 'items' };
        if (bytes + size > this.#limits.maxOpenBytes) return { status: 'full', reason: 'bytes' };
        const laneOpen = sql.laneOpen.pluck().get(item.laneKey) as number;
        const notice = needsNotice(notices, item, laneOpen, pending);
        const heldUntil = notice ? now + notices.holdMs : 0;
        const owner = keyedHash(this.#db, item.ownerKey);
        // A held item names its holder: if this process dies before the notice, a restart releases it at once.
        const holder = notice ? PROCESS_ID : null;
        const id = Number(sql.insert.run(eventHash, item.platform, item.laneKey, owner, item.order, item.payload, size, now, heldUntil, holder).lastInsertRowid);
        // Counted by order, not arrival: a message that arrives late sorts before the ones it preceded.
        const ahead = laneOpen === 0 ? 0 : (sql.ahead.pluck().get({ lane: item.laneKey, ord: item.order, id }) as number);
        const earlier = notice && notices.inOrder === true && ahead > 0 ? this.#holdEarlier(item.laneKey, item.order, id, now, heldUntil) : [];
        const waiting = pending;
        open += 1;
        bytes += size;
        pending += 1;
        return { status: 'accepted', id, ahead, pending: waiting, notice, earlier };
      });
    });
  }

  /** Hold the lane's items before (`ord`, `id`) that wait untouched and unheld, for notices of their own. */
  #holdEarlier(lane: string, ord: number, id: number, now: number, heldUntil: number): EarlierNotice[] {
    const rows = this.#sql.earlierUntouched.all({ lane, ord, id, now }) as { id: number; ord: number; payload: string }[];
    return rows.map((row) => {
      this.#sql.hold.run(heldUntil, PROCESS_ID, row.id);
      return { id: row.id, ahead: this.#sql.ahead.pluck().get({ lane, ord: row.ord, id: row.id }) as number, payload: row.payload };
    });
  }

  claim(limit: number, leaseMs: number, now = Date.now(), platforms?: readonly string[], worker: string | null = null): Promise<InboxItem[]> {
    if (limit < 1) return Promise.resolve([]);
    return groupWrite(this.#db, () => {
      const rows = this.#sql.claimable.all({ now, limit, platforms: platforms === undefined ? null : JSON.stringify(platforms) }) as ItemRow[];
      for (const row of rows) {
        this.#sql.take.run(now + leaseMs, worker, row.id);
        row.attempts += 1;
      }
      return rows.map(toItem);
    });
  }

  async holdLongWaiting(receivedBefore: number, limit: number, holdMs: number, platforms: readonly string[], now = Date.now()): Promise<InboxItem[]> {
    if (limit < 1 || platforms.length === 0) return [];
    const query = { before: receivedBefore, now, limit, platforms: JSON.stringify(platforms) };
    // Looked for outside a write first: most polls find nothing, and take no write lock.
    if ((await promised(() => this.#sql.longWaiting.get(query))) === undefined) return [];
    return groupWrite(this.#db, () => {
      const rows = this.#sql.longWaiting.all(query) as ItemRow[];
      for (const row of rows) this.#sql.hold.run(now + holdMs, PROCESS_ID, row.id);
      return rows.map(toItem);
    });
  }

  // (Held for a notice never sent, such an item would wait out its hold, and a later message's notice could land above its answer.)
  async releaseDeadWorkers(isDead: (worker: string) => boolean): Promise<number> {
    // Asked outside a write first: nearly always every holder is alive, and no write lock is taken.
    if (!(await promised(() => this.#sql.workers.pluck().all() as string[])).some(isDead)) return 0;
    return groupWrite(this.#db, () => {
      let released = 0;
      for (const worker of this.#sql.workers.pluck().all() as string[]) {
        if (isDead(worker)) released += this.#sql.releaseWorker.run(worker).changes;
      }
      return released;
    });
  }

  renew(ids: readonly number[], leaseMs: number, now = Date.now()): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return groupWrite(this.#db, () => {
      for (const id of ids) this.#sql.renew.run(now + leaseMs, id);
    });
  }

  saveProgress(id: number, progress: string): Promise<void> {
    return groupWrite(this.#db, () => {
      this.#sql.progress.run(progress, id);
    });
  }

  // A notice is sent only while no worker has taken its item.
  markProgress(id: number, progress: string, holdMs: number, now = Date.now()): Promise<boolean> {
    return groupWrite(this.#db, () => this.#sql.markWaiting.run(progress, now + holdMs, PROCESS_ID, id).changes > 0);
  }

  replaceProgress(id: number, from: string, to: string): Promise<boolean> {
    return groupWrite(this.#db, () => this.#sql.replaceWaiting.run(to, id, from).changes > 0);
  }

  saveProgressIfNone(id: number, progress: string): Promise<void> {
    return groupWrite(this.#db, () => {
      this.#sql.progressIfNone.run(progress, id);
    });
  }

  complete(id: number, now = Date.now()): Promise<boolean> {
    return groupWrite(this.#db, () => this.#sql.done.run(now, id).changes > 0);
  }

  /** {@link complete}, running `effect` in the same transaction (a test's record of the reply, so the two cannot disagree). */
  completeWith(id: number, effect: () => void, now = Date.now()): boolean {
    return writeTransaction(this.#db, () => {
      const changed = this.#sql.done.run(now, id).changes > 0;
      if (changed) effect();
      return changed;
    });
  }

  isOpen(id: number): Promise<boolean> {
    return promised(() => this.#sql.isOpen.get(id) !== undefined);
  }

  makeDue(id: number): Promise<void> {
    return groupWrite(this.#db, () => {
      this.#sql.due.run(id);
    });
  }

  release(id: number, delayMs = 0, now = Date.now()): Promise<void> {
    return groupWrite(this.#db, () => {
      this.#sql.release.run(delayMs === 0 ? 0 : now + delayMs, id);
    });
  }

  prune(now = Date.now()): Promise<number> {
    return groupWrite(this.#db, () => {
      const old = this.#sql.pruneOld.run(now - this.#limits.doneRetentionMs).changes;
      return old + this.#sql.pruneExtra.run(this.#limits.maxDoneItems).changes;
    });
  }

  stats(now = Date.now()): Promise<InboxStats> {
    return promised(() => {
      const totals = this.#sql.totals.get() as { open: number; bytes: number; pending: number };
      const oldest = this.#sql.oldestPending.pluck().get() as number | undefined;
      return statsOf(totals, oldest, now);
    });
  }
}

/** Whether an item is stored held for a notice under `notices` (see {@link NoticeRule}); the same on both stores. */
export function needsNotice(notices: NoticeRule | undefined, item: NewInboxItem, laneOpen: number, pending: number): notices is NoticeRule {
  return notices !== undefined && item.noNotice !== true && (laneOpen >= notices.laneAhead || pending >= notices.inboxPending);
}

/** The counts both stores report, from the totals row and the oldest waiting item's receipt. */
export function statsOf(totals: { open: number; bytes: number; pending: number }, oldest: number | undefined, now: number): InboxStats {
  return {
    pending: totals.pending,
    working: totals.open - totals.pending,
    openBytes: totals.bytes,
    oldestWaitMs: oldest === undefined ? 0 : Math.max(0, now - oldest),
  };
}

export function toItem(row: ItemRow): InboxItem {
  return {
    id: row.id,
    platform: row.platform,
    laneKey: row.laneKey,
    order: row.ord,
    payload: row.payload,
    attempts: row.attempts,
    receivedAt: row.receivedAt,
    progress: row.progress,
    admitted: row.admitted === 1,
  };
}

const COLUMNS = `id, platform, lane_key AS laneKey, ord, payload, attempts,
  received_at AS receivedAt, progress, admitted`;

// Statements prepared once per store: the inbox is on every message's path.
function prepare(db: Db) {
  return {
    // Kept by triggers (migration 7): reading them costs the same with 10 open items or 50,000.
    totals: db.prepare('SELECT open_items AS open, open_bytes AS bytes, pending FROM inbox_totals WHERE id = 1'),
    exists: db.prepare('SELECT 1 FROM inbox WHERE event_hash = ?'),
    insert: db.prepare(
      `INSERT INTO inbox (event_hash, platform, lane_key, owner_hash, ord, payload, bytes, state, received_at, lease_until, worker)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
    ),
    ahead: db.prepare("SELECT count(*) FROM inbox WHERE lane_key = @lane AND finished_at IS NULL AND (ord < @ord OR (ord = @ord AND id < @id))"),
    // Waiting with nothing shown (no progress) and not held for a notice or a retry, in lane order.
    earlierUntouched: db.prepare(
      `SELECT id, ord, payload FROM inbox WHERE lane_key = @lane AND finished_at IS NULL AND state = 'pending' AND progress IS NULL AND lease_until <= @now
         AND (ord < @ord OR (ord = @ord AND id < @id)) ORDER BY ord, id`,
    ),
    // A lane's head is its open item with the lowest (ord, id). It is claimable when it is pending and
    // due, or working under an expired lease. Lanes whose head holds a live lease are busy.
    claimable: db.prepare(
      `SELECT ${COLUMNS} FROM inbox AS i
       WHERE i.finished_at IS NULL AND i.lease_until <= @now
         AND (@platforms IS NULL OR i.platform IN (SELECT value FROM json_each(@platforms)))
         AND i.id = (SELECT h.id FROM inbox AS h WHERE h.lane_key = i.lane_key AND h.finished_at IS NULL ORDER BY h.ord, h.id LIMIT 1)
       ORDER BY i.id LIMIT @limit`,
    ),
    take: db.prepare("UPDATE inbox SET state = 'working', lease_until = ?, worker = ?, attempts = attempts + 1 WHERE id = ?"),
    // Taken (working) or held for a notice (pending): either way the named process answers for it.
    workers: db.prepare("SELECT DISTINCT worker FROM inbox WHERE finished_at IS NULL AND worker IS NOT NULL"),
    releaseWorker: db.prepare("UPDATE inbox SET state = 'pending', lease_until = 0, worker = NULL WHERE finished_at IS NULL AND worker = ?"),
    renew: db.prepare("UPDATE inbox SET lease_until = ? WHERE id = ? AND state = 'working'"),
    progress: db.prepare("UPDATE inbox SET progress = ? WHERE id = ? AND finished_at IS NULL"),
    // Held while the notice is on its way, by the process that sends it (a restart after its death releases it).
    markWaiting: db.prepare("UPDATE inbox SET progress = ?, lease_until = max(lease_until, ?), worker = ? WHERE id = ? AND state = 'pending' AND progress IS NULL"),
    replaceWaiting: db.prepare("UPDATE inbox SET progress = ? WHERE id = ? AND state = 'pending' AND progress = ?"),
    progressIfNone: db.prepare("UPDATE inbox SET progress = ? WHERE id = ? AND finished_at IS NULL AND progress IS NULL"),
    done: db.prepare(INBOX_DONE_SQL),
    isOpen: db.prepare("SELECT 1 FROM inbox WHERE id = ? AND finished_at IS NULL"),
    laneOpen: db.prepare("SELECT count(*) FROM inbox WHERE lane_key = ? AND finished_at IS NULL"),
    // Only pending items no notice or answer has touched yet (progress is null), oldest first.
    longWaiting: db.prepare(
      `SELECT ${COLUMNS} FROM inbox
       WHERE state = 'pending' AND progress IS NULL AND received_at < @before AND lease_until <= @now
         AND platform IN (SELECT value FROM json_each(@platforms))
       ORDER BY id LIMIT @limit`,
    ),
    hold: db.prepare("UPDATE inbox SET lease_until = ?, worker = ? WHERE id = ? AND state = 'pending'"),
    due: db.prepare("UPDATE inbox SET lease_until = 0, worker = NULL WHERE id = ? AND state = 'pending'"),
    release: db.prepare("UPDATE inbox SET state = 'pending', lease_until = ? WHERE id = ? AND state = 'working'"),
    pruneOld: db.prepare(INBOX_PRUNE_SQL.old),
    pruneExtra: db.prepare(INBOX_PRUNE_SQL.extra),
    // Ids grow with receipt, so the first pending item in id order is the oldest.
    oldestPending: db.prepare("SELECT received_at FROM inbox WHERE finished_at IS NULL AND state = 'pending' ORDER BY id LIMIT 1"),
  };
}

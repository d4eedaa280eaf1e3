import type { EarlierNotice, EnqueueResult, InboxItem, InboxLimits, InboxStats, InboxStore, ItemRow, NewInboxItem, NoticeRule } from '../../inbox/inbox-store.ts';
import { DEFAULT_INBOX_LIMITS, eventKeys, INBOX_DONE_SQL, INBOX_PRUNE_SQL, needsNotice, statsOf, toItem } from '../../inbox/inbox-store.ts';
import { PROCESS_ID } from '../../inbox/process-id.ts';
import type { PgClient, PgPool } from './pg-database.ts';
import { pgTransaction } from './pg-database.ts';
import { pgKeyedHash } from './pg-store-key.ts';
import { numberedParams } from '../sql-params.ts';

const DONE_SQL = numberedParams(INBOX_DONE_SQL);
const PRUNE_OLD_SQL = numberedParams(INBOX_PRUNE_SQL.old);
const PRUNE_EXTRA_SQL = numberedParams(INBOX_PRUNE_SQL.extra);

const COLUMNS = `id, platform, lane_key AS "laneKey", ord, payload, attempts, received_at AS "receivedAt", progress, admitted`;

/**
 * {@link InboxStore} on PostgreSQL, shared by every replica. An enqueue locks the totals row, so
 * the bounds hold across replicas and a lane's count and order are read by one writer at a time.
 * A claim locks the lane heads it takes and skips those another replica is taking
 * (`FOR UPDATE SKIP LOCKED`): replicas never take the same item, nor two items of one lane, and
 * never wait on each other to claim. A replica that dies leaves leases that run out (30 s by
 * default); items its host's other processes see orphaned are handed back at once.
 */
export class PgInboxStore implements InboxStore {
  readonly #pool: PgPool;
  readonly #limits: InboxLimits;

  constructor(pool: PgPool, limits: Partial<InboxLimits> = {}) {
    this.#pool = pool;
    this.#limits = { ...DEFAULT_INBOX_LIMITS, ...limits };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected inbox limit \`${name}\` to be an integer >= 1, got ${value}`);
    }
  }

  get limits(): InboxLimits {
    return this.#limits;
  }

  async enqueue(item: NewInboxItem, now = Date.now(), notices?: NoticeRule): Promise<EnqueueResult> {
    return (await this.enqueueMany([item], now, notices))[0] ?? { status: 'duplicate' };
  }

  async enqueueMany(items: readonly NewInboxItem[], now = Date.now(), notices?: NoticeRule): Promise<EnqueueResult[]> {
    if (items.length === 0) return [];
    const hash = await pgKeyedHash(this.#pool);
    const keys = items.map((item) => eventKeys(item, hash));
    const lanes = [...new Set(items.map((item) => item.laneKey))];
    return pgTransaction(this.#pool, async (client) => {
      // The totals row is the lock every enqueue takes: held for as few round trips as possible, since
      // every state change of an item updates it too (its trigger).
      let { open, bytes, pending } = (await client.query<{ open: number; bytes: number; pending: number }>('SELECT open_items AS open, open_bytes AS bytes, pending FROM inbox_totals WHERE id = 1 FOR UPDATE')).rows[0]!;
      // What the batch needs to know, read once for all its events: which are known, and each lane's open count.
      const known = new Set(
        (await client.query<{ hash: string }>('SELECT event_hash AS hash FROM inbox WHERE event_hash = ANY($1::text[])', [keys.flatMap((key) => key.known)])).rows.map((row) => row.hash),
      );
      const laneOpen = new Map(
        (
          await client.query<{ lane: string; n: number }>("SELECT lane_key AS lane, count(*) AS n FROM inbox WHERE lane_key = ANY($1::text[]) AND finished_at IS NULL GROUP BY lane_key", [lanes])
        ).rows.map((row) => [row.lane, row.n]),
      );
      const results: EnqueueResult[] = [];
      for (const [index, item] of items.entries()) {
        const eventHash = keys[index]!.stored;
        if (keys[index]!.known.some((key) => known.has(key))) {
          results.push({ status: 'duplicate' });
          continue;
        }
        const size = Buffer.byteLength(item.payload);
        if (open + 1 > this.#limits.maxOpenItems) {
          results.push({ status: 'full', reason: 'items' });
          continue;
        }
        if (bytes + size > this.#limits.maxOpenBytes) {
          results.push({ status: 'full', reason: 'bytes' });
          continue;
        }
        const laneCount = laneOpen.get(item.laneKey) ?? 0;
        const notice = needsNotice(notices, item, laneCount, pending);
        const heldUntil = notice ? now + notices.holdMs : 0;
        // A held item names its holder: if this process dies before the notice, a restart on its host releases it at once.
        const holder = notice ? PROCESS_ID : null;
        const id = (
          await client.query<{ id: number }>(
            `INSERT INTO inbox (event_hash, platform, lane_key, owner_hash, ord, payload, bytes, state, received_at, lease_until, worker)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10) RETURNING id`,
            [eventHash, item.platform, item.laneKey, hash(item.ownerKey), item.order, item.payload, size, now, heldUntil, holder],
          )
        ).rows[0]!.id;
        known.add(eventHash);
        laneOpen.set(item.laneKey, laneCount + 1);
        // Counted by order, not arrival: a message that arrives late sorts before the ones it preceded.
        const ahead = laneCount === 0 ? 0 : await aheadOf(client, item.laneKey, item.order, id);
        const earlier = notice && notices.inOrder === true && ahead > 0 ? await holdEarlier(client, item.laneKey, item.order, id, now, heldUntil) : [];
        results.push({ status: 'accepted', id, ahead, pending, notice, earlier });
        open += 1;
        bytes += size;
        pending += 1;
      }
      return results;
    });
  }

  claim(limit: number, leaseMs: number, now = Date.now(), platforms?: readonly string[], worker: string | null = null): Promise<InboxItem[]> {
    if (limit < 1) return Promise.resolve([]);
    return pgTransaction(this.#pool, async (client) => {
      // A lane's head is its open item with the lowest (ord, id); it is claimable when pending and
      // due, or working under an expired lease. A head another replica is taking right now is skipped.
      const rows = (
        await client.query<ItemRow>(
          `SELECT ${COLUMNS} FROM inbox AS i
           WHERE i.finished_at IS NULL AND i.lease_until <= $1
             AND ($2::text[] IS NULL OR i.platform = ANY($2::text[]))
             AND i.id = (SELECT h.id FROM inbox AS h WHERE h.lane_key = i.lane_key AND h.finished_at IS NULL ORDER BY h.ord, h.id LIMIT 1)
           ORDER BY i.id LIMIT $3
           FOR UPDATE SKIP LOCKED`,
          [now, platforms === undefined ? null : [...platforms], limit],
        )
      ).rows;
      if (rows.length === 0) return [];
      await client.query("UPDATE inbox SET state = 'working', lease_until = $1, worker = $2, attempts = attempts + 1 WHERE id = ANY($3::bigint[])", [
        now + leaseMs,
        worker,
        rows.map((row) => row.id),
      ]);
      return rows.map((row) => toItem({ ...row, attempts: row.attempts + 1 }));
    });
  }

  async holdLongWaiting(receivedBefore: number, limit: number, holdMs: number, platforms: readonly string[], now = Date.now()): Promise<InboxItem[]> {
    if (limit < 1 || platforms.length === 0) return [];
    const rows = (
      await this.#pool.query<ItemRow>(
        `UPDATE inbox SET lease_until = $1, worker = $2
         WHERE id IN (
           SELECT id FROM inbox
           WHERE state = 'pending' AND progress IS NULL AND received_at < $3 AND lease_until <= $4 AND platform = ANY($5::text[])
           ORDER BY id LIMIT $6 FOR UPDATE SKIP LOCKED)
         RETURNING ${COLUMNS}`,
        [now + holdMs, PROCESS_ID, receivedBefore, now, [...platforms], limit],
      )
    ).rows;
    return rows.sort((a, b) => a.id - b.id).map(toItem);
  }

  async releaseDeadWorkers(isDead: (worker: string) => boolean): Promise<number> {
    const workers = (await this.#pool.query<{ worker: string }>("SELECT DISTINCT worker FROM inbox WHERE finished_at IS NULL AND worker IS NOT NULL")).rows.map((row) => row.worker);
    const dead = workers.filter(isDead);
    if (dead.length === 0) return 0;
    const released = await this.#pool.query("UPDATE inbox SET state = 'pending', lease_until = 0, worker = NULL WHERE finished_at IS NULL AND worker = ANY($1::text[])", [dead]);
    return released.rowCount ?? 0;
  }

  async renew(ids: readonly number[], leaseMs: number, now = Date.now()): Promise<void> {
    if (ids.length === 0) return;
    await this.#pool.query("UPDATE inbox SET lease_until = $1 WHERE id = ANY($2::bigint[]) AND state = 'working'", [now + leaseMs, [...ids]]);
  }

  async saveProgress(id: number, progress: string): Promise<void> {
    await this.#pool.query("UPDATE inbox SET progress = $1 WHERE id = $2 AND finished_at IS NULL", [progress, id]);
  }

  async markProgress(id: number, progress: string, holdMs: number, now = Date.now()): Promise<boolean> {
    // Held while the notice is on its way, by the process that sends it (a restart after its death releases it).
    const marked = await this.#pool.query(
      "UPDATE inbox SET progress = $1, lease_until = GREATEST(lease_until, $2), worker = $3 WHERE id = $4 AND state = 'pending' AND progress IS NULL",
      [progress, now + holdMs, PROCESS_ID, id],
    );
    return marked.rowCount === 1;
  }

  async replaceProgress(id: number, from: string, to: string): Promise<boolean> {
    return (await this.#pool.query("UPDATE inbox SET progress = $1 WHERE id = $2 AND state = 'pending' AND progress = $3", [to, id, from])).rowCount === 1;
  }

  async saveProgressIfNone(id: number, progress: string): Promise<void> {
    await this.#pool.query("UPDATE inbox SET progress = $1 WHERE id = $2 AND finished_at IS NULL AND progress IS NULL", [progress, id]);
  }

  async complete(id: number, now = Date.now()): Promise<boolean> {
    const done = await this.#pool.query(
      DONE_SQL,
      [now, id],
    );
    return done.rowCount === 1;
  }

  async isOpen(id: number): Promise<boolean> {
    return (await this.#pool.query("SELECT 1 FROM inbox WHERE id = $1 AND finished_at IS NULL", [id])).rowCount === 1;
  }

  async makeDue(id: number): Promise<void> {
    await this.#pool.query("UPDATE inbox SET lease_until = 0, worker = NULL WHERE id = $1 AND state = 'pending'", [id]);
  }

  async release(id: number, delayMs = 0, now = Date.now()): Promise<void> {
    await this.#pool.query("UPDATE inbox SET state = 'pending', lease_until = $1 WHERE id = $2 AND state = 'working'", [delayMs === 0 ? 0 : now + delayMs, id]);
  }

  async prune(now = Date.now()): Promise<number> {
    const old = await this.#pool.query(PRUNE_OLD_SQL, [now - this.#limits.doneRetentionMs]);
    const extra = await this.#pool.query(PRUNE_EXTRA_SQL, [this.#limits.maxDoneItems]);
    return (old.rowCount ?? 0) + (extra.rowCount ?? 0);
  }

  async stats(now = Date.now()): Promise<InboxStats> {
    const totals = (await this.#pool.query<{ open: number; bytes: number; pending: number }>('SELECT open_items AS open, open_bytes AS bytes, pending FROM inbox_totals WHERE id = 1')).rows[0]!;
    // Ids grow with receipt, so the first pending item in id order is the oldest.
    const oldest = (await this.#pool.query<{ receivedAt: number }>("SELECT received_at AS \"receivedAt\" FROM inbox WHERE state = 'pending' ORDER BY id LIMIT 1")).rows[0]?.receivedAt;
    return statsOf(totals, oldest, now);
  }
}

async function aheadOf(client: PgClient, lane: string, ord: number, id: number): Promise<number> {
  return (
    await client.query<{ n: number }>("SELECT count(*) AS n FROM inbox WHERE lane_key = $1 AND finished_at IS NULL AND (ord < $2 OR (ord = $2 AND id < $3))", [lane, ord, id])
  ).rows[0]!.n;
}

/** Hold the lane's items before (`ord`, `id`) that wait untouched and unheld, for notices of their own. */
async function holdEarlier(client: PgClient, lane: string, ord: number, id: number, now: number, heldUntil: number): Promise<EarlierNotice[]> {
  const rows = (
    await client.query<{ id: number; ord: number; payload: string }>(
      `SELECT id, ord, payload FROM inbox WHERE lane_key = $1 AND state = 'pending' AND progress IS NULL AND lease_until <= $2
         AND (ord < $3 OR (ord = $3 AND id < $4)) ORDER BY ord, id`,
      [lane, now, ord, id],
    )
  ).rows;
  const earlier: EarlierNotice[] = [];
  for (const row of rows) {
    await client.query("UPDATE inbox SET lease_until = $1, worker = $2 WHERE id = $3 AND state = 'pending'", [heldUntil, PROCESS_ID, row.id]);
    earlier.push({ id: row.id, ahead: await aheadOf(client, lane, row.ord, row.id), payload: row.payload });
  }
  return earlier;
}

/**
 * `store-writes`: what one answered message writes to a SQLite store, by b-tree, when a commit holds
 * G messages' steps. No HTTP and no timing: the real stores (inbox, usage, history) are driven
 * through the steps a worker takes (store before the ack, take, count, mark done with the exchange),
 * each commit holding one step of each of G messages, as a group commit under load does. Before
 * each checkpoint (every `checkpointEvery` commits) the write-ahead log is read frame by frame, and
 * every frame's page is named by `dbstat` on a copy of the database as it stands then (so a page
 * freed and used again by another table is named right); the checkpoint copies each distinct page
 * once more. Deterministic: the same counts on every run and machine, where the side-by-side
 * bench's disk figure moves with how many messages each commit happened to hold.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { storedWork } from '../../adapters/slack/stored-work.ts';
import { SqliteInboxStore } from '../../src/inbox/inbox-store.ts';
import { groupWrite, openDatabase } from '../../src/store/database.ts';
import { SqliteHistoryStore } from '../../src/store/history-store.ts';
import { SqliteUsageStore } from '../../src/store/usage-store.ts';
import { seededRandom } from '../support/seeded-random.ts';
import { tempDir } from '../support/temp-bot.ts';

export interface StoreWritesOptions {
  /** Messages whose steps each commit holds. */
  perCommit: readonly number[];
  /** Messages answered per run. */
  messages: number;
  /** Users the messages come from (each its own conversation). */
  users: number;
  /** Each message counts against the daily question quota too (an answer that may use the LLM), not only the rate limit (a lookup). */
  questions: boolean;
  /** Commits between checkpoints (the checkpoint thread's second at about 40 commits a second). */
  checkpointEvery: number;
}

// Lookups from 200 users, as the side-by-side bench's steady phase sends.
export const STORE_WRITES: StoreWritesOptions = { perCommit: [5, 10, 20], messages: 2_000, users: 200, questions: false, checkpointEvery: 40 };

export interface StoreWritesRun {
  perCommit: number;
  /** Pages written per answered message, to the log and by checkpoints, by b-tree. */
  logPages: Map<string, number>;
  checkpointPages: Map<string, number>;
  /** (log frames × (page + frame header) + checkpointed pages × page) per message, KB. */
  kbPerMessage: number;
}

const FRAME_HEADER = 24;
const WAL_HEADER = 32;

export async function storeWrites(options: StoreWritesOptions = STORE_WRITES): Promise<StoreWritesRun[]> {
  const runs: StoreWritesRun[] = [];
  for (const perCommit of options.perCommit) runs.push(await oneRun(perCommit, options));
  return runs;
}

async function oneRun(perCommit: number, options: StoreWritesOptions): Promise<StoreWritesRun> {
  const dir = tempDir('hrbot-store-writes-');
  const path = join(dir.path, 'hrbot.db');
  const db = openDatabase(path);
  try {
    // The schema's own pages (migrations) are not a message's.
    db.pragma('wal_checkpoint(TRUNCATE)');
    const inbox = new SqliteInboxStore(db);
    const usage = new SqliteUsageStore(db, { perMinute: 1_000_000, dailyQuestions: 1_000_000 });
    const history = new SqliteHistoryStore(db);
    const random = seededRandom(perCommit);
    const log = new Map<string, number>();
    const checkpointed = new Map<string, number>();
    let frames = 0;
    let pages = 0;
    let pageSize = 4096;
    const rounds = Math.ceil(options.messages / perCommit);
    const batches: { ids: number[]; users: string[]; storedAt: number }[] = [];
    let now = Date.parse('2026-11-28T12:00:00Z');
    // Three steps behind the store: take (1 round later), count (2), done with the exchange (3).
    for (let round = 0; round < rounds + 3; round++) {
      now += 25;
      const users = round < rounds ? Array.from({ length: perCommit }, () => `U${Math.floor(random() * options.users)}`) : [];
      const steps: Promise<unknown>[] = [];
      steps.push(
        inbox.enqueueMany(
          users.map((user, i) => ({
            eventKey: `slack:Ev${round}x${i}`,
            eventAt: now,
            platform: 'slack',
            laneKey: `dm:${user}`,
            ownerKey: `slack:T1:${user}`,
            order: now + i,
            payload: payloadOf(user, round, i),
          })),
          now,
        ),
      );
      if (round >= 1) steps.push(inbox.claim(perCommit, 60_000, now));
      const counted = batches[round - 2];
      if (counted !== undefined) {
        counted.ids.forEach((id, i) => steps.push(usage.admit(`slack:T1:${counted.users[i]}`, 'slack:T1', { question: options.questions, admission: { done: false, inboxItemId: id } }, now)));
      }
      const answered = batches[round - 3];
      if (answered !== undefined) {
        const at = now;
        steps.push(
          groupWrite(db, () => {
            answered.ids.forEach((id, i) => {
              const user = answered.users[i]!;
              inbox.completeWith(id, () => void history.appendExchangeNow(exchangeOf(user, round - 3, i, answered.storedAt), at), at);
            });
          }),
        );
      }
      const [stored] = (await Promise.all(steps)) as [Array<{ status: string; id?: number }>];
      batches.push({ ids: stored.map((result) => result.id ?? -1), users, storedAt: now });
      if (round % options.checkpointEvery === options.checkpointEvery - 1 || round === rounds + 2) {
        const counts = namedFrames(path, dir.path);
        pageSize = counts.pageSize;
        for (const [name, n] of counts.frames) log.set(name, (log.get(name) ?? 0) + n);
        for (const [name, n] of counts.distinct) checkpointed.set(name, (checkpointed.get(name) ?? 0) + n);
        frames += counts.total;
        pages += counts.distinctTotal;
        db.pragma('wal_checkpoint(TRUNCATE)');
      }
    }
    const messages = rounds * perCommit;
    const per = (counts: Map<string, number>) => new Map([...counts].map(([name, n]) => [name, n / messages]));
    return {
      perCommit,
      logPages: per(log),
      checkpointPages: per(checkpointed),
      kbPerMessage: (frames * (pageSize + FRAME_HEADER) + pages * pageSize) / 1024 / messages,
    };
  } finally {
    db.close();
    dir.remove();
  }
}

/** The log's frames by the b-tree their page belongs to, on a copy of the database as it stands. */
function namedFrames(path: string, dir: string): { frames: Map<string, number>; distinct: Map<string, number>; total: number; distinctTotal: number; pageSize: number } {
  const frames = new Map<string, number>();
  const distinct = new Map<string, number>();
  if (!existsSync(`${path}-wal`)) return { frames, distinct, total: 0, distinctTotal: 0, pageSize: 4096 };
  const wal = readFileSync(`${path}-wal`);
  const pageSize = wal.readUInt32BE(8);
  const copy = join(dir, 'snapshot.db');
  copyFileSync(path, copy);
  copyFileSync(`${path}-wal`, `${copy}-wal`);
  const snapshot = new Database(copy, { readonly: true });
  const names = new Map<number, string>();
  try {
    for (const row of snapshot.prepare('SELECT pageno, name FROM dbstat').iterate() as IterableIterator<{ pageno: number; name: string }>) names.set(row.pageno, row.name);
  } finally {
    snapshot.close();
  }
  const seen = new Set<number>();
  let total = 0;
  for (let at = WAL_HEADER; at + FRAME_HEADER + pageSize <= wal.length; at += FRAME_HEADER + pageSize) {
    const page = wal.readUInt32BE(at);
    // A page no b-tree holds now was freed since it was written (a freelist page).
    const name = names.get(page) ?? '(free pages)';
    frames.set(name, (frames.get(name) ?? 0) + 1);
    total += 1;
    if (seen.has(page)) continue;
    seen.add(page);
    distinct.set(name, (distinct.get(name) ?? 0) + 1);
  }
  return { frames, distinct, total, distinctTotal: seen.size, pageSize };
}

function payloadOf(user: string, round: number, i: number): string {
  // A Slack DM's work as the Slack adapter stores it.
  return storedWork({
    kind: 'message',
    message: { platform: 'slack', tenantId: 'T1', userId: user, conversationId: `D${user}`, conversationKind: 'dm', privateReplies: true, text: 'policy parental leave', eventId: `Ev${round}x${i}`, threadId: `1710000000.${round}${i}` },
    target: { channel: `D${user}`, userId: user, teamId: 'T1', kind: 'dm', threadTs: `1710000000.${round}${i}`, startsThread: true },
    sentAt: 1710000000000.223,
  });
}

/** The exchange of message `i` of `round`, stored at `storedAt` (its answer id starts with that time, as the worker's does). */
function exchangeOf(user: string, round: number, i: number, storedAt: number) {
  const source = (anchor: string, heading: string) => ({ file: 'parental-leave.md', title: 'Parental Leave', heading, headingPath: `Parental Leave › ${heading}`, anchor });
  return {
    conversationKey: `dm:${user}`,
    ownerKey: `slack:T1:${user}`,
    command: 'policy',
    question: 'policy parental leave',
    answer: { text: '(Showed the handbook: Parental Leave › Eligibility, Birth parent, How to apply)', kind: 'lookup' as const, sources: [source('eligibility', 'Eligibility'), source('birth-parent', 'Birth parent'), source('how-to-apply', 'How to apply')] },
    key: `slack:Ev${round}x${i}`,
    keyAt: storedAt,
  };
}

export function formatStoreWrites(runs: readonly StoreWritesRun[], kind = 'lookups'): string {
  const lines = [`store-writes (${kind}): pages written per answered message (log + checkpoint), by b-tree, at G messages per commit`, ''];
  const names = [...new Set(runs.flatMap((run) => [...run.logPages.keys(), ...run.checkpointPages.keys()]))];
  const pagesOf = (run: StoreWritesRun, name: string) => (run.logPages.get(name) ?? 0) + (run.checkpointPages.get(name) ?? 0);
  const middle = runs[Math.floor(runs.length / 2)]!;
  names.sort((a, b) => pagesOf(middle, b) - pagesOf(middle, a));
  lines.push(`| b-tree | ${runs.map((run) => `G=${run.perCommit}`).join(' | ')} |`, `|---|${runs.map(() => '---:').join('|')}|`);
  for (const name of names.filter((n) => runs.some((run) => pagesOf(run, n) >= 0.005))) lines.push(`| ${name} | ${runs.map((run) => pagesOf(run, name).toFixed(2)).join(' | ')} |`);
  lines.push(`| **KB per message** | ${runs.map((run) => `**${run.kbPerMessage.toFixed(1)}**`).join(' | ')} |`);
  return lines.join('\n');
}

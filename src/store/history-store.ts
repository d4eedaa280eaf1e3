import { randomBytes } from 'node:crypto';
import type { ReplyKind, Source } from '../message.ts';
import type Database from 'better-sqlite3';
import type { Db } from './database.ts';
import { groupWrite, promised, writeTransaction } from './database.ts';
import type { ErasureMark } from './erasure.ts';
import { erasedSince } from './erasure.ts';
import { keyedHash, sortableTime } from './store-key.ts';

/** One turn of a conversation as stored. */
export interface StoredMessage {
  seq: number;
  role: 'user' | 'assistant';
  text: string;
  command: string | null;
  answerId: string | null;
  createdAt: number;
}

/** A question the user asked, for `/hr history`. */
export interface AskedQuestion {
  text: string;
  command: string | null;
  createdAt: number;
}

/** What a user said about an answer they rated down; both parts optional, at least one given. */
export interface FeedbackNote {
  /** One of the form's fixed reasons (its value, e.g. `wrong`). */
  reason?: string;
  /** Free text, at most 2,000 characters (the column's own check). */
  comment?: string;
}

/** Feedback counts for a tenant's admins. */
export interface FeedbackTotals {
  up: number;
  down: number;
  /** Down ratings that came with a reason or text. */
  explained: number;
}

/** What {@link HistoryStore.appendExchange} needs to know. */
export interface Exchange {
  conversationKey: string;
  ownerKey: string;
  command: string;
  question: string;
  answer: { text: string; kind: ReplyKind; sources: readonly Source[] };
  /**
   * What makes the exchange one, e.g. the platform event it answers: appended again with the same
   * key (an answer worked out again after a crash or a failed delivery), nothing is written and the
   * first append's answer id comes back, marked `repeated`. Without a key every append is new.
   */
  key?: string;
  /** When the event of `key` was received, the same on every attempt (ms): the answer's id starts with it. */
  keyAt?: number;
}

/** The appended exchange: the answer's id for feedback, the question's place, and the history's head around it. */
export interface AppendedExchange {
  answerId: string;
  seq: number;
  heads: { before: string; after: string };
  /** The exchange's key was appended before: this is that exchange, and nothing was written. */
  repeated?: boolean;
}

/**
 * Append-only conversation history, on either store. A conversation is its owner's messages under
 * one key: the next place is taken inside the write transaction (after the last, under the owner's
 * lock on PostgreSQL), so two messages never take the same place and nothing is overwritten,
 * whichever process or replica writes. Every question of a conversation names its owner, so one
 * index ordered by owner, conversation and place serves them all (and an erase); an append writes
 * one page of it, not a conversation row and three indexes besides.
 */
export interface HistoryStore {
  /**
   * Append a question and its answer as two consecutive turns; resolves with the answer's id for
   * feedback, or undefined (nothing written) when the owner was erased after `mark` was taken.
   */
  appendExchange(exchange: Exchange, now?: number, mark?: ErasureMark): Promise<AppendedExchange | undefined>;
  /**
   * Where a conversation's history stands: when its oldest kept message was written, and its next
   * place. An erase deletes the messages; a conversation begun again starts at another time.
   */
  head(conversationKey: string, ownerKey: string): Promise<string | undefined>;
  /** The last `limit` turns of one conversation, oldest first. */
  recentTurns(conversationKey: string, ownerKey: string, limit: number): Promise<StoredMessage[]>;
  /** The user's own most recent questions across all their conversations, newest first. */
  recentQuestions(ownerKey: string, limit: number): Promise<AskedQuestion[]>;
  /** Who owns an answer, or undefined if there is no such answer. */
  answerOwner(answerId: string): Promise<string | undefined>;
  /** Store (or change) the owner's rating of their answer. The caller has checked ownership. */
  recordFeedback(answerId: string, ownerKey: string, rating: 'up' | 'down', now?: number): Promise<void>;
  /**
   * Store what the owner said was wrong with their answer, as a down rating with a reason and text.
   * Ownership is checked in the same transaction as the write, so an answer erased or owned by
   * someone else is never written to: 'not_found' or 'forbidden' then, and nothing changes.
   */
  recordFeedbackComment(answerId: string, ownerKey: string, note: FeedbackNote, now?: number): Promise<'saved' | 'not_found' | 'forbidden'>;
  /** Ratings given in one tenant since `since` (ms), for its admins: no text, only counts. */
  feedbackTotals(tenantKey: string, since: number): Promise<FeedbackTotals>;
  /** The stored rating of an answer, if any. */
  feedbackFor(answerId: string): Promise<'up' | 'down' | undefined>;
  /** The sources (JSON) of a tenant's last `limit` answers that had any, with whom each answered, newest first: for suggested topics. */
  recentSources(tenantKey: string, limit: number): Promise<Array<{ owner: string; sources: string }>>;
}

export function headOf(createdAt: number, nextSeq: number): string {
  return `${createdAt}/${nextSeq}`;
}

/** A conversation's place, as {@link HISTORY_SQL.head} reads it (nulls: no message kept). */
export interface ConversationHead {
  createdAt: number | null;
  nextSeq: number | null;
}

/** A conversation's place as numbers (PostgreSQL's BIGINT aggregates may come as text), undefined when none of its messages is kept (MIN and MAX are null together). */
function keptPlace(head: ConversationHead | undefined): { createdAt: number; nextSeq: number } | undefined {
  return head === undefined || head.nextSeq === null || head.createdAt === null ? undefined : { createdAt: Number(head.createdAt), nextSeq: Number(head.nextSeq) };
}

/** The head of a conversation as a string, undefined when none of its messages is kept. */
export function headString(head: ConversationHead | undefined): string | undefined {
  const place = keptPlace(head);
  return place === undefined ? undefined : headOf(place.createdAt, place.nextSeq);
}

/** What an append of an exchange already stored returns: its id and place; the history stands where it is. */
export function repeatedExchange(answerId: string, seq: number, head: ConversationHead | undefined): AppendedExchange {
  const now = headString(head) ?? '';
  return { answerId, seq, heads: { before: now, after: now }, repeated: true };
}

/**
 * A new answer's id (for feedback buttons): unguessable after its time (see sortableTime: ids go to
 * the end of the answer-id index and of feedback's key), so an id in a payload names no one else's answer.
 */
export function newAnswerId(now = Date.now()): string {
  return sortableTime(now) + randomBytes(12).toString('base64url');
}

/**
 * The answer id of an exchange with a key: the store's keyed hash of it, as long as a new one's, so
 * it is as unguessable and the same on every attempt (and every replica); after the time the event
 * was received (`at`, the same on every attempt too) when it is known.
 */
export function keyedAnswerId(hash: (value: string) => string, key: string, at?: number): string {
  const mac = hash(`answer:${key}`).slice(0, 16);
  return at === undefined ? mac : sortableTime(at) + mac;
}

/** The id an append gives the exchange's answer (see newAnswerId, keyedAnswerId). */
export function answerIdOf(exchange: Exchange, hash: (value: string) => string, now: number): string {
  return exchange.key === undefined ? newAnswerId(now) : keyedAnswerId(hash, exchange.key, exchange.keyAt);
}

/** The feedback prefix of a tenant's owner keys (platform:tenant:user), matched without LIKE, whose wildcards a tenant id could contain. */
export function tenantPrefix(tenantKey: string): string {
  return `${tenantKey}:`;
}

/**
 * The history statements, one text for both stores (`?` placeholders, numbered for PostgreSQL);
 * aliases are quoted, which PostgreSQL needs to keep their case.
 */
export const HISTORY_SQL = {
  // Over the conversation's own range of the place index: its few rows, whatever the table holds.
  head: `SELECT MIN(created_at) AS "createdAt", MAX(seq) + 1 AS "nextSeq" FROM messages WHERE owner_key = ? AND conversation_key = ?`,
  appended: `SELECT seq - 1 AS seq FROM messages WHERE answer_id = ? AND role = 'assistant'`,
  insertMessage: `INSERT INTO messages (conversation_key, owner_key, seq, role, command, text, answer_id, answer_kind, sources, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  recentTurns: `SELECT seq, role, text, command, CASE WHEN role = 'assistant' THEN answer_id END AS "answerId", created_at AS "createdAt"
    FROM messages WHERE owner_key = ? AND conversation_key = ? ORDER BY seq DESC LIMIT ?`,
  recentQuestions: `SELECT text, command, created_at AS "createdAt" FROM messages
    WHERE owner_key = ? AND role = 'user' ORDER BY created_at DESC, id DESC LIMIT ?`,
  answerOwner: `SELECT owner_key AS "ownerKey" FROM messages WHERE answer_id = ? AND role = 'assistant'`,
  recordFeedback: `INSERT INTO feedback (answer_id, owner_key, rating, created_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (answer_id) DO UPDATE SET rating = excluded.rating, created_at = excluded.created_at`,
  recordFeedbackComment: `INSERT INTO feedback (answer_id, owner_key, rating, reason, comment, created_at) VALUES (?, ?, 'down', ?, ?, ?)
    ON CONFLICT (answer_id) DO UPDATE SET rating = 'down', reason = excluded.reason, comment = excluded.comment, created_at = excluded.created_at`,
  feedbackTotals: `SELECT CAST(COALESCE(SUM(CASE WHEN rating = 'up' THEN 1 ELSE 0 END), 0) AS BIGINT) AS up,
      CAST(COALESCE(SUM(CASE WHEN rating = 'down' THEN 1 ELSE 0 END), 0) AS BIGINT) AS down,
      CAST(COALESCE(SUM(CASE WHEN comment IS NOT NULL OR reason IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS explained
    FROM feedback WHERE substr(owner_key, 1, ?) = ? AND created_at >= ?`,
  feedbackFor: 'SELECT rating FROM feedback WHERE answer_id = ?',
} as const;

/** Where an exchange goes in a conversation whose head is `head`, and the heads around it (a new conversation starts now). */
export function appendedAt(head: ConversationHead | undefined, now: number): Pick<AppendedExchange, 'seq' | 'heads'> {
  const { createdAt, nextSeq: seq } = keptPlace(head) ?? { createdAt: now, nextSeq: 1 };
  return { seq, heads: { before: headOf(createdAt, seq), after: headOf(createdAt, seq + 2) } };
}

/**
 * The answer-id column of an exchange's question: its answer's id and a mark no answer id has (ids are
 * base 36 and base64url), not NULL. NULLs sort first in the column's unique index, so every question
 * would be written to a second place of it, apart from where the answers' ids go (the end).
 */
function questionRowId(answerId: string): string {
  return `${answerId}.q`;
}

/** The two message rows of an exchange, as {@link HISTORY_SQL.insertMessage} takes them. */
export function exchangeRows(exchange: Exchange, seq: number, answerId: string, now: number): unknown[][] {
  const { conversationKey, ownerKey, command } = exchange;
  // What readers of the sources need (the most-asked sections: file, anchor, heading); titles, heading
  // paths and cited passages are the handbook's, and were most of each row's bytes.
  const sources = exchange.answer.sources.map(({ file, anchor, heading }) => ({ file, anchor, heading }));
  return [
    [conversationKey, ownerKey, seq, 'user', command, exchange.question, questionRowId(answerId), null, null, now],
    [conversationKey, ownerKey, seq + 1, 'assistant', command, exchange.answer.text, answerId, exchange.answer.kind, JSON.stringify(sources), now],
  ];
}

/**
 * {@link HistoryStore} on SQLite (statements prepared once: every answered message appends an
 * exchange). Reads are done before the promise returns; writes join the turn's group commit
 * (groupWrite) and settle once they are on disk.
 */
export class SqliteHistoryStore implements HistoryStore {
  readonly #db: Db;
  readonly #sql: Record<keyof typeof HISTORY_SQL, Database.Statement>;
  readonly #recentSources: Database.Statement;

  constructor(db: Db) {
    this.#db = db;
    this.#recentSources = db.prepare(
      `SELECT owner_key AS owner, sources FROM messages
       WHERE role = 'assistant' AND owner_key >= ? AND owner_key < ? AND sources IS NOT NULL AND sources <> '[]'
       ORDER BY id DESC LIMIT ?`,
    );
    this.#sql = Object.fromEntries(Object.entries(HISTORY_SQL).map(([name, text]) => [name, db.prepare(text)])) as Record<keyof typeof HISTORY_SQL, Database.Statement>;
  }

  appendExchange(exchange: Exchange, now = Date.now(), mark?: ErasureMark): Promise<AppendedExchange | undefined> {
    return groupWrite(this.#db, () => this.appendExchangeNow(exchange, now, mark));
  }

  /** {@link appendExchange}, synchronously (tests and scripts that drive SQLite directly). */
  appendExchangeNow(exchange: Exchange, now = Date.now(), mark?: ErasureMark): AppendedExchange | undefined {
    const answerId = answerIdOf(exchange, (value) => keyedHash(this.#db, value), now);
    return writeTransaction(this.#db, () => {
      if (mark !== undefined && erasedSince(this.#db, exchange.ownerKey, mark)) return undefined;
      const sql = this.#sql;
      const head = sql.head.get(exchange.ownerKey, exchange.conversationKey) as ConversationHead | undefined;
      if (exchange.key !== undefined) {
        const first = sql.appended.get(answerId) as { seq: number } | undefined;
        if (first !== undefined) return repeatedExchange(answerId, first.seq, head);
      }
      const appended = appendedAt(head, now);
      for (const row of exchangeRows(exchange, appended.seq, answerId, now)) sql.insertMessage.run(...row);
      return { answerId, ...appended };
    });
  }

  head(conversationKey: string, ownerKey: string): Promise<string | undefined> {
    return promised(() => headString(this.#sql.head.get(ownerKey, conversationKey) as ConversationHead | undefined));
  }

  recentTurns(conversationKey: string, ownerKey: string, limit: number): Promise<StoredMessage[]> {
    return promised(() => (this.#sql.recentTurns.all(ownerKey, conversationKey, limit) as StoredMessage[]).reverse());
  }

  recentQuestions(ownerKey: string, limit: number): Promise<AskedQuestion[]> {
    return promised(() => this.#sql.recentQuestions.all(ownerKey, limit) as AskedQuestion[]);
  }

  answerOwner(answerId: string): Promise<string | undefined> {
    return promised(() => this.#answerOwner(answerId));
  }

  #answerOwner(answerId: string): string | undefined {
    return (this.#sql.answerOwner.get(answerId) as { ownerKey: string } | undefined)?.ownerKey;
  }

  recordFeedback(answerId: string, ownerKey: string, rating: 'up' | 'down', now = Date.now()): Promise<void> {
    return groupWrite(this.#db, () => {
      this.#sql.recordFeedback.run(answerId, ownerKey, rating, now);
    });
  }

  recordFeedbackComment(answerId: string, ownerKey: string, note: FeedbackNote, now = Date.now()): Promise<'saved' | 'not_found' | 'forbidden'> {
    // groupWrite runs it in a savepoint of its own: the ownership check and the write commit together.
    return groupWrite(this.#db, () => {
      const owner = this.#answerOwner(answerId);
      if (owner === undefined) return 'not_found';
      if (owner !== ownerKey) return 'forbidden';
      this.#sql.recordFeedbackComment.run(answerId, ownerKey, note.reason ?? null, note.comment ?? null, now);
      return 'saved';
    });
  }

  feedbackTotals(tenantKey: string, since: number): Promise<FeedbackTotals> {
    const prefix = tenantPrefix(tenantKey);
    return promised(() => this.#sql.feedbackTotals.get(prefix.length, prefix, since) as FeedbackTotals);
  }

  feedbackFor(answerId: string): Promise<'up' | 'down' | undefined> {
    return promised(() => (this.#sql.feedbackFor.get(answerId) as { rating: 'up' | 'down' } | undefined)?.rating);
  }

  recentSources(tenantKey: string, limit: number): Promise<Array<{ owner: string; sources: string }>> {
    // Owner keys are `platform:tenant:user`; a range on the prefix selects one tenant's rows on the owner index.
    const prefix = tenantPrefix(tenantKey);
    return promised(() => this.#recentSources.all(prefix, `${prefix}\uFFFF`, limit) as Array<{ owner: string; sources: string }>);
  }
}

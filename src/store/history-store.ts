import { randomBytes } from 'node:crypto';
import type { ConversationKind, Platform, ReplyKind, Source } from '../message.ts';
import type { Db } from './database.ts';
import { writeTransaction } from './database.ts';
import type { ErasureMark } from './erasure.ts';
import { erasedSince } from './erasure.ts';

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
  platform: Platform;
  kind: ConversationKind;
  command: string;
  question: string;
  answer: { text: string; kind: ReplyKind; sources: readonly Source[] };
}

/**
 * Append-only conversation history. Each conversation hands out its own sequence numbers inside
 * the write transaction, so two messages never take the same place and nothing is overwritten.
 */
export class HistoryStore {
  readonly #db: Db;
  // Prepared once: every answered message appends an exchange.
  readonly #sql: ReturnType<typeof prepareHistory>;

  constructor(db: Db) {
    this.#db = db;
    this.#sql = prepareHistory(db);
  }

  /**
   * Append a question and its answer as two consecutive turns; returns the answer's id for feedback,
   * or undefined (nothing written) when the owner was erased after `mark` was taken.
   */
  appendExchange(exchange: Exchange, now = Date.now(), mark?: ErasureMark): { answerId: string; seq: number; heads: { before: string; after: string } } | undefined {
    const answerId = randomBytes(12).toString('base64url');
    return writeTransaction(this.#db, () => {
      if (mark !== undefined && erasedSince(this.#db, exchange.ownerKey, mark)) return undefined;
      const sql = this.#sql;
      sql.openConversation.run(exchange.conversationKey, exchange.ownerKey, exchange.platform, exchange.kind, now, now);
      const { seq, createdAt } = sql.takeSeq.get(now, exchange.conversationKey) as { seq: number; createdAt: number };
      const insert = sql.insertMessage;
      insert.run(exchange.conversationKey, exchange.ownerKey, seq, 'user', exchange.command, exchange.question, null, null, null, now);
      insert.run(
        exchange.conversationKey,
        exchange.ownerKey,
        seq + 1,
        'assistant',
        exchange.command,
        exchange.answer.text,
        answerId,
        exchange.answer.kind,
        JSON.stringify(exchange.answer.sources),
        now,
      );
      return { answerId, seq, heads: { before: headOf(createdAt, seq), after: headOf(createdAt, seq + 2) } };
    });
  }

  /**
   * Where a conversation's history stands (see {@link HistorySource.head}): its creation time and next
   * sequence number. An erase deletes the row; a conversation begun again starts at another time.
   */
  head(conversationKey: string): string | undefined {
    const row = this.#sql.head.get(conversationKey) as { createdAt: number; nextSeq: number } | undefined;
    return row === undefined ? undefined : headOf(row.createdAt, row.nextSeq);
  }

  /** The last `limit` turns of one conversation, oldest first. */
  recentTurns(conversationKey: string, limit: number): StoredMessage[] {
    const rows = this.#sql.recentTurns.all(conversationKey, limit) as StoredMessage[];
    return rows.reverse();
  }

  /** The user's own most recent questions across all their conversations, newest first. */
  recentQuestions(ownerKey: string, limit: number): AskedQuestion[] {
    return this.#sql.recentQuestions.all(ownerKey, limit) as AskedQuestion[];
  }

  /** Who owns an answer, or undefined if there is no such answer. */
  answerOwner(answerId: string): string | undefined {
    const row = this.#sql.answerOwner.get(answerId) as
      | { ownerKey: string }
      | undefined;
    return row?.ownerKey;
  }

  /** Store (or change) the owner's rating of their answer. The caller has checked ownership. */
  recordFeedback(answerId: string, ownerKey: string, rating: 'up' | 'down', now = Date.now()): void {
    this.#db
      .prepare(
        `INSERT INTO feedback (answer_id, owner_key, rating, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (answer_id) DO UPDATE SET rating = excluded.rating, created_at = excluded.created_at`,
      )
      .run(answerId, ownerKey, rating, now);
  }

  /**
   * Store what the owner said was wrong with their answer, as a down rating with a reason and text.
   * Ownership is checked in the same transaction as the write, so an answer erased or owned by
   * someone else is never written to: 'not_found' or 'forbidden' then, and nothing changes.
   */
  recordFeedbackComment(answerId: string, ownerKey: string, note: FeedbackNote, now = Date.now()): 'saved' | 'not_found' | 'forbidden' {
    return writeTransaction(this.#db, () => {
      const owner = this.answerOwner(answerId);
      if (owner === undefined) return 'not_found';
      if (owner !== ownerKey) return 'forbidden';
      this.#db
        .prepare(
          `INSERT INTO feedback (answer_id, owner_key, rating, reason, comment, created_at) VALUES (?, ?, 'down', ?, ?, ?)
           ON CONFLICT (answer_id) DO UPDATE SET rating = 'down', reason = excluded.reason, comment = excluded.comment, created_at = excluded.created_at`,
        )
        .run(answerId, ownerKey, note.reason ?? null, note.comment ?? null, now);
      return 'saved';
    });
  }

  /** Ratings given in one tenant since `since` (ms), for its admins: no text, only counts. */
  feedbackTotals(tenantKey: string, since: number): FeedbackTotals {
    // A prefix match on the owner key (platform:tenant:user) without LIKE, whose wildcards a tenant id could contain.
    const prefix = `${tenantKey}:`;
    return this.#db
      .prepare(
        `SELECT COALESCE(SUM(rating = 'up'), 0) AS up, COALESCE(SUM(rating = 'down'), 0) AS down,
           COALESCE(SUM(comment IS NOT NULL OR reason IS NOT NULL), 0) AS explained
         FROM feedback WHERE substr(owner_key, 1, ?) = ? AND created_at >= ?`,
      )
      .get(prefix.length, prefix, since) as FeedbackTotals;
  }

  /** The stored rating of an answer, if any. */
  feedbackFor(answerId: string): 'up' | 'down' | undefined {
    const row = this.#db.prepare('SELECT rating FROM feedback WHERE answer_id = ?').get(answerId) as { rating: 'up' | 'down' } | undefined;
    return row?.rating;
  }
}

function headOf(createdAt: number, nextSeq: number): string {
  return `${createdAt}/${nextSeq}`;
}

function prepareHistory(db: Db) {
  return {
    openConversation: db.prepare(
      `INSERT INTO conversations (conversation_key, owner_key, platform, kind, next_seq, created_at, updated_at)
       VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (conversation_key) DO NOTHING`,
    ),
    takeSeq: db.prepare('UPDATE conversations SET next_seq = next_seq + 2, updated_at = ? WHERE conversation_key = ? RETURNING next_seq - 2 AS seq, created_at AS createdAt'),
    head: db.prepare('SELECT created_at AS createdAt, next_seq AS nextSeq FROM conversations WHERE conversation_key = ?'),
    insertMessage: db.prepare(
      `INSERT INTO messages (conversation_key, owner_key, seq, role, command, text, answer_id, answer_kind, sources, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    recentTurns: db.prepare(
      `SELECT seq, role, text, command, answer_id AS answerId, created_at AS createdAt
       FROM messages WHERE conversation_key = ? ORDER BY seq DESC LIMIT ?`,
    ),
    recentQuestions: db.prepare(
      `SELECT text, command, created_at AS createdAt FROM messages
       WHERE owner_key = ? AND role = 'user' ORDER BY created_at DESC, id DESC LIMIT ?`,
    ),
    answerOwner: db.prepare("SELECT owner_key AS ownerKey FROM messages WHERE answer_id = ? AND role = 'assistant'"),
  };
}

import type { ErasureMark } from '../erasure.ts';
import type { AppendedExchange, AskedQuestion, ConversationHead, Exchange, FeedbackNote, FeedbackTotals, HistoryStore, StoredMessage } from '../history-store.ts';
import { answerIdOf, appendedAt, exchangeRows, HISTORY_SQL, headString, repeatedExchange, tenantPrefix } from '../history-store.ts';
import { numberedParams } from '../sql-params.ts';
import type { PgPool } from './pg-database.ts';
import { pgTransaction } from './pg-database.ts';
import { erasedSinceOnPg, lockOwner } from './pg-owner.ts';
import { pgKeyedHash } from './pg-store-key.ts';

/** The history statements in PostgreSQL's placeholders. */
const SQL = Object.fromEntries(Object.entries(HISTORY_SQL).map(([name, text]) => [name, numberedParams(text)])) as Record<keyof typeof HISTORY_SQL, string>;

/**
 * {@link HistoryStore} on PostgreSQL. An append holds the owner's advisory lock (as an erase does),
 * so an erase and an answer written at the same time on two replicas never interleave, and the
 * places of a conversation (all its owner's) are handed out one writer at a time.
 */
export class PgHistoryStore implements HistoryStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async appendExchange(exchange: Exchange, now = Date.now(), mark?: ErasureMark): Promise<AppendedExchange | undefined> {
    const answerId = answerIdOf(exchange, await pgKeyedHash(this.#pool), now);
    return pgTransaction(this.#pool, async (client) => {
      await lockOwner(client, exchange.ownerKey);
      if (mark !== undefined && (await erasedSinceOnPg(this.#pool, client, exchange.ownerKey, mark))) return undefined;
      const head = (await client.query<ConversationHead>(SQL.head, [exchange.ownerKey, exchange.conversationKey])).rows[0];
      if (exchange.key !== undefined) {
        // Under the owner's lock: two replicas appending the same key cannot both find it missing.
        const first = (await client.query<{ seq: number }>(SQL.appended, [answerId])).rows[0];
        if (first !== undefined) return repeatedExchange(answerId, first.seq, head);
      }
      const appended = appendedAt(head, now);
      for (const row of exchangeRows(exchange, appended.seq, answerId, now)) await client.query(SQL.insertMessage, row);
      return { answerId, ...appended };
    });
  }

  async head(conversationKey: string, ownerKey: string): Promise<string | undefined> {
    return headString((await this.#pool.query<ConversationHead>(SQL.head, [ownerKey, conversationKey])).rows[0]);
  }

  async recentTurns(conversationKey: string, ownerKey: string, limit: number): Promise<StoredMessage[]> {
    return (await this.#pool.query<StoredMessage>(SQL.recentTurns, [ownerKey, conversationKey, limit])).rows.reverse();
  }

  async recentQuestions(ownerKey: string, limit: number): Promise<AskedQuestion[]> {
    return (await this.#pool.query<AskedQuestion>(SQL.recentQuestions, [ownerKey, limit])).rows;
  }

  async answerOwner(answerId: string): Promise<string | undefined> {
    return (await this.#pool.query<{ ownerKey: string }>(SQL.answerOwner, [answerId])).rows[0]?.ownerKey;
  }

  async recordFeedback(answerId: string, ownerKey: string, rating: 'up' | 'down', now = Date.now()): Promise<void> {
    await this.#pool.query(SQL.recordFeedback, [answerId, ownerKey, rating, now]);
  }

  recordFeedbackComment(answerId: string, ownerKey: string, note: FeedbackNote, now = Date.now()): Promise<'saved' | 'not_found' | 'forbidden'> {
    return pgTransaction(this.#pool, async (client) => {
      // The answer row is locked while its owner is checked, so an erase cannot slip in between.
      const owner = (await client.query<{ ownerKey: string }>(`${SQL.answerOwner} FOR UPDATE`, [answerId])).rows[0]?.ownerKey;
      if (owner === undefined) return 'not_found';
      if (owner !== ownerKey) return 'forbidden';
      await client.query(SQL.recordFeedbackComment, [answerId, ownerKey, note.reason ?? null, note.comment ?? null, now]);
      return 'saved';
    });
  }

  async feedbackTotals(tenantKey: string, since: number): Promise<FeedbackTotals> {
    const prefix = tenantPrefix(tenantKey);
    return (await this.#pool.query<FeedbackTotals>(SQL.feedbackTotals, [prefix.length, prefix, since])).rows[0]!;
  }

  async recentSources(tenantKey: string, limit: number): Promise<Array<{ owner: string; sources: string }>> {
    const prefix = tenantPrefix(tenantKey);
    // starts_with: a prefix test without LIKE, whose wildcards a tenant id could contain.
    const rows = await this.#pool.query<{ owner: string; sources: string }>(
      `SELECT owner_key AS owner, sources FROM messages
       WHERE role = 'assistant' AND starts_with(owner_key, $1) AND sources IS NOT NULL AND sources <> '[]'
       ORDER BY id DESC LIMIT $2`,
      [prefix, limit],
    );
    return rows.rows;
  }

  async feedbackFor(answerId: string): Promise<'up' | 'down' | undefined> {
    return (await this.#pool.query<{ rating: 'up' | 'down' }>(SQL.feedbackFor, [answerId])).rows[0]?.rating;
  }
}

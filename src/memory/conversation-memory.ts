import { LRUCache } from 'lru-cache';
import type { StoredMessage } from '../store/history-store.ts';

/** Bounds; defaults in `.env.example` (MEMORY_*). */
export interface ConversationMemoryOptions {
  /** Earlier turns kept per conversation (and so put into a prompt). */
  turns: number;
  /** Estimated tokens those turns may hold together; older turns are dropped first. */
  maxTokens: number;
  /** Conversations kept in memory, least recently used evicted. */
  maxConversations: number;
  /** A conversation untouched this long is dropped, and reloaded from history when the user returns. */
  idleTtlMs: number;
}

export const DEFAULT_MEMORY_OPTIONS: ConversationMemoryOptions = {
  turns: 6,
  maxTokens: 1_500,
  maxConversations: 5_000,
  idleTtlMs: 30 * 60_000,
};

/** The append-only history memory reads from (the history store). */
export interface HistorySource {
  /** The last `limit` turns of a conversation (its owner's), oldest first. */
  recentTurns(conversationKey: string, ownerKey: string, limit: number): Promise<StoredMessage[]>;
  /**
   * Where the conversation's stored history stands: changed by every exchange appended and by an
   * erase, whichever process wrote it; undefined when none is stored.
   */
  head(conversationKey: string, ownerKey: string): Promise<string | undefined>;
}

/** Where the history stood before and after an exchange this process appended. */
export interface AppendedHeads {
  before: string;
  after: string;
}

interface Entry {
  owner: string;
  turns: StoredMessage[];
  /** The history's head these turns were read at. */
  head: string | undefined;
}

/** About four characters per token: close enough to bound a prompt, and needs no tokenizer. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * The recent turns of active conversations, so a question does not cost a history read, with every
 * dimension bounded: turns and tokens per conversation, conversations in total (LRU), and idle time.
 * Memory therefore stays flat however many users there are; the append-only history in the store stays
 * the source of truth, and an evicted or expired conversation is reloaded from it on the next question.
 * Each read checks the history's head (one keyed read), so turns another process appended, or an
 * erase made on another process, are never missed: memory saves reading the turns, never their truth.
 */
export class ConversationMemory {
  readonly #options: ConversationMemoryOptions;
  readonly #history: HistorySource;
  readonly #entries: LRUCache<string, Entry>;

  constructor(history: HistorySource, options: Partial<ConversationMemoryOptions> = {}) {
    this.#options = { ...DEFAULT_MEMORY_OPTIONS, ...options };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${value}`);
    }
    this.#history = history;
    // No autopurge: expiry is checked on access, so no timer outlives the memory.
    this.#entries = new LRUCache<string, Entry>({ max: this.#options.maxConversations, ttl: this.#options.idleTtlMs, updateAgeOnGet: true });
  }

  /** Conversations held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** The bounded recent turns of one conversation, oldest first (loaded from history on a miss, or when it moved on). */
  async recent(conversationKey: string, ownerKey: string): Promise<readonly StoredMessage[]> {
    // Read before the turns: should another process append in between, the next read sees a newer head and reloads.
    const head = await this.#history.head(conversationKey, ownerKey);
    const entry = this.#entries.get(conversationKey);
    if (entry !== undefined && entry.head === head) return entry.turns;
    const loaded = { owner: ownerKey, turns: this.#bound(await this.#history.recentTurns(conversationKey, ownerKey, this.#options.turns)), head };
    this.#entries.set(conversationKey, loaded);
    return loaded.turns;
  }

  /**
   * Add turns just written to history. A conversation not in memory, or one whose memory was not at
   * the head this exchange was appended to (another process wrote in between), is read again later.
   */
  append(conversationKey: string, turns: readonly StoredMessage[], heads: AppendedHeads): void {
    const entry = this.#entries.peek(conversationKey);
    if (entry === undefined) return;
    if (entry.head !== heads.before) {
      this.#entries.delete(conversationKey);
      return;
    }
    entry.turns = this.#bound([...entry.turns, ...turns]);
    entry.head = heads.after;
  }

  /** Drop every conversation of one user (after `/hr forget`); returns how many were dropped. */
  forgetOwner(ownerKey: string): number {
    let dropped = 0;
    for (const [key, entry] of this.#entries.entries()) {
      if (entry.owner === ownerKey && this.#entries.delete(key)) dropped += 1;
    }
    return dropped;
  }

  /** Total turns and estimated tokens held (for tests of the bounds). */
  get footprint(): { conversations: number; turns: number; tokens: number } {
    let turns = 0;
    let tokens = 0;
    for (const entry of this.#entries.values()) {
      turns += entry.turns.length;
      for (const turn of entry.turns) tokens += estimateTokens(turn.text);
    }
    return { conversations: this.#entries.size, turns, tokens };
  }

  /** Keep the newest turns that fit both bounds; a single oversized turn is cut to the token budget. */
  #bound(turns: readonly StoredMessage[]): StoredMessage[] {
    const { maxTokens } = this.#options;
    const kept: StoredMessage[] = [];
    let tokens = 0;
    for (let i = turns.length - 1; i >= 0 && kept.length < this.#options.turns; i--) {
      const turn = turns[i];
      if (turn === undefined) continue;
      const cost = estimateTokens(turn.text);
      if (tokens + cost > maxTokens) {
        if (kept.length === 0) kept.unshift({ ...turn, text: turn.text.slice(0, maxTokens * 4) });
        break;
      }
      tokens += cost;
      kept.unshift(turn);
    }
    return kept;
  }
}

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

/** Reads the last `limit` turns of a conversation from the append-only history, oldest first. */
export type HistoryLoader = (conversationKey: string, limit: number) => StoredMessage[];

interface Entry {
  owner: string;
  turns: StoredMessage[];
}

/** About four characters per token: close enough to bound a prompt, and needs no tokenizer. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * The recent turns of active conversations, so a question does not cost a history read, with every
 * dimension bounded: turns and tokens per conversation, conversations in total (LRU), and idle time.
 * Memory therefore stays flat however many users there are; the append-only history in SQLite stays
 * the source of truth, and an evicted or expired conversation is reloaded from it on the next question.
 */
export class ConversationMemory {
  readonly #options: ConversationMemoryOptions;
  readonly #load: HistoryLoader;
  readonly #entries: LRUCache<string, Entry>;

  constructor(load: HistoryLoader, options: Partial<ConversationMemoryOptions> = {}) {
    this.#options = { ...DEFAULT_MEMORY_OPTIONS, ...options };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${value}`);
    }
    this.#load = load;
    // No autopurge: expiry is checked on access, so no timer outlives the memory.
    this.#entries = new LRUCache<string, Entry>({ max: this.#options.maxConversations, ttl: this.#options.idleTtlMs, updateAgeOnGet: true });
  }

  /** Conversations held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** The bounded recent turns of one conversation, oldest first (loaded from history on a miss). */
  recent(conversationKey: string, ownerKey: string): readonly StoredMessage[] {
    let entry = this.#entries.get(conversationKey);
    if (entry === undefined) {
      entry = { owner: ownerKey, turns: this.#bound(this.#load(conversationKey, this.#options.turns)) };
      this.#entries.set(conversationKey, entry);
    }
    return entry.turns;
  }

  /** Add turns just written to history. A conversation not in memory is left to load them later. */
  append(conversationKey: string, turns: readonly StoredMessage[]): void {
    const entry = this.#entries.get(conversationKey);
    if (entry === undefined) return;
    entry.turns = this.#bound([...entry.turns, ...turns]);
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

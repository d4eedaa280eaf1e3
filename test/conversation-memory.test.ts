import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistorySource } from '../src/memory/conversation-memory.ts';
import { ConversationMemory, estimateTokens } from '../src/memory/conversation-memory.ts';
import type { StoredMessage } from '../src/store/history-store.ts';

function turn(seq: number, text: string): StoredMessage {
  return { seq, role: seq % 2 === 1 ? 'user' : 'assistant', text, command: 'ask', answerId: null, createdAt: 0 };
}

/**
 * A fake history: every conversation starts with 40 stored turns of about 50 tokens each; `write`
 * moves a conversation's head on as another process appending to it would.
 */
function history(loads: string[]): HistorySource & { write(key: string): void; headNow(key: string): string } {
  const heads = new Map<string, number>();
  return {
    recentTurns(key, _owner, limit) {
      loads.push(key);
      const all = Array.from({ length: 40 + 2 * (heads.get(key) ?? 0) }, (_, i) => turn(i + 1, `${key} turn ${i + 1} `.padEnd(200, '.')));
      return Promise.resolve(all.slice(-limit));
    },
    head: (key) => Promise.resolve(`h${heads.get(key) ?? 0}`),
    write(key) {
      heads.set(key, (heads.get(key) ?? 0) + 1);
    },
    headNow: (key) => `h${heads.get(key) ?? 0}`,
  };
}

/** The heads around an exchange this process appends to the fake history. */
function appended(source: ReturnType<typeof history>, key: string) {
  const before = source.headNow(key);
  source.write(key);
  return { before, after: source.headNow(key) };
}

void describe('conversation memory', () => {
  void it('keeps the last N turns within M tokens per conversation', async () => {
    const source = history([]);
    const memory = new ConversationMemory(source, { turns: 6, maxTokens: 120, maxConversations: 10, idleTtlMs: 60_000 });
    const turns = await memory.recent('c1', 'alice');
    assert.ok(turns.length <= 6);
    assert.ok(turns.reduce((sum, t) => sum + estimateTokens(t.text), 0) <= 120);
    assert.equal(turns.at(-1)?.seq, 40, 'the newest turns are the ones kept');
    memory.append('c1', [turn(41, 'x'.repeat(10_000))], appended(source, 'c1'));
    const after = await memory.recent('c1', 'alice');
    assert.equal(after.length, 1, 'one oversized turn is all that fits');
    assert.ok(estimateTokens(after[0]!.text) <= 120, 'and it is cut to the budget');
  });

  void it('stays flat as users grow: at most K conversations, each bounded', async () => {
    const source = history([]);
    const memory = new ConversationMemory(source, { turns: 4, maxTokens: 100, maxConversations: 50, idleTtlMs: 60_000 });
    for (let i = 0; i < 5_000; i++) {
      await memory.recent(`conversation-${i}`, `user-${i}`);
      memory.append(`conversation-${i}`, [turn(41, 'question'), turn(42, 'answer '.repeat(50))], appended(source, `conversation-${i}`));
    }
    const footprint = memory.footprint;
    assert.equal(footprint.conversations, 50);
    assert.ok(footprint.turns <= 50 * 4);
    assert.ok(footprint.tokens <= 50 * 100);
  });

  void it('expires idle conversations and reloads them from history when the user returns', async () => {
    const loads: string[] = [];
    const memory = new ConversationMemory(history(loads), { turns: 2, maxTokens: 1_000, maxConversations: 10, idleTtlMs: 30 });
    await memory.recent('c1', 'alice');
    await memory.recent('c1', 'alice');
    assert.deepEqual(loads, ['c1'], 'a second question is served from memory');
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal((await memory.recent('c1', 'alice')).length, 2);
    assert.deepEqual(loads, ['c1', 'c1'], 'reloaded after the idle TTL');
  });

  void it('forgets every conversation of one user', async () => {
    const memory = new ConversationMemory(history([]), { turns: 2, maxTokens: 1_000, maxConversations: 10, idleTtlMs: 60_000 });
    await memory.recent('a1', 'alice');
    await memory.recent('a2', 'alice');
    await memory.recent('b1', 'bob');
    assert.equal(memory.forgetOwner('alice'), 2);
    assert.equal(memory.size, 1);
  });

  void it('reads again what another process wrote or erased, and keeps what this one appended', async () => {
    const loads: string[] = [];
    const source = history(loads);
    const memory = new ConversationMemory(source, { turns: 2, maxTokens: 1_000, maxConversations: 10, idleTtlMs: 60_000 });
    await memory.recent('c1', 'alice');
    memory.append('c1', [turn(41, 'mine'), turn(42, 'answer')], appended(source, 'c1'));
    assert.deepEqual(
      (await memory.recent('c1', 'alice')).map((t) => t.text),
      ['mine', 'answer'],
      'an exchange this process appended is served from memory',
    );
    assert.deepEqual(loads, ['c1']);
    source.write('c1'); // another process answered in this conversation (or erased it)
    assert.equal((await memory.recent('c1', 'alice')).at(-1)?.seq, 44, 'its turns are read from the history');
    assert.deepEqual(loads, ['c1', 'c1']);
    const stale = { before: 'h-elsewhere', after: 'h-later' };
    memory.append('c1', [turn(45, 'late')], stale);
    await memory.recent('c1', 'alice');
    assert.deepEqual(loads, ['c1', 'c1', 'c1'], 'an append onto a head memory did not hold is not trusted: read again');
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { EXCERPTS_LABEL } from '../src/answer/handbook-excerpts.ts';
import { AnswerCache, answerCacheKey, normalizeQuestion } from '../src/cache/answer-cache.ts';
import type { CachedAnswer } from '../src/cache/answer-cache.ts';
import { validateAnswer } from '../src/cache/answer-validation.ts';
import { NOT_COVERED } from '../src/llm/prompt.ts';
import { createLogger } from '../src/log/logger.ts';
import { openDatabase } from '../src/store/database.ts';
import type { Db } from '../src/store/database.ts';
import { eraseOwner } from '../src/store/erasure.ts';
import { tempDir } from './support/temp-bot.ts';

const SOURCE = { file: 'pto.md', title: 'PTO', heading: 'Carry-over', headingPath: 'PTO › Carry-over', anchor: 'carry-over' };
const ANSWER: CachedAnswer = { text: 'Up to five unused PTO days carry over into the next year [1].', sources: [SOURCE] };

async function withCache(
  body: (cache: AnswerCache, db: Db, logs: () => Array<Record<string, unknown>>) => Promise<void>,
  options = { maxEntries: 100, maxBytes: 1_000_000, maxRows: 1_000 },
): Promise<void> {
  const dir = tempDir();
  const db = openDatabase(join(dir.path, 'cache.db'));
  let text = '';
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const log = createLogger({ destination: sink, pseudonymKey: 'k' });
  try {
    await body(new AnswerCache(db, options, { log }), db, () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
  } finally {
    db.close();
    dir.remove();
  }
}

const key = (question: string, handbookVersion = 'v1') => answerCacheKey({ question, handbookVersion, modelId: 'm', promptVersion: 'p1' });

void describe('answer validation', () => {
  const base = { text: ANSWER.text, stopReason: 'end_turn', sectionCount: 2 };
  void it('accepts a complete, grounded answer', () => {
    assert.deepEqual(validateAnswer(base), { ok: true });
  });
  void it('rejects empty, short, truncated, ungrounded, fallback, refusal, not-covered and uncited answers', () => {
    const cases: Array<[Partial<typeof base>, string]> = [
      [{ text: '   ' }, 'empty'],
      [{ text: 'Yes [1].' }, 'too_short'],
      [{ stopReason: 'max_tokens' }, 'truncated'],
      [{ stopReason: 'guardrail_intervened' }, 'truncated'],
      [{ sectionCount: 0 }, 'ungrounded'],
      [{ text: `${EXCERPTS_LABEL}\n\n**PTO**\nFive days carry over.` }, 'fallback'],
      [{ text: "I'm sorry, but I can't help with that request at all." }, 'refusal'],
      [{ text: 'Error: the model failed to produce an answer.' }, 'refusal'],
      [{ text: `${NOT_COVERED} Please contact HR at hr@example.com.` }, 'not_covered'],
      [{ text: 'Up to five unused PTO days carry over into the next year.' }, 'uncited'],
      [{ text: 'Up to five unused PTO days carry over into the next year [3].' }, 'uncited'],
    ];
    for (const [change, reason] of cases) assert.deepEqual(validateAnswer({ ...base, ...change }), { ok: false, reason }, reason);
  });
});

void describe('answer cache', () => {
  void it('keys on the normalized question, handbook version, model and prompt version', () => {
    assert.equal(normalizeQuestion('  How many   PTO days?? '), 'how many pto days');
    assert.equal(key('How many PTO days?'), key('how many pto days'));
    assert.notEqual(key('How many PTO days?'), key('How many PTO days?', 'v2'), 're-indexing changes the key');
    assert.notEqual(key('a'), answerCacheKey({ question: 'a', handbookVersion: 'v1', modelId: 'other', promptVersion: 'p1' }));
    assert.notEqual(key('a'), answerCacheKey({ question: 'a', handbookVersion: 'v1', modelId: 'm', promptVersion: 'p2' }));
  });

  void it('serves from memory and, after a restart of the memory tier, from SQLite', () =>
    withCache(async (cache) => {
      const k = key('pto carry over');
      assert.equal(await cache.get(k), undefined);
      await cache.set(k, ANSWER, 'console:local:alice');
      assert.deepEqual(await cache.get(k), ANSWER);
      cache.clearMemory();
      assert.deepEqual(await cache.get(k), ANSWER);
      assert.equal(cache.sizes.entries, 1, 'a store hit is promoted to memory');
    }));

  void it('deletes a row that fails its checksum or does not parse, logs it once, and treats it as a miss', () =>
    withCache(async (cache, db, logs) => {
      const tampered = key('tampered');
      const garbage = key('garbage');
      await cache.set(tampered, ANSWER, 'u1');
      await cache.set(garbage, ANSWER, 'u1');
      cache.clearMemory();
      db.prepare('UPDATE answer_cache SET payload = ? WHERE cache_key = ?').run(JSON.stringify({ text: 'Something else entirely', sources: [] }), tampered);
      db.prepare("UPDATE answer_cache SET payload = '{not json', checksum = ? WHERE cache_key = ?").run('x', garbage);
      // Even a row with a matching checksum but the wrong shape is refused.
      const shapeless = key('shapeless');
      await cache.set(shapeless, ANSWER, 'u1');
      cache.clearMemory();
      const payload = JSON.stringify({ text: '', sources: 'nope' });
      db.prepare('UPDATE answer_cache SET payload = ?, checksum = ? WHERE cache_key = ?').run(
        payload,
        createHash('sha256').update(shapeless).update('\n').update(payload).digest('base64url'),
        shapeless,
      );

      for (const k of [tampered, garbage, shapeless]) {
        assert.equal(await cache.get(k), undefined);
        assert.equal(await cache.get(k), undefined, 'still a miss, and not logged again');
      }
      assert.equal(db.prepare('SELECT COUNT(*) FROM answer_cache').pluck().get(), 0);
      const warnings = logs().filter((l) => l.msg === 'corrupt answer-cache row deleted');
      assert.equal(warnings.length, 3);
      assert.ok(!JSON.stringify(warnings).includes('Something else'), 'the row content is not logged');
    }));

  void it('bounds memory by entries and bytes, and SQLite by rows with the oldest evicted', () =>
    withCache(
      async (cache, db) => {
        for (let i = 0; i < 500; i++) await cache.set(key(`question ${i}`), { text: `Answer number ${i} `.repeat(20), sources: [SOURCE] }, 'u', 1_000 + i);
        const sizes = cache.sizes;
        assert.ok(sizes.entries <= 50, `entries ${sizes.entries}`);
        assert.ok(sizes.bytes <= 40_000, `bytes ${sizes.bytes}`);
        assert.equal(await cache.storedRows(), 200);
        const oldest = db.prepare('SELECT MIN(created_at) FROM answer_cache').pluck().get();
        assert.equal(oldest, 1_300, 'the 300 oldest rows were evicted');
        cache.clearMemory();
        assert.equal(await cache.get(key('question 0')), undefined);
        assert.ok(await cache.get(key('question 499')) !== undefined);
      },
      { maxEntries: 50, maxBytes: 40_000, maxRows: 200 },
    ));

  void it('erases rows and memory entries derived from one user in the erase transaction', () =>
    withCache(async (cache, db) => {
      await cache.set(key('alice question'), ANSWER, 'console:local:alice');
      await cache.set(key('bob question'), ANSWER, 'console:local:bob');
      const report = eraseOwner(db, 'console:local:alice', [cache.erasureStep]);
      assert.equal(report.cachedAnswers, 1);
      assert.equal(await cache.get(key('alice question')), undefined, 'gone from memory too');
      assert.deepEqual(await cache.get(key('bob question')), ANSWER);
    }));
});


// AI answers through the engine, as the adapters use it: startTempBot with Bedrock settings pointing at
// the fake, so the real config, core wiring, gateway, SDK, cache and memory all run.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EXCERPTS_LABEL } from '../src/answer/handbook-excerpts.ts';
import { BUSY_NOTE, UNAVAILABLE_NOTE } from '../src/answer/llm-answerer.ts';
import type { Progress } from '../src/message.ts';
import { bedrockEnv, defaultReply, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock, FakeBedrockOptions } from './fakes/fake-bedrock.ts';
import type { TempBot } from './support/temp-bot.ts';
import { ask, dm, startTempBot } from './support/temp-bot.ts';

const MODEL_ID = 'anthropic.claude-3-haiku-20240307-v1:0';
const QUESTION = 'How many vacation days do I get?';
/** A question that leans on the conversation, so earlier turns go into its prompt. */
const FOLLOW_UP = 'And what about vacation days?';

async function withBot(
  body: (fake: FakeBedrock, bot: TempBot) => Promise<void>,
  env: Record<string, string> = {},
  fakeOptions: FakeBedrockOptions = {},
): Promise<void> {
  const fake = await startFakeBedrock(fakeOptions);
  const bot = startTempBot({
    ...bedrockEnv(fake.url, MODEL_ID),
    LLM_BACKOFF_BASE_MS: '5',
    LLM_BACKOFF_MAX_MS: '50',
    ...env,
  });
  try {
    await body(fake, bot);
  } finally {
    bot.close();
    await fake.close();
  }
}

function cacheRows(bot: TempBot): Array<{ payload: string; origin: string }> {
  return bot.core.db.prepare('SELECT payload, origin_owner_key AS origin FROM answer_cache').all() as Array<{ payload: string; origin: string }>;
}

void describe('AI answers through the engine', () => {
  void it('answers a DM from Bedrock, grounded in numbered handbook sections, cites sources and records tokens', async () => {
    await withBot(
      async (fake, bot) => {
        const reply = await ask(bot.core, dm(QUESTION));
        assert.equal(reply.kind, 'answer');
        assert.match(reply.text, /^According to the handbook/);
        assert.ok(reply.sources.length > 0);
        assert.ok(reply.sources.some((s) => s.file === 'pto.md'));
        assert.equal(fake.calls.length, 1);
        const body = fake.calls[0]?.body;
        assert.equal(body.inferenceConfig.maxTokens, 321);
        assert.match(body.system[0].text, /^\[1\] /m);
        assert.match(body.system[0].text, /only from the numbered handbook passages/i);

        const usage = await ask(bot.core, dm('/hr usage'));
        assert.match(usage.text, /AI tokens today: [1-9]\d* /);
        assert.equal(bot.core.engine.metrics.value('hrbot_llm_calls_total', { outcome: 'ok' }), 1);
      },
      { BEDROCK_MAX_TOKENS: '321' },
    );
  });

  void it('`/hr ask` is answered the same way, and a second user asking the same question is served from the cache', async () => {
    await withBot(async (fake, bot) => {
      const first = await ask(bot.core, dm(`/hr ask ${QUESTION}`, 'alice'));
      const second = await ask(bot.core, dm(QUESTION.toLowerCase(), 'bob'));
      assert.equal(fake.calls.length, 1);
      assert.equal(second.text, first.text);
      assert.deepEqual(second.sources, first.sources);
      assert.equal(cacheRows(bot)[0]?.origin, 'console:local:alice');
    });
  });

  void it('when the model finds the passages do not answer, the reply names who in HR can help, as when the search finds nothing, and nothing is cached', async () => {
    await withBot(async (fake, bot) => {
      // As models write it: a typographic apostrophe, a vague pointer to HR, no citation.
      fake.reply(() => ({ text: 'The handbook doesn\u2019t cover this. You may want to ask HR.' }));
      const question = 'How many vacation days can I carry over into next year?';
      const first = await ask(bot.core, dm(question, 'alice'));
      assert.match(first.text, /handbook doesn't seem to cover _How many vacation days can I carry over into next year\?_/);
      assert.match(first.text, /can help: [^\s]+@northwind\.example/, 'a contact from the handbook, not the model\'s "ask HR"');
      assert.doesNotMatch(first.text, /You may want to ask HR/);
      assert.equal(bot.core.engine.metrics.value('hrbot_not_covered_total', { by: 'model' }), 1);

      // Not pinned in the cache: the next asker gets the model again.
      await ask(bot.core, dm(question, 'bob'));
      assert.equal(fake.calls.filter((call) => call.operation !== 'invoke').length, 2);
      assert.equal(cacheRows(bot).length, 0);

      // A "not covered" that still cites a passage is an answer, shown as the model wrote it.
      fake.reply(() => ({ text: "The handbook doesn't cover this exactly, but unused days carry over as described in [1]." }));
      const cited = await ask(bot.core, dm('Do unused vacation days roll over?', 'carol'));
      assert.equal(cited.kind, 'answer');
      assert.match(cited.text, /as described in \[1\]/);
      assert.equal(bot.core.engine.metrics.value('hrbot_not_covered_total', { by: 'model' }), 2, 'alice and bob only');
    });
  });

  void it('never serves an answer that used one user’s conversation to another user (adversarial)', async () => {
    await withBot(async (fake, bot) => {
      // The model echoes anything private it sees in earlier turns, as a real one might.
      fake.reply((request) => {
        const secret = /SECRET-\d+/.exec(request.messages.slice(0, -1).map((m) => m.text).join('\n'))?.[0];
        const base = defaultReply(request);
        return secret === undefined ? base : { ...base, text: `${base.text} (Noted for employee ${secret}.)` };
      });
      await ask(bot.core, dm('/hr ask my employee id is SECRET-4242, what is the parental leave policy?', 'carol'));
      const callsBefore = fake.calls.length;
      const carol = await ask(bot.core, dm(FOLLOW_UP, 'carol'));
      assert.match(carol.text, /SECRET-4242/, 'the context reached the model');
      assert.equal(fake.calls.length, callsBefore + 1);

      const dave = await ask(bot.core, dm(FOLLOW_UP, 'dave'));
      assert.equal(fake.calls.length, callsBefore + 2, 'dave’s question went to the model, not to carol’s answer');
      assert.doesNotMatch(dave.text, /SECRET/);
      assert.ok(cacheRows(bot).every((row) => !row.payload.includes('Noted for employee')), 'no context answer was cached');

      // And the other way round: a cached shared answer is not served to a conversation with context.
      const erin = await ask(bot.core, dm(FOLLOW_UP, 'erin'));
      assert.equal(erin.text, dave.text, 'erin (fresh) gets the shared answer');
      const before = fake.calls.length;
      await ask(bot.core, dm(FOLLOW_UP, 'carol'));
      assert.equal(fake.calls.length, before + 1, 'carol, with context, is answered privately');
    });
  });

  void it('puts the bounded conversation memory into the prompt', async () => {
    await withBot(
      async (fake, bot) => {
        await ask(bot.core, dm('What is the parental leave policy?', 'alice'));
        await ask(bot.core, dm('And what about sick leave?', 'alice'));
        await ask(bot.core, dm(FOLLOW_UP, 'alice'));
        const messages = fake.calls.at(-1)?.body.messages as Array<{ role: string; content: Array<{ text: string }> }>;
        assert.deepEqual(
          messages.map((m) => m.role),
          ['user', 'assistant', 'user'],
          'MEMORY_TURNS=2: only the last exchange, then the question',
        );
        assert.equal(messages[0]?.content[0]?.text, 'And what about sick leave?');
        assert.equal(messages[2]?.content[0]?.text, FOLLOW_UP);
      },
      { MEMORY_TURNS: '2' },
    );
  });

  void it('answers a question that stands alone without earlier turns, from the shared cache', async () => {
    await withBot(async (fake, bot) => {
      await ask(bot.core, dm(QUESTION, 'frank'));
      await ask(bot.core, dm('What is the parental leave policy?', 'gwen'));
      const before = fake.calls.length;
      const gwen = await ask(bot.core, dm(QUESTION, 'gwen'));
      assert.equal(fake.calls.length, before, 'served from the cache frank filled');
      assert.equal(gwen.kind, 'answer');
      await ask(bot.core, dm(FOLLOW_UP, 'gwen'));
      const messages = fake.calls.at(-1)?.body.messages as unknown[];
      assert.ok(messages.length > 1, 'a follow-up carries the conversation');
    });
  });

  void it('reloads an evicted conversation from the stored history when the user returns', async () => {
    await withBot(
      async (fake, bot) => {
        await ask(bot.core, dm('What is the parental leave policy?', 'alice'));
        await ask(bot.core, dm('What is the sick leave policy?', 'bob')); // MEMORY_MAX_CONVERSATIONS=1: evicts alice
        await ask(bot.core, dm(FOLLOW_UP, 'alice'));
        const messages = fake.calls.at(-1)?.body.messages as Array<{ content: Array<{ text: string }> }>;
        assert.equal(messages.length, 3);
        assert.equal(messages[0]?.content[0]?.text, 'What is the parental leave policy?');
      },
      { MEMORY_MAX_CONVERSATIONS: '1' },
    );
  });

  void it('does not cache truncated or empty answers; an empty one falls back to labeled excerpts', async () => {
    await withBot(async (fake, bot) => {
      fake.failNext(1, { kind: 'truncated' });
      const cut = await ask(bot.core, dm(QUESTION, 'alice'));
      assert.equal(cut.kind, 'answer');
      assert.match(cut.text, /cut short/);
      fake.failNext(1, { kind: 'empty' });
      const empty = await ask(bot.core, dm(QUESTION, 'bob'));
      assert.equal(empty.kind, 'excerpts');
      assert.ok(empty.text.startsWith(UNAVAILABLE_NOTE));
      assert.ok(empty.text.includes(EXCERPTS_LABEL));
      assert.equal(cacheRows(bot).length, 0);
      await ask(bot.core, dm(QUESTION, 'carol'));
      assert.equal(fake.calls.length, 3, 'nothing was cached, so the model was asked again');
      assert.equal(cacheRows(bot).length, 1, 'the good answer is cached');
    });
  });

  void it('with the breaker open, answers at once with labeled excerpts, never cached, and recovers', async () => {
    await withBot(
      async (fake, bot) => {
        fake.setFault({ kind: 'status', status: 503, errorType: 'ServiceUnavailableException' });
        for (const user of ['u1', 'u2']) {
          const reply = await ask(bot.core, dm(QUESTION, user));
          assert.equal(reply.kind, 'excerpts');
          assert.ok(reply.text.startsWith(UNAVAILABLE_NOTE));
        }
        const calls = fake.calls.length;
        const open = await ask(bot.core, dm(QUESTION, 'u3'));
        assert.equal(open.kind, 'excerpts');
        assert.ok(open.sources.length > 0, 'excerpts still cite their sections');
        assert.equal(fake.calls.length, calls, 'the open breaker did not call Bedrock');
        assert.equal(cacheRows(bot).length, 0);
        assert.equal(bot.core.engine.metrics.value('hrbot_llm_fallbacks_total', { reason: 'llm_breaker_open' }), 1);

        fake.setFault(null);
        await new Promise((resolve) => setTimeout(resolve, 250));
        const recovered = await ask(bot.core, dm(QUESTION, 'u4'));
        assert.equal(recovered.kind, 'answer');
      },
      { LLM_BREAKER_FAILURES: '2', LLM_BREAKER_COOLDOWN_MS: '200', LLM_MAX_ATTEMPTS: '2' },
    );
  });

  void it('when the waiting line is full, tells the user it is busy and still gives the handbook passages', async () => {
    await withBot(
      async (_fake, bot) => {
        const replies = await Promise.all(['q1', 'q2', 'q3', 'q4', 'q5'].map((user, i) => ask(bot.core, dm(`${QUESTION} (${i})`, user))));
        const busy = replies.filter((r) => r.text.startsWith(BUSY_NOTE));
        assert.equal(busy.length, 3, 'one running, one waiting, three refused at once');
        for (const reply of busy) {
          assert.equal(reply.kind, 'excerpts');
          assert.ok(reply.sources.length > 0);
        }
        assert.equal(replies.filter((r) => r.kind === 'answer').length, 2);
      },
      { LLM_CONCURRENCY: '1', LLM_QUEUE_LIMIT: '1' },
      { latencyMs: 150 },
    );
  });

  void it('streams deltas to an adapter that shows progress; the final reply carries the whole text', async () => {
    await withBot(
      async (_fake, bot) => {
        const progress: Progress[] = [];
        const reply = await bot.core.engine.handle(dm(QUESTION), { onProgress: (p) => void progress.push(p) });
        assert.ok(reply);
        assert.equal(progress[0]?.type, 'status');
        const deltas = progress.filter((p) => p.type === 'delta').map((p) => p.text);
        assert.ok(deltas.length > 2);
        assert.equal(deltas.join(''), reply.text);
        assert.equal(reply.kind, 'answer');
      },
      {},
      { chunkChars: 12 },
    );
  });

  void it('a stream that breaks half way ends in the excerpt answer and nothing is cached', async () => {
    await withBot(
      async (fake, bot) => {
        fake.failNext(1, { kind: 'break-stream', afterChunks: 2 });
        const progress: Progress[] = [];
        const reply = await bot.core.engine.handle(dm(QUESTION), { onProgress: (p) => void progress.push(p) });
        assert.ok(reply);
        assert.equal(progress.filter((p) => p.type === 'delta').length, 2, 'the adapter saw part of the text');
        assert.equal(reply.kind, 'excerpts', 'and must replace it with the fallback');
        assert.ok(reply.text.startsWith(UNAVAILABLE_NOTE));
        assert.equal(cacheRows(bot).length, 0);
        assert.equal(fake.calls.length, 1);
      },
      {},
      { chunkChars: 12 },
    );
  });

  void it('100 users asking the same question at the same moment cost one Bedrock call', async () => {
    await withBot(
      async (fake, bot) => {
        const users = Array.from({ length: 100 }, (_, i) => `user-${i}`);
        const replies = await Promise.all(users.map((user) => ask(bot.core, dm(QUESTION, user))));
        assert.equal(fake.calls.length, 1);
        assert.ok(replies.every((r) => r.kind === 'answer' && r.text === replies[0]?.text));
        assert.equal(cacheRows(bot).length, 1);
      },
      {},
      { latencyMs: 300 },
    );
  });

  void it('re-indexing the handbook invalidates cached answers by construction', async () => {
    await withBot(async (fake, bot) => {
      await ask(bot.core, dm(QUESTION, 'alice'));
      await ask(bot.core, dm(QUESTION, 'bob'));
      assert.equal(fake.calls.length, 1);
      appendFileSync(join(bot.knowledgeDir, 'pto.md'), '\n\n## Sabbatical\n\nAfter five years you may take a four-week sabbatical.\n');
      assert.equal(bot.core.handbook.refresh().changed, true);
      await ask(bot.core, dm(QUESTION, 'carol'));
      assert.equal(fake.calls.length, 2, 'the new handbook version is a new key');
    });
  });

  void it('/hr forget erases cached answers derived from the user’s questions, in memory and in SQLite', async () => {
    await withBot(async (fake, bot) => {
      await ask(bot.core, dm(QUESTION, 'alice'));
      assert.equal(cacheRows(bot).length, 1);
      const erased = await ask(bot.core, dm('/hr forget', 'alice'));
      assert.match(erased.text, /1 cached answer\b/);
      assert.equal(cacheRows(bot).length, 0);
      await ask(bot.core, dm(QUESTION, 'bob'));
      assert.equal(fake.calls.length, 2, 'the in-memory copy was erased too');
      await ask(bot.core, dm('What is the sick leave policy?', 'alice'));
      assert.equal(fake.calls.at(-1)?.body.messages.length, 1, 'alice’s conversation memory was dropped with her history');
    });
  });

  void it('reports the LLM queue in readiness', async () => {
    await withBot(
      async (_fake, bot) => {
        assert.deepEqual(await bot.core.ready(), { ready: true });
        const pending = ['a', 'b', 'c'].map((user, i) => ask(bot.core, dm(`${QUESTION} ${i}`, user)));
        const deadline = Date.now() + 5_000;
        while ((await bot.core.ready()).ready && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
        assert.deepEqual(await bot.core.ready(), { ready: false, reason: 'llm queue saturated' });
        await Promise.all(pending);
        assert.deepEqual(await bot.core.ready(), { ready: true });
      },
      { LLM_CONCURRENCY: '1', LLM_QUEUE_LIMIT: '2' },
      { latencyMs: 150 },
    );
  });
});

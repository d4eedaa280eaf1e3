// Hybrid handbook search: Bedrock embeddings (Titan Text Embeddings V2) through the real SDK client
// and gateway against the fake Bedrock, passage vectors stored by content hash and model, fused with
// the word ranking, and words alone whenever the embeddings cannot help.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { HandbookIndex } from '../src/handbook/handbook-index.ts';
import { PassageVectors } from '../src/handbook/passage-vectors.ts';
import { reciprocalRankFusion } from '../src/handbook/rank-fusion.ts';
import { createBedrockClient } from '../src/llm/bedrock-client.ts';
import { LlmGateway } from '../src/llm/llm-gateway.ts';
import type { LlmGatewayOptions } from '../src/llm/llm-gateway.ts';
import { openDatabase } from '../src/store/database.ts';
import type { Db } from '../src/store/database.ts';
import { FAKE_EMBEDDING_MODEL_ID, bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock } from './fakes/fake-bedrock.ts';
import { dm, startTempBot, tempDir } from './support/temp-bot.ts';

const GATEWAY: LlmGatewayOptions = {
  concurrency: 4,
  queueLimit: 100,
  requestsPerMinute: 0,
  timeoutMs: 5_000,
  maxAttempts: 2,
  maxThrottledAttempts: 2,
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  breakerFailures: 3,
  breakerCooldownMs: 60_000,
};

const FILES: Record<string, string> = {
  'safety.md': `# Health and safety

## Working hours

Office work starts at 9 and work ends at 5. Tell your manager if you need to work late.

## Remote work

You may work from home two days a week; tell your team which days.

## Accidents

Report any accident or injury to your manager the same day, and see a first aider.
`,
  'leave.md': `# Leave

## Vacation

Full-time staff get 25 days off each year.

## Sick days

You get 10 paid sick days a year.
`,
  'expenses.md': `# Expenses

## Claims

Submit receipts within 30 days. Approved claims are refunded with your next payslip.
`,
};

interface Setup {
  dir: string;
  kb: string;
  db: Db;
  handbook: HandbookIndex;
  gateway: LlmGateway;
  vectors: PassageVectors;
  /** Close the database and gateway, and remove the files unless `keep`. */
  close(keep?: boolean): void;
}

function setup(fake: FakeBedrock, model = FAKE_EMBEDDING_MODEL_ID, existing?: { dir: string }): Setup {
  const dir = existing?.dir ?? tempDir().path;
  const kb = join(dir, 'kb');
  if (existing === undefined) {
    mkdirSync(kb);
    for (const [name, text] of Object.entries(FILES)) writeFileSync(join(kb, name), text);
  }
  const db = openDatabase(join(dir, 'hrbot.db'));
  const handbook = new HandbookIndex({ db, dir: kb });
  handbook.refresh();
  const gateway = new LlmGateway(
    createBedrockClient({ region: 'us-east-1', modelId: model, dimensions: 256, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, endpoint: fake.url }),
    GATEWAY,
  );
  const vectors = new PassageVectors(db, { model, dimensions: 256, embed: async (text) => (await gateway.embed(text)).vector });
  handbook.useEmbeddings(vectors, { queryBudgetMs: 500 });
  return {
    dir,
    kb,
    db,
    handbook,
    gateway,
    vectors,
    close(keep = false) {
      gateway.close();
      db.close();
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const invokes = (fake: FakeBedrock) => fake.calls.filter((call) => call.operation === 'invoke');

void describe('reciprocal rank fusion', () => {
  void it('sums 1 / (k + rank) over the rankings, so agreement beats one first place', () => {
    const fused = reciprocalRankFusion([['a', 'b', 'c'], ['b', 'd', 'a']]);
    assert.equal(fused.get('b'), 1 / 62 + 1 / 61);
    assert.equal(fused.get('d'), 1 / 62);
    const order = [...fused].sort(([, x], [, y]) => y - x).map(([item]) => item);
    assert.deepEqual(order, ['b', 'a', 'd', 'c']);
    assert.equal(reciprocalRankFusion([['a'], ['b']], { weights: [1, 0.5] }).get('b'), 0.5 / 61);
  });
});

void describe('hybrid handbook search', () => {
  let fake: FakeBedrock;
  before(async () => {
    fake = await startFakeBedrock();
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
  });

  void it('the fake Bedrock serves Titan Text Embeddings V2 to the real SDK client, and refuses what the model refuses', async () => {
    const client = createBedrockClient({ region: 'us-east-1', modelId: FAKE_EMBEDDING_MODEL_ID, dimensions: 512, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, endpoint: fake.url });
    try {
      const signal = new AbortController().signal;
      const a = await client.embed('Report any accident or injury to your manager', signal);
      const again = await client.embed('Report any accident or injury to your manager', signal);
      const near = await client.embed('I was injured, who do I report it to?', signal);
      const far = await client.embed('Book trains and flights through the travel desk', signal);
      assert.equal(a.vector.length, 512);
      assert.ok(Math.abs(Math.hypot(...a.vector) - 1) < 1e-5, 'normalize: true gives unit vectors');
      assert.deepEqual([...a.vector], [...again.vector], 'deterministic');
      assert.ok(a.tokens > 0);
      const dot = (x: Float32Array, y: Float32Array) => x.reduce((sum, value, i) => sum + value * y[i]!, 0);
      assert.ok(dot(a.vector, near.vector) > dot(a.vector, far.vector), 'texts about one thing are closer than unrelated ones');
      const call = invokes(fake)[0]!;
      assert.equal(call.modelId, FAKE_EMBEDDING_MODEL_ID);
      assert.deepEqual(Object.keys(call.body as object).sort(), ['dimensions', 'inputText', 'normalize']);
    } finally {
      client.destroy();
    }

    const post = async (modelId: string, body: unknown) => {
      const response = await fetch(`${fake.url}/model/${encodeURIComponent(modelId)}/invoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, type: response.headers.get('x-amzn-errortype')?.split(':')[0], message: ((await response.json()) as { message?: string }).message ?? '' };
    };
    for (const [body, problem] of [
      [{ inputText: 'x', dimensions: 300 }, /dimensions/],
      [{ inputText: '' }, /minLength/],
      [{ dimensions: 256 }, /inputText/],
      [{ inputText: 'x', texts: ['x'] }, /extraneous key \[texts\]/],
      [{ inputText: 'x'.repeat(50_001) }, /maxLength: 50000/],
      [{ inputText: 'x', normalize: 'yes' }, /normalize/],
    ] as const) {
      const refused = await post(FAKE_EMBEDDING_MODEL_ID, body);
      assert.equal(refused.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(refused.type, 'ValidationException');
      assert.match(refused.message, problem);
    }
    assert.equal((await post('anthropic.claude-3-haiku-20240307-v1:0', { inputText: 'x' })).status, 400, 'a chat model is not an embedding model');
  });

  void it('embeds each passage once per text and model; a re-index embeds only what changed; vectors no passage uses are pruned', async () => {
    const s = setup(fake);
    try {
      const first = await s.vectors.sync();
      const passages = s.db.prepare('SELECT count(*) FROM handbook_passages').pluck().get() as number;
      assert.equal(first.embedded, passages);
      assert.equal(first.missing, 0);
      assert.equal(invokes(fake).length, passages);
      assert.equal(s.vectors.coverage, 1);

      // Nothing changed: nothing to embed.
      assert.equal((await s.vectors.sync()).embedded, 0);
      assert.equal(invokes(fake).length, passages);

      // One passage edited, one file removed: only the edited passage is embedded; the removed file's vectors go.
      writeFileSync(join(s.kb, 'leave.md'), FILES['leave.md']!.replace('25 days off', '27 days off'));
      rmSync(join(s.kb, 'expenses.md'));
      s.handbook.refresh();
      fake.reset();
      const second = await s.vectors.sync();
      assert.equal(second.embedded, 1);
      assert.equal(invokes(fake).length, 1);
      assert.match((invokes(fake)[0]!.body as { inputText: string }).inputText, /27 days off/);
      assert.equal(second.pruned, 2, 'the old vacation passage and the expenses passage');
      const stored = s.db.prepare('SELECT count(*) FROM handbook_embeddings').pluck().get() as number;
      assert.equal(stored, s.db.prepare('SELECT count(*) FROM handbook_passages').pluck().get() as number);
    } finally {
      s.close(true);
    }

    // Another model replaces the vectors rather than adding to them: the table stays bounded.
    const again = setup(fake, 'amazon.titan-embed-text-v2:0-other', { dir: s.dir });
    try {
      await again.vectors.sync();
      const models = again.db.prepare('SELECT DISTINCT model FROM handbook_embeddings').pluck().all();
      assert.deepEqual(models, ['amazon.titan-embed-text-v2:0-other']);
    } finally {
      again.close();
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  void it('a passage found by meaning joins the ranking by words (reciprocal rank fusion)', async () => {
    const s = setup(fake);
    try {
      await s.vectors.sync();
      const question = 'I fell at work, who do I tell?';
      const words = s.handbook.retrieve(question, { limit: 3 });
      assert.equal(words.covered, true);
      assert.ok(!words.hits.some((hit) => hit.heading === 'Accidents'), `by words alone: ${words.hits.map((hit) => hit.heading).join(', ')}`);
      const hybrid = await s.handbook.retrieveHybrid(question, { limit: 3 });
      assert.ok(hybrid.hits.some((hit) => hit.heading === 'Accidents'), `hybrid: ${hybrid.hits.map((hit) => hit.heading).join(', ')}`);
      assert.equal(hybrid.covered, words.covered);
      assert.equal(hybrid.confidence, words.confidence, 'whether the handbook covers it is still judged by words');
      const asked = invokes(fake).at(-1)!.body as { inputText: string };
      assert.equal(asked.inputText, question);

      // The question's vector is kept: asked again, no second embedding call.
      const before = invokes(fake).length;
      await s.handbook.retrieveHybrid(question, { limit: 3 });
      assert.equal(invokes(fake).length, before);
    } finally {
      s.close();
    }
  });

  void it('falls back to words alone when the question cannot be embedded: Bedrock down, throttling, too slow, or no vectors yet', async () => {
    const s = setup(fake);
    try {
      const question = 'I fell at work, who do I tell?';
      const words = s.handbook.retrieve(question, { limit: 3 });
      const same = (label: string, result: Awaited<ReturnType<HandbookIndex['retrieveHybrid']>>) =>
        assert.deepEqual(result.hits.map((hit) => hit.id), words.hits.map((hit) => hit.id), label);

      // No passage has a vector yet (the background pass has not run).
      same('no vectors yet', await s.handbook.retrieveHybrid(question, { limit: 3 }));
      await s.vectors.sync();

      fake.setFault({ kind: 'status', status: 503, errorType: 'ServiceUnavailableException' }, { operation: 'invoke' });
      same('Bedrock unavailable', await s.handbook.retrieveHybrid('I fell at work, who should I tell?', { limit: 3 }));
      fake.setFault({ kind: 'throttle' }, { operation: 'invoke' });
      same('throttled', await s.handbook.retrieveHybrid('I fell at work, who must I tell?', { limit: 3 }));
      fake.setFault({ kind: 'slow', delayMs: 2_000 }, { operation: 'invoke' });
      same('slower than the budget', await s.handbook.retrieveHybrid('I fell at work, whom do I tell?', { limit: 3 }));
      fake.setFault(null);

      // A pass that fails part way keeps what it embedded and the next pass goes on from there.
      s.db.prepare('DELETE FROM handbook_embeddings').run();
      fake.failNext(1, { kind: 'status', status: 400, errorType: 'ValidationException' }, { operation: 'invoke' });
      const stopped = await s.vectors.sync();
      assert.equal(stopped.embedded, 0);
      assert.ok(stopped.missing > 0);
      const resumed = await s.vectors.sync();
      assert.equal(resumed.missing, 0);
      assert.equal(resumed.embedded, stopped.missing);
    } finally {
      s.close();
    }
  });

  void it('with AI on, a question is answered from passages found by words and meaning, and the model still answers when embeddings fail', async () => {
    const bot = startTempBot(bedrockEnv(fake.url, undefined, { embeddings: true }));
    try {
      const embeddings = bot.core.llm?.embeddings;
      assert.ok(embeddings !== undefined, 'hybrid search is on with AI on');
      await embeddings.sync();
      assert.equal(embeddings.vectors.coverage, 1);
      const passages = bot.core.db.prepare('SELECT count(*) FROM handbook_passages').pluck().get() as number;
      assert.equal(invokes(fake).length, passages, 'every passage embedded once, in the background');

      const reply = await bot.core.engine.handle(dm('How many vacation days do I get?'));
      assert.equal(reply?.kind, 'answer');
      assert.equal((invokes(fake).at(-1)!.body as { inputText: string }).inputText, 'How many vacation days do I get?');
      assert.equal(fake.calls.filter((call) => call.operation !== 'invoke').length, 1);

      // Embeddings failing never fails the answer: the question is searched by words alone. An
      // embedding model that is not enabled (403) opens the embeddings' breaker, never the answers'.
      fake.setFault({ kind: 'status', status: 403, errorType: 'AccessDeniedException', message: 'You don\'t have access to the model with the specified model ID.' }, { operation: 'invoke' });
      const questions = ['How does parental leave work?', 'Who approves expenses?', 'Can I work from abroad?', 'How many sick days do I get?', 'When do benefits start?', 'How do I report harassment anonymously?'];
      for (const [i, question] of questions.entries()) {
        const still = await bot.core.engine.handle(dm(question, `user-${i}`));
        assert.equal(still?.kind, 'answer', question);
      }
      const warnings = bot.logs.filter((line) => line['msg'] === 'question not embedded; handbook searched by words alone');
      assert.equal(warnings.length, 1, 'one warning for the outage, not one per question');
      assert.equal(embeddings.gateway.breakerState, 'open');
      assert.equal(bot.core.llm?.gateway.breakerState, 'closed');
    } finally {
      bot.close();
    }
  });
});

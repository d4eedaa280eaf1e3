// Reranking: a Bedrock rerank model (Cohere Rerank 3.5, Amazon Rerank 1.0) through the real SDK
// client and gateway against the fake Bedrock, putting a covered question's passages in its order;
// the search's order whenever the model cannot help.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { HandbookIndex } from '../src/handbook/handbook-index.ts';
import { PassageReranker } from '../src/handbook/passage-reranker.ts';
import { MAX_RERANK_DOCUMENT_CHARS, MalformedRankingError, createBedrockClient } from '../src/llm/bedrock-client.ts';
import { LlmGateway } from '../src/llm/llm-gateway.ts';
import type { LlmGatewayOptions } from '../src/llm/llm-gateway.ts';
import { openDatabase } from '../src/store/database.ts';
import { FAKE_RERANK_MODEL_ID, bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock } from './fakes/fake-bedrock.ts';
import { dm, startTempBot, tempDir } from './support/temp-bot.ts';

const GATEWAY: LlmGatewayOptions = {
  concurrency: 4,
  queueLimit: 100,
  requestsPerMinute: 0,
  timeoutMs: 5_000,
  maxAttempts: 1,
  maxThrottledAttempts: 1,
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  breakerFailures: 100,
  breakerCooldownMs: 60_000,
};

// Words put "Days off" first for the question below; meaning ("nan", "died") puts bereavement first.
const FILES: Record<string, string> = {
  'time-off.md': `# Time off

## Days off

How many days off you can take at once depends on your team: ask your manager before you take days off, and book days off in PeopleHub.

## Public holidays

The office is closed on public holidays.
`,
  'bereavement.md': `# Bereavement

## Compassionate leave

Up to 5 paid days when a grandparent or someone close to you has died, and time for the funeral.
`,
};
const QUESTION = 'how many days off can I take now my nan died?';

function credentials(fake: FakeBedrock) {
  return { region: 'us-east-1', endpoint: fake.url, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } };
}

interface Log {
  lines: { obj: object; msg: string }[];
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

function memoryLog(): Log {
  const lines: { obj: object; msg: string }[] = [];
  return { lines, info: (obj, msg) => lines.push({ obj, msg }), warn: (obj, msg) => lines.push({ obj, msg }) };
}

void describe('reranking handbook passages', () => {
  let fake: FakeBedrock;
  before(async () => {
    fake = await startFakeBedrock();
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => fake.reset());

  const invokes = (): { modelId: string; body: Record<string, unknown> }[] =>
    fake.calls.filter((call) => call.operation === 'invoke').map((call) => ({ modelId: call.modelId, body: call.body as Record<string, unknown> }));

  void it('sends the rerank models their own request through the real SDK client and reads their order', async () => {
    const client = createBedrockClient({ ...credentials(fake), modelId: FAKE_RERANK_MODEL_ID });
    const amazon = createBedrockClient({ ...credentials(fake), modelId: 'amazon.rerank-v1:0' });
    try {
      const documents = ['Public holidays: the office is closed.', 'Compassionate leave: 5 days when someone close to you has died, and time for the funeral.', 'x'.repeat(MAX_RERANK_DOCUMENT_CHARS + 500)];
      const ranking = await client.rerank('my nan died', documents, 2, new AbortController().signal);
      assert.equal(ranking.order.length, 2);
      assert.equal(ranking.order[0]!.index, 1, 'the passage on bereavement first');
      assert.ok(ranking.order[0]!.score >= ranking.order[1]!.score);
      const [cohere] = invokes();
      assert.equal(cohere!.modelId, FAKE_RERANK_MODEL_ID);
      assert.equal(cohere!.body['query'], 'my nan died');
      assert.equal(cohere!.body['top_n'], 2);
      assert.equal(cohere!.body['api_version'], 2, "Cohere's models refuse a body without it");
      assert.equal((cohere!.body['documents'] as string[])[2]!.length, MAX_RERANK_DOCUMENT_CHARS, 'a long document is cut');

      const second = await amazon.rerank('my nan died', documents.slice(0, 2), 5, new AbortController().signal);
      assert.deepEqual(second.order.map((entry) => entry.index), [1, 0], 'top_n past the documents keeps them all');
      assert.equal(invokes()[1]!.body['api_version'], undefined, "Amazon's model has no API version field");
      assert.equal(invokes()[1]!.body['top_n'], 2);

      fake.failNext(1, { kind: 'empty' }, { operation: 'invoke' });
      await assert.rejects(client.rerank('my nan died', documents, 2, new AbortController().signal), (error: unknown) => error instanceof MalformedRankingError && error.code === 'llm_rerank_malformed');
    } finally {
      client.destroy();
      amazon.destroy();
    }
  });

  function setup(options: { budgetMs?: number } = {}) {
    const dir = tempDir();
    const kb = join(dir.path, 'kb');
    mkdirSync(kb, { recursive: true });
    for (const [name, text] of Object.entries(FILES)) writeFileSync(join(kb, name), text);
    const db = openDatabase(join(dir.path, 'hrbot.db'));
    const log = memoryLog();
    const handbook = new HandbookIndex({ db, dir: kb, log });
    handbook.refresh();
    const gateway = new LlmGateway(createBedrockClient({ ...credentials(fake), modelId: FAKE_RERANK_MODEL_ID }), GATEWAY);
    const words = new HandbookIndex({ db, dir: kb });
    handbook.useReranker(new PassageReranker(async (query, documents, topN) => (await gateway.rerank(query, documents, topN)).order, log, options));
    return {
      handbook,
      words,
      log,
      close() {
        gateway.close();
        db.close();
        dir.remove();
      },
    };
  }

  void it('puts a covered question\'s passages in the model\'s order, scored with its relevance', async () => {
    const s = setup();
    try {
      const byWords = s.words.retrieve(QUESTION, { limit: 3 });
      assert.ok(byWords.covered);
      assert.equal(byWords.hits[0]!.heading, 'Days off', 'the words alone rank another passage first');
      const reranked = await s.handbook.retrieveHybrid(QUESTION, { limit: 2 });
      assert.equal(reranked.hits.length, 2);
      assert.equal(reranked.hits[0]!.heading, 'Compassionate leave');
      assert.ok(reranked.hits.every((hit) => hit.score >= 0 && hit.score <= 1), 'relevance, not the search score');
      assert.equal(reranked.confidence, byWords.confidence, 'whether it is covered is still the search\'s call');
      const [call] = invokes();
      assert.equal(call!.body['top_n'], 2);
      assert.ok((call!.body['documents'] as string[]).length >= 3, 'the model reads more candidates than are kept');
      assert.ok((call!.body['documents'] as string[]).some((document) => document.startsWith('Bereavement › Compassionate leave\n\n')), 'each with its heading path');
    } finally {
      s.close();
    }
  });

  void it('keeps the search\'s order when the model fails or is late, with one warning, and is not asked about a question the handbook does not cover', async () => {
    const s = setup({ budgetMs: 100 });
    try {
      fake.setFault({ kind: 'status', status: 500, errorType: 'InternalServerException' }, { operation: 'invoke' });
      const byWords = s.words.retrieve(QUESTION, { limit: 3 });
      for (let i = 0; i < 3; i += 1) {
        const failed = await s.handbook.retrieveHybrid(QUESTION, { limit: 3 });
        assert.deepEqual(failed.hits.map((hit) => hit.id), byWords.hits.map((hit) => hit.id));
      }
      assert.equal(s.log.lines.filter((line) => line.msg === 'passages not reranked; the search order stands').length, 1, 'one warning, not one per question');

      fake.setFault(null);
      fake.setLatency(1_000);
      const late = await s.handbook.retrieveHybrid(QUESTION, { limit: 3 });
      assert.deepEqual(late.hits.map((hit) => hit.id), byWords.hits.map((hit) => hit.id));
      fake.setLatency(0);

      const before = invokes().length;
      const uncovered = await s.handbook.retrieveHybrid('can I bring my parrot to the canteen?', { limit: 3 });
      assert.equal(uncovered.covered, false);
      assert.equal(invokes().length, before, 'no rerank call');
    } finally {
      s.close();
    }
  });

  void it('with BEDROCK_RERANK_MODEL_ID, the model is handed the passages in the rerank model\'s order', async () => {
    const bot = startTempBot({ ...bedrockEnv(fake.url), BEDROCK_RERANK_MODEL_ID: FAKE_RERANK_MODEL_ID });
    try {
      assert.ok(bot.core.llm?.reranker !== undefined);
      const reply = await bot.core.engine.handle(dm('my grandmother died, how many days off can I take?'));
      assert.equal(reply?.kind, 'answer');
      const reranks = invokes();
      assert.equal(reranks.length, 1);
      assert.equal(reranks[0]!.modelId, FAKE_RERANK_MODEL_ID);
      // Heading paths, first time each (a section's passages share one, and the prompt joins neighbours).
      const order = [...new Set((await rerankOrder(fake, reranks[0]!.body)).slice(0, 8))];
      assert.ok(order.length >= 3);
      const prompt = JSON.stringify(fake.calls.find((call) => call.operation !== 'invoke')!.body);
      const positions = order.map((heading) => prompt.indexOf(`] ${heading} (`));
      assert.ok(positions.every((at) => at !== -1), 'every kept passage is in the prompt');
      assert.deepEqual([...positions].sort((a, b) => a - b), positions, 'in the rerank model\'s order');
      assert.match(bot.logText(), /handbook passages reranked \(Bedrock rerank model\)/);
    } finally {
      bot.close();
    }
  });
});

/** The heading paths of the documents of a rerank request, in the order the fake gives them. */
async function rerankOrder(fake: FakeBedrock, body: Record<string, unknown>): Promise<string[]> {
  const response = await fetch(`${fake.url}/model/${encodeURIComponent(FAKE_RERANK_MODEL_ID)}/invoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const { results } = (await response.json()) as { results: { index: number }[] };
  const documents = body['documents'] as string[];
  return results.map(({ index }) => documents[index]!.split('\n\n')[0]!);
}

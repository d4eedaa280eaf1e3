import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { AnswerRequest, AnswerResult, Answerer } from '../src/answer/answerer.ts';
import { sourceOf } from '../src/answer/answerer.ts';
import { Engine } from '../src/engine/engine.ts';
import { sensitiveTopic } from '../src/engine/sensitive-topics.ts';
import { HandbookIndex } from '../src/handbook/handbook-index.ts';
import type { SearchHit } from '../src/handbook/handbook-index.ts';
import { buildPrompt } from '../src/llm/prompt.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { IncomingMessage, Progress, Reply, ReplyHooks } from '../src/message.ts';
import { openDatabase } from '../src/store/database.ts';
import { evaluateSet, loadSet } from './eval/retrieval-eval.ts';

/** A question as an employee would type it, and where the answer lives. */
interface RetrievalQuestion {
  question: string;
  file: string;
  heading?: string;
}

const KNOWLEDGE = join(import.meta.dirname, '..', 'knowledge');
const QUESTIONS = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'retrieval-questions.json'), 'utf8')) as RetrievalQuestion[];

const MIN_TOP1 = 0.75;
const MIN_TOP3 = 0.9;

test('retrieval quality: the right handbook file is found for employee questions', () => {
  assert.ok(QUESTIONS.length >= 40, 'the fixture needs at least 40 questions to mean anything');
  const root = mkdtempSync(join(tmpdir(), 'hrbot-retrieval-'));
  const db = openDatabase(join(root, 'hrbot.db'));
  try {
    const index = new HandbookIndex({ db, dir: KNOWLEDGE });
    index.refresh();

    let top1 = 0;
    let top3 = 0;
    let headingTop1 = 0;
    const withHeading = QUESTIONS.filter((q) => q.heading !== undefined).length;
    const misses: string[] = [];
    for (const { question, file, heading } of QUESTIONS) {
      const hits = index.search(question, 3);
      if (hits[0]?.file === file) top1 += 1;
      else misses.push(`${JSON.stringify(question)}: expected ${file}, got ${hits.map((hit) => `${hit.file}#${hit.anchor}`).join(', ') || 'nothing'}`);
      if (hits.some((hit) => hit.file === file)) top3 += 1;
      if (heading !== undefined && hits[0]?.heading === heading) headingTop1 += 1;
    }

    const n = QUESTIONS.length;
    const top1Rate = top1 / n;
    const top3Rate = top3 / n;
    console.log(
      `retrieval: ${n} questions, top-1 ${top1Rate.toFixed(2)} (${top1}/${n}), top-3 ${top3Rate.toFixed(2)} (${top3}/${n}), heading top-1 ${headingTop1}/${withHeading}`,
    );
    for (const miss of misses) console.log(`  top-1 miss ${miss}`);
    assert.ok(top3Rate >= MIN_TOP3, `top-3 accuracy ${top3Rate.toFixed(2)} is below ${MIN_TOP3}`);
    assert.ok(top1Rate >= MIN_TOP1, `top-1 accuracy ${top1Rate.toFixed(2)} is below ${MIN_TOP1}`);
  } finally {
    db.close();
    rmSync(root, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------------
// Through the engine: what an employee sees (AI off) and what a model would be given (AI on).

interface EngineFixture {
  engine: Engine;
  /** The passages handed to the answerer for the last question, when it was called. */
  given(): readonly SearchHit[] | undefined;
  close(): void;
}

/** An engine over `dir` with a fixed clock; with `ai`, an answerer that records what it is given. */
function engineOver(dir: string, options: { ai?: boolean; now?: string } = {}): EngineFixture {
  const root = mkdtempSync(join(tmpdir(), 'hrbot-engine-'));
  const db = openDatabase(join(root, 'hrbot.db'));
  const handbook = new HandbookIndex({ db, dir });
  handbook.refresh();
  let given: readonly SearchHit[] | undefined;
  const recorder: Answerer = {
    answer(request: AnswerRequest): Promise<AnswerResult> {
      given = request.sections;
      return Promise.resolve({ kind: 'answer', text: 'A written answer [1].', sources: request.sections.slice(0, 1).map(sourceOf) });
    },
  };
  const engine = new Engine(
    { db, handbook, log: silentLogger(), now: () => Date.parse(options.now ?? '2026-11-28T12:00:00Z'), ...(options.ai === true ? { answerer: recorder } : {}) },
    { maxMessageChars: 4_000, limits: { perMinute: 1_000, dailyQuestions: 1_000 }, lanes: { maxPendingPerLane: 10, maxLanes: 100 }, admins: new Set() },
  );
  return {
    engine,
    given: () => given,
    close() {
      db.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

let events = 0;
async function say(engine: Engine, text: string, where: Partial<IncomingMessage> = {}, hooks?: ReplyHooks): Promise<Reply> {
  events += 1;
  const message: IncomingMessage = {
    platform: 'console',
    tenantId: 'local',
    userId: 'uma',
    conversationId: 'dm-uma',
    conversationKind: 'dm',
    privateReplies: true,
    text,
    eventId: `rq-${events}`,
    ...where,
  };
  const reply = await engine.handle(message, hooks);
  assert.ok(reply, `a reply to ${text}`);
  return reply;
}

const SLACK_CHANNEL: Partial<IncomingMessage> = { platform: 'slack', conversationKind: 'channel', conversationId: 'C1', privateReplies: true };
const TEAMS_CHANNEL: Partial<IncomingMessage> = { platform: 'teams', conversationKind: 'channel', conversationId: '19:abc', privateReplies: false };

describe('answers an employee sees', () => {
  let fx: EngineFixture;
  beforeEach(() => {
    fx = engineOver(KNOWLEDGE);
  });
  afterEach(() => fx.close());

  test("the issue's examples show the passage that answers", async () => {
    const cases: [string, RegExp][] = [
      ['how many sick days do I have?', /10 paid sick days per calendar year/],
      ['who approves a 2000 dollar expense claim?', /Claims between \$1,000 and \$5,000.*your manager and your department head/],
      ['/hr policy expenses approval', /Who approves[\s\S]*your line manager/],
      ['how do I report harassment anonymously?', /You can report \*\*anonymously\*\*/],
      ['how many vacation days do I get?', /\| Less than 2 years \| 20 days \| 23 days \|/],
      ['how mnay vacaton days', /\| Less than 2 years \| 20 days \| 23 days \|/],
    ];
    for (const [question, answer] of cases) {
      const reply = await say(fx.engine, question);
      assert.match(reply.text, answer, question);
    }
  });

  test('holiday questions are answered from the calendar: this year, next year, an office, the next holiday', async () => {
    const thisYear = await say(fx.engine, 'what holidays do we have this year?');
    assert.equal(thisYear.kind, 'lookup');
    assert.match(thisYear.text, /^\*\*Company holidays 2026\*\*/);
    assert.match(thisYear.text, /Dec 28: St Stephen's Day \(substitute\)/, 'the whole year, to December');

    const nextYear = await say(fx.engine, 'list of public holidays next year');
    assert.match(nextYear.text, /^\*\*Company holidays 2027\*\*/);

    const dublin = await say(fx.engine, 'what are the bank holidays in Dublin this year?');
    assert.match(dublin.text, /^\*\*Company holidays 2026 in Dublin\*\*/);
    assert.doesNotMatch(dublin.text, /Thanksgiving/, 'Austin-only holidays are left out');

    const next = await say(fx.engine, 'when is the next bank holiday in Dublin?');
    assert.match(next.text, /^\*\*Next company holidays in Dublin\*\*/);
    assert.match(next.text.split('\n')[1] ?? '', /Dec 25: Christmas Day/);

    const vacation = await say(fx.engine, 'how far ahead must I request a two-week holiday?');
    assert.notEqual(vacation.kind, 'lookup', '"holiday" meaning time off one books is not the calendar');
  });

  test('/hr holidays for a year the handbook does not have says so, instead of showing another year', async () => {
    const reply = await say(fx.engine, '/hr holidays 2030');
    assert.match(reply.text, /2030 holiday calendar is not published/);
    assert.match(reply.text, /2026 and 2027/);
    assert.doesNotMatch(reply.text, /Company holidays 20\d\d/);
    assert.match((await say(fx.engine, '/hr holidays 2027 Dublin')).text, /^\*\*Company holidays 2027 in Dublin\*\*/);
    assert.match((await say(fx.engine, '/hr holidays')).text, /^\*\*Company holidays 2026\*\*/, 'no year: this year');
  });

  test('a question the handbook does not cover says so and names the right contact, with no passages', async () => {
    const dog = await say(fx.engine, 'can I bring my dog to the office?');
    assert.match(dog.text, /The handbook doesn't seem to cover _can I bring my dog to the office\?_/);
    assert.match(dog.text, /people-ops@northwind\.example/);
    assert.deepEqual(dog.sources, []);
    const before = fx.engine.metrics.value('hrbot_not_covered_total', { by: 'search' }) ?? 0;
    const it = await say(fx.engine, 'how do I get promoted?');
    assert.match(it.text, /doesn't seem to cover/);
    assert.equal(fx.engine.metrics.value('hrbot_not_covered_total', { by: 'search' }), before + 1, 'counted, for HR to see what the handbook lacks');
  });

  test('a follow-up searches with the question it follows; a new question does not', async () => {
    await say(fx.engine, 'how many vacation days do I get?', { conversationId: 'dm-follow' });
    const carry = await say(fx.engine, 'can I carry them over?', { conversationId: 'dm-follow' });
    assert.match(carry.text, /carry over up to \*\*5 unused days\*\*/);
    assert.equal(carry.sources[0]?.file, 'pto.md');

    await say(fx.engine, 'how many vacation days do I get?', { conversationId: 'dm-new' });
    const gift = await say(fx.engine, 'Is it ok to accept a gift from a supplier?', { conversationId: 'dm-new' });
    assert.equal(gift.sources[0]?.file, 'code-of-conduct.md');
    assert.ok(!gift.sources.some((source) => source.file === 'pto.md'), 'the previous topic is not pulled in');
  });
});

describe('sensitive questions in channels', () => {
  let fx: EngineFixture;
  beforeEach(() => {
    fx = engineOver(KNOWLEDGE);
  });
  afterEach(() => fx.close());

  test('in a Slack channel the answer goes to the asker alone, with the contact for the topic, and nothing shows in public first', async () => {
    const progress: Progress[] = [];
    const hooks: ReplyHooks = { onProgress: (update) => void progress.push(update) };
    const reply = await say(fx.engine, 'how do I report harassment anonymously?', SLACK_CHANNEL, hooks);
    assert.equal(reply.visibility, 'private');
    assert.deepEqual(progress, [], 'no status line or streamed text in the channel');
    await say(fx.engine, 'how many sick days do we get?', SLACK_CHANNEL, hooks);
    assert.ok(progress.length > 0, 'an ordinary question shows progress as before');
    assert.match(reply.text, /Speak Up line/);
    assert.match(reply.text, /conduct@northwind\.example/);
  });

  test('in a Teams channel nothing is answered in public: the reply asks for a direct message', async () => {
    const reply = await say(fx.engine, 'I was diagnosed with cancer, what leave can I take?', TEAMS_CHANNEL);
    assert.equal(reply.visibility, 'public');
    assert.match(reply.text, /Message me directly/);
    assert.doesNotMatch(reply.text, /sick|leave|cancer/i);
    assert.deepEqual(reply.sources, []);
  });

  test('ordinary questions in channels stay public; in a DM a sensitive answer also names the contact', async () => {
    assert.equal((await say(fx.engine, 'how many sick days do we get?', SLACK_CHANNEL)).visibility, 'public');
    const dm = await say(fx.engine, 'my work visa runs out next month, will the company sponsor me?');
    assert.equal(dm.visibility, 'public', 'a DM is already private');
    assert.match(dm.text, /people-ops@northwind\.example/);
  });

  test('the topics are general: questions in other words are recognised, ordinary ones are not', () => {
    const sensitive = [
      'a coworker keeps sending me unwanted messages at night',
      'my boss said I am too old for this team, is that discrimination?',
      'I have been signed off with anxiety, what happens to my bonus?',
      'I have not been paid for the last two weeks',
      'will my residence permit be affected if I change roles?',
      'they told me I am being made redundant',
    ];
    for (const question of sensitive) assert.ok(sensitiveTopic(question), question);
    const ordinary = ['how do I book a desk?', 'what is the per diem in Germany?', 'when do fire alarm tests happen?', 'can I carry over vacation?'];
    for (const question of ordinary) assert.equal(sensitiveTopic(question), undefined, question);
  });
});

describe('what the model is given (AI on)', () => {
  test('the passages with their neighbours, numbered for citation; nothing when the handbook does not cover it', async () => {
    const fx = engineOver(KNOWLEDGE, { ai: true });
    try {
      await say(fx.engine, 'who approves a 2000 dollar expense claim?');
      const given = fx.given();
      assert.ok(given !== undefined && given.length > 3);
      const prompt = buildPrompt('who approves a 2000 dollar expense claim?', given, [], 500).system;
      assert.match(prompt, /\[1\] /);
      assert.match(prompt, /cite the passage it comes from by its number/i);
      assert.match(prompt, /Claims between \$1,000 and \$5,000/);

      const before = fx.given();
      const reply = await say(fx.engine, 'can I bring my dog to the office?');
      assert.equal(fx.given(), before, 'the model was not called');
      assert.match(reply.text, /doesn't seem to cover/);
    } finally {
      fx.close();
    }
  });
});

describe('held-out evaluation', () => {
  // Floors a little under what `npm run eval` measures, so a change that makes retrieval worse fails
  // here. The paraphrase set (employees' words that differ from the handbook's) is far from the
  // issue's targets: its floors only keep it from sliding back.
  const FLOORS = {
    sample: { excerptShown: 0.85, contextGiven: 0.9, abstained: 3 },
    large: { excerptShown: 0.85, contextGiven: 0.9, abstained: 3 },
    paraphrase: { excerptShown: 0.45, contextGiven: 0.58, abstained: 2 },
  } as const;

  for (const name of ['sample', 'large', 'paraphrase'] as const) {
    test(`${name} handbook: excerpt shown and context given stay above their floors`, async () => {
      const floors = FLOORS[name];
      const figures = await evaluateSet(loadSet(name, join(import.meta.dirname, 'eval', `questions-${name}.json`)));
      const shown = figures.excerptShown / figures.covered;
      const given = figures.contextGiven / figures.covered;
      console.log(`${name}: excerpt shown ${shown.toFixed(2)}, context given ${given.toFixed(2)}, not covered said so ${figures.abstainedOff}/${figures.uncovered}`);
      assert.ok(shown >= floors.excerptShown, `excerpt shown ${shown.toFixed(2)}`);
      assert.ok(given >= floors.contextGiven, `context given ${given.toFixed(2)}`);
      assert.ok(figures.abstainedOff >= floors.abstained, 'some questions the handbook does not cover are recognised');
    });
  }
});

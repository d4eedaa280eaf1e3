import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ask, dm, startTempBot } from './support/temp-bot.ts';
import type { TempBot } from './support/temp-bot.ts';
import { streamingAnswerer } from './support/test-answerers.ts';

describe('engine commands', () => {
  let bot: TempBot;
  before(() => {
    bot = startTempBot({ HR_ADMINS: 'console:local:boss' });
  });
  after(() => bot.close());

  it('lists the commands on /hr help, with and without the prefix', async () => {
    for (const text of ['/hr help', 'help', '/hr', 'hr help']) {
      const reply = await ask(bot.core, dm(text));
      assert.equal(reply.kind, 'help', text);
      for (const command of ['policy', 'ask', 'holidays', 'contact', 'history', 'forget', 'usage']) {
        assert.match(reply.text, new RegExp(`/hr ${command}`), `${text} mentions ${command}`);
      }
    }
  });

  it('answers /hr policy with handbook sections and their sources', async () => {
    const reply = await ask(bot.core, dm('/hr policy parental leave'));
    assert.equal(reply.kind, 'lookup');
    assert.ok(reply.sources.length > 0 && reply.sources.length <= 3);
    assert.equal(reply.sources[0]?.file, 'parental-leave.md');
    assert.ok(reply.answerId, 'a lookup can receive feedback');
  });

  it('keeps what a handbook lookup showed in history, not a copy of the handbook', async () => {
    const reply = await ask(bot.core, dm('/hr policy parental leave', 'keeper'));
    assert.ok(reply.text.length > 1_000, 'the reply shows the section');
    const stored = bot.core.db.prepare("SELECT text FROM messages WHERE answer_id = ? AND role = 'assistant'").pluck().get(reply.answerId) as string;
    assert.ok(stored.length < 400, `stored ${stored.length} characters`);
    assert.match(stored, /^\(Showed the handbook: .*Parental Leave/i);
    // Of the sources, what their readers use (the most-asked sections), not the handbook's titles and paths.
    const sources = JSON.parse(bot.core.db.prepare("SELECT sources FROM messages WHERE answer_id = ?").pluck().get(reply.answerId) as string) as Array<Record<string, string>>;
    assert.equal(sources.length, reply.sources.length);
    assert.deepEqual(sources.map((source) => Object.keys(source).sort()), sources.map(() => ['anchor', 'file', 'heading']));
    // A short reply of the same kind is kept whole.
    const missing = await ask(bot.core, dm('/hr policy zeppelin maintenance', 'keeper'));
    const kept = bot.core.db.prepare("SELECT text FROM messages WHERE answer_id = ? AND role = 'assistant'").pluck().get(missing.answerId);
    assert.equal(kept, missing.text);
  });

  it('answers a plain question with labelled handbook excerpts when AI is off', async () => {
    const reply = await ask(bot.core, dm('how many vacation days do I get?'));
    assert.equal(reply.kind, 'excerpts');
    assert.match(reply.text, /Handbook excerpts/);
    assert.equal(reply.sources[0]?.file, 'pto.md');
    const same = await ask(bot.core, dm('/hr ask how many vacation days do I get?'));
    assert.deepEqual(same.sources, reply.sources);
  });

  it('lists holidays for a year and refuses a malformed year clearly', async () => {
    const reply = await ask(bot.core, dm('/hr holidays 2027'));
    assert.match(reply.text, /Company holidays 2027/);
    assert.ok(reply.text.split('\n').length > 5);
    const bad = await ask(bot.core, dm('/hr holidays next-year'));
    assert.equal(bad.kind, 'error');
    assert.match(bad.text, /four digits/);
  });

  it('names an HR contact for a topic', async () => {
    const reply = await ask(bot.core, dm('/hr contact payroll'));
    assert.equal(reply.kind, 'lookup');
    assert.match(reply.text, /@northwind\.example/);
    assert.match(reply.text.split('\n')[1] ?? '', /payroll/i);
  });

  it('answers an unknown command, an empty message and an oversized one politely', async () => {
    const unknown = await ask(bot.core, dm('/hr frobnicate now'));
    assert.equal(unknown.kind, 'error');
    assert.match(unknown.text, /don't know the command _frobnicate_/);
    const empty = await ask(bot.core, dm('  \u200b\u0007  '));
    assert.equal(empty.kind, 'help');
    const long = await ask(bot.core, dm('a'.repeat(4001)));
    assert.equal(long.kind, 'error');
    assert.match(long.text, /4,001 characters.*4,000/);
    const huge = await ask(bot.core, dm('b'.repeat(5_000_000)));
    assert.match(huge.text, /5,000,000 characters/);
  });

  it('strips control and zero-width characters before understanding the text', async () => {
    const reply = await ask(bot.core, dm('/hr\u200b pol\u200bicy\u0000 parental\u202e leave'));
    assert.equal(reply.kind, 'lookup');
    assert.equal(reply.sources[0]?.file, 'parental-leave.md');
  });

  it('stores nothing for refused input', async () => {
    const before = bot.core.db.prepare('SELECT COUNT(*) FROM messages').pluck().get() as number;
    await ask(bot.core, dm('x'.repeat(4001), 'carol'));
    await ask(bot.core, dm('/hr nope', 'carol'));
    await ask(bot.core, dm('', 'carol'));
    const afterCount = bot.core.db.prepare('SELECT COUNT(*) FROM messages').pluck().get() as number;
    assert.equal(afterCount, before);
  });

  it("shows only the asking user's own history", async () => {
    await ask(bot.core, dm('can I carry over unused PTO?', 'dave'));
    await ask(bot.core, dm('what is the dental plan?', 'erin'));
    const mine = await ask(bot.core, dm('/hr history', 'dave'));
    assert.equal(mine.visibility, 'private');
    assert.match(mine.text, /carry over unused PTO/);
    assert.doesNotMatch(mine.text, /dental/);
  });

  it('reports usage, and workspace totals to admins only', async () => {
    const mine = await ask(bot.core, dm('/hr usage', 'frank'));
    assert.match(mine.text, /0 of 200 questions/);
    assert.doesNotMatch(mine.text, /Workspace totals/);
    const admin = await ask(bot.core, dm('/hr usage', 'boss'));
    assert.match(admin.text, /Workspace totals today/);
  });
});

describe('engine guarantees', () => {
  it('processes a redelivered event at most once', async () => {
    const bot = startTempBot();
    try {
      const message = dm('what is the parental leave policy?');
      const [first, second] = await Promise.all([bot.core.engine.handle(message), bot.core.engine.handle({ ...message })]);
      assert.equal([first, second].filter((r) => r !== null).length, 1);
      assert.equal(await bot.core.engine.handle({ ...message }), null);
      const rows = bot.core.db.prepare('SELECT COUNT(*) FROM messages').pluck().get();
      assert.equal(rows, 2, 'one question and one answer stored');
    } finally {
      bot.close();
    }
  });

  it('counts the rate limit before work and refuses past it, atomically under concurrency', async () => {
    const bot = startTempBot({ RATE_LIMIT_PER_MINUTE: '5' });
    try {
      const replies = await Promise.all(
        Array.from({ length: 12 }, (_, i) => ask(bot.core, dm(`/hr policy expenses ${i}`, 'gina', { conversationId: `c${i}` }))),
      );
      const limited = replies.filter((r) => r.kind === 'error' && /faster than I can keep up/.test(r.text));
      assert.equal(replies.length - limited.length, 5);
      assert.equal(limited.length, 7);
      // Erasing always works, even when limited.
      const forget = await ask(bot.core, dm('/hr forget', 'gina'));
      assert.equal(forget.kind, 'notice');
    } finally {
      bot.close();
    }
  });

  it('enforces the daily question quota and counts the question before answering', async () => {
    const bot = startTempBot({ DAILY_QUESTION_QUOTA: '2' });
    try {
      const kinds = [];
      for (const q of ['sick days?', 'dental?', 'pension?']) kinds.push((await ask(bot.core, dm(q, 'hank'))).kind);
      assert.deepEqual(kinds, ['excerpts', 'excerpts', 'error']);
      const usage = await ask(bot.core, dm('/hr usage', 'hank'));
      assert.match(usage.text, /2 of 2 questions/);
      // Lookups do not spend the question allowance.
      assert.equal((await ask(bot.core, dm('/hr policy dental', 'hank'))).kind, 'lookup');
    } finally {
      bot.close();
    }
  });

  it('answers one user’s concurrent messages in order, with gap-free sequence numbers', async () => {
    const bot = startTempBot({ RATE_LIMIT_PER_MINUTE: '100', CONVERSATION_QUEUE_LIMIT: '30' });
    try {
      const questions = Array.from({ length: 20 }, (_, i) => `question number ${i} about expenses`);
      await Promise.all(questions.map((q) => ask(bot.core, dm(q, 'ivan'))));
      const rows = bot.core.db
        .prepare("SELECT seq, text FROM messages WHERE role = 'user' ORDER BY seq")
        .all() as Array<{ seq: number; text: string }>;
      assert.deepEqual(
        rows.map((r) => r.text),
        questions,
      );
      const seqs = bot.core.db.prepare('SELECT seq FROM messages ORDER BY seq').pluck().all();
      assert.deepEqual(seqs, Array.from({ length: 40 }, (_, i) => i + 1));
    } finally {
      bot.close();
    }
  });

  it('bounds the messages waiting in one conversation and says so at once', async () => {
    const bot = startTempBot({ RATE_LIMIT_PER_MINUTE: '100', CONVERSATION_QUEUE_LIMIT: '3' });
    try {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(bot.core, dm(`expenses ${i}`, 'vic'))));
      const busy = replies.filter((r) => /very busy/.test(r.text));
      assert.equal(busy.length, 6, 'one answering plus three waiting; the rest are told to retry');
      assert.equal(bot.core.engine.activeConversations, 0, 'no lane outlives its work');
    } finally {
      bot.close();
    }
  });

  it("refuses feedback on someone else's answer, and records the owner's", async () => {
    const bot = startTempBot();
    try {
      const reply = await ask(bot.core, dm('what is the remote work policy?', 'judy', { conversationKind: 'channel', conversationId: 'C1' }));
      assert.ok(reply.answerId);
      const intruder = await bot.core.engine.act({
        platform: 'console',
        tenantId: 'local',
        userId: 'mallory',
        eventId: 'act-1',
        action: { type: 'feedback', answerId: reply.answerId, rating: 'down' },
      });
      assert.equal(intruder.kind, 'error');
      assert.equal(bot.core.db.prepare('SELECT COUNT(*) FROM feedback').pluck().get(), 0);
      const owner = await bot.core.engine.act({
        platform: 'console',
        tenantId: 'local',
        userId: 'judy',
        eventId: 'act-2',
        action: { type: 'feedback', answerId: reply.answerId, rating: 'up' },
      });
      assert.equal(owner.kind, 'notice');
      assert.equal(bot.core.db.prepare('SELECT rating FROM feedback').pluck().get(), 'up');
      // Same user id in another tenant is another person.
      const otherTenant = await bot.core.engine.act({
        platform: 'console',
        tenantId: 'elsewhere',
        userId: 'judy',
        eventId: 'act-3',
        action: { type: 'feedback', answerId: reply.answerId, rating: 'down' },
      });
      assert.equal(otherTenant.kind, 'error');
    } finally {
      bot.close();
    }
  });

  it('keeps two users in one channel thread in separate conversations', async () => {
    const bot = startTempBot();
    try {
      const where = { conversationKind: 'channel' as const, conversationId: 'C9', threadId: '171.1' };
      await ask(bot.core, dm('benefits enrollment?', 'kim', where));
      await ask(bot.core, dm('expense deadline?', 'lee', where));
      const owners = bot.core.db.prepare('SELECT COUNT(DISTINCT conversation_key) FROM messages').pluck().get();
      assert.equal(owners, 2);
    } finally {
      bot.close();
    }
  });

  it('lets an admin erase another user and refuses a non-admin', async () => {
    const bot = startTempBot({ HR_ADMINS: 'console:local:boss' });
    try {
      await ask(bot.core, dm('sick leave?', 'nina'));
      const refused = await ask(bot.core, dm('/hr forget nina', 'omar'));
      assert.equal(refused.kind, 'error');
      assert.equal(bot.core.db.prepare("SELECT COUNT(*) FROM messages WHERE owner_key LIKE '%:nina'").pluck().get(), 2);
      const done = await ask(bot.core, dm('/hr forget nina', 'boss'));
      assert.equal(done.kind, 'notice');
      assert.match(done.text, /2 messages in 1 conversation/);
      assert.equal(bot.core.db.prepare("SELECT COUNT(*) FROM messages WHERE owner_key LIKE '%:nina'").pluck().get(), 0);
      const unknown = await ask(bot.core, dm('/hr forget nobody-by-that-name', 'boss'));
      assert.match(unknown.text, /^I have nothing stored for _nobody-by-that-name_/);
    } finally {
      bot.close();
    }
  });
});

describe('engine logging', () => {
  it('logs each message once without its text or the raw user id at info level', async () => {
    const bot = startTempBot();
    try {
      await ask(bot.core, dm('my email is jane.doe@example.com, how much parental leave?', 'U0SECRETUSER'));
      const handled = bot.logs.filter((line) => line.msg === 'message handled');
      assert.equal(handled.length, 1);
      assert.equal(handled[0]?.kind, 'excerpts');
      assert.doesNotMatch(bot.logText(), /jane\.doe|U0SECRETUSER|parental leave\?/);
    } finally {
      bot.close();
    }
  });

  it('at debug level logs the text redacted and truncated', async () => {
    const bot = startTempBot({ LOG_LEVEL: 'debug' });
    try {
      await ask(bot.core, dm(`my email is jane.doe@example.com ${'and more words '.repeat(20)}`, 'U0SECRETUSER'));
      const received = bot.logs.find((line) => line.msg === 'message received');
      assert.ok(received);
      assert.match(String(received.text), /\[email\]/);
      assert.ok(String(received.text).length <= 81 + 1);
      assert.doesNotMatch(bot.logText(), /jane\.doe|U0SECRETUSER/);
    } finally {
      bot.close();
    }
  });
});

describe('questions about whom to contact', () => {
  it('answers "who do I ask about payroll?" from the HR contacts table', async () => {
    const bot = startTempBot();
    try {
      for (const question of ['who do I ask about payroll?', 'Who should I talk to about my payslip', 'whom can I contact regarding payroll']) {
        const reply = await ask(bot.core, dm(question));
        assert.equal(reply.kind, 'lookup', question);
        assert.match(reply.text, /payroll@northwind\.example/, question);
      }
      const policy = await ask(bot.core, dm('who is eligible for parental leave?'));
      assert.equal(policy.kind, 'excerpts', 'an eligibility question is not a contact lookup');
    } finally {
      bot.close();
    }
  });
});

describe('progress hooks', () => {
  it('a failing progress update is logged once and never costs the user the answer', async () => {
    const bot = startTempBot({}, { answerer: streamingAnswerer(['You get ', '25 days.']) });
    try {
      const seen: string[] = [];
      const reply = await bot.core.engine.handle(dm('how many vacation days do I get?', 'pia'), {
        onProgress: (progress) => {
          seen.push(progress.type);
          throw new Error('platform refused the update');
        },
      });
      assert.equal(reply?.kind, 'answer');
      assert.equal(reply?.text, 'You get 25 days.');
      assert.deepEqual(seen, ['status', 'delta', 'delta']);
      assert.equal(bot.logs.filter((line) => line.msg === 'progress update failed').length, 3);
    } finally {
      bot.close();
    }
  });
});

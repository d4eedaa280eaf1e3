import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Answerer } from '../src/answer/answerer.ts';
import { sourceOf } from '../src/answer/answerer.ts';
import type { ConnectorCall } from './fakes/fake-teams-connector.ts';
import { FakeTeamsConnector } from './fakes/fake-teams-connector.ts';
import type { TeamsBot } from './support/teams-bot.ts';
import { personalMessage, startTeamsBot } from './support/teams-bot.ts';
import { tempDir } from './support/temp-bot.ts';

/** Answers "answer to: <question>" once the gate opens (bounded), counting calls. */
class EchoGate implements Answerer {
  calls = 0;
  #open = false;
  open(): void {
    this.#open = true;
  }
  async answer(request: Parameters<Answerer['answer']>[0]) {
    this.calls += 1;
    for (let i = 0; i < 500 && !this.#open; i++) await sleep(10);
    return { kind: 'answer' as const, text: `answer to: ${request.question}`, sources: request.sections.slice(0, 1).map(sourceOf) };
  }
}

const QUESTIONS = ['one', 'two', 'three', 'four', 'five'];

interface TeamsUser {
  id: string;
  aadObjectId: string;
  name: string;
}

/** A user of their own, so each test reads only its own personal chat. */
function user(tag: string): TeamsUser {
  return { id: `29:${tag}`, aadObjectId: `00000000-0000-4000-8000-${tag.padStart(12, '0')}`, name: tag };
}

function conversationOf(who: TeamsUser): string {
  return `a:personal-${who.aadObjectId}`;
}

/** The questions answered in a conversation, in the order their answers first went out. */
function answered(connector: FakeTeamsConnector, conversation: string): string[] {
  const order = connector.calls
    .filter((call) => call.conversationId === conversation)
    .map((call) => /answer to: how many vacation days (\w+)/.exec(JSON.stringify(call.activity))?.[1])
    .filter((q): q is string => q !== undefined);
  return [...new Set(order)];
}

const isNotice = (call: ConnectorCall): boolean => /ahead of yours/.test(String(call.activity.text));

/** Rows the inbox still has to answer. */
function openItems(t: TeamsBot): number {
  return t.bot.core.db.prepare("SELECT count(*) FROM inbox WHERE state <> 'done'").pluck().get() as number;
}

describe('Teams: the durable inbox', () => {
  it('stores each message before its 200, acknowledges a burst while answers wait, and answers in Teams’ order', async () => {
    const gate = new EchoGate();
    const t = await startTeamsBot({}, { extensions: { answerer: gate } });
    try {
      const who = user('b0001');
      const base = Date.now();
      const post = (n: number) => t.post(personalMessage(t.connector.serviceUrl, `how many vacation days ${QUESTIONS[n]}?`, { user: who, sentAt: new Date(base + n * 1000) }));
      assert.equal((await post(0)).status, 200);
      await t.connector.waitFor(() => gate.calls === 1, 5_000, 'the first answer to start');
      // Written one to four, delivered out of order: Teams' timestamps, not arrival, decide.
      for (const n of [4, 2, 1, 3]) {
        const before = openItems(t);
        assert.equal((await post(n)).status, 200, `message ${n} acknowledged`);
        assert.equal(openItems(t), before + 1, `message ${n} was stored when its 200 came`);
      }
      assert.equal(gate.calls, 1, 'every 200 came while the first answer was still being written');
      gate.open();
      const conversation = conversationOf(who);
      await t.connector.waitFor(() => answered(t.connector, conversation).length === 5, 10_000, 'five answers');
      assert.deepEqual(answered(t.connector, conversation), QUESTIONS);
      await t.connector.waitFor(() => openItems(t) === 0, 5_000, 'the inbox to empty');
      const shown = t.connector.shownMessages(conversation);
      assert.equal(shown.length, 5, 'one message per question');
      assert.ok(shown.every((call) => !isNotice(call) && call.activity.type === 'message'), 'no notice or unfinished stream left');
    } finally {
      await t.close();
    }
  });

  it('tells a user at once how many questions are ahead, and edits that notice into the answer', async () => {
    const gate = new EchoGate();
    const t = await startTeamsBot({}, { extensions: { answerer: gate } });
    try {
      const who = user('b0002');
      const conversation = conversationOf(who);
      const sent = QUESTIONS.map((q) => personalMessage(t.connector.serviceUrl, `how many vacation days ${q}?`, { user: who }));
      for (const activity of sent) assert.equal((await t.post(activity)).status, 200);
      await t.connector.waitFor(() => t.connector.messages(conversation).filter(isNotice).length === 4, 8_000, 'four notices');
      const notices = t.connector.messages(conversation).filter(isNotice);
      // The lane already held three messages when the fourth came: it gets a notice, and so do the
      // second and third, still waiting with nothing shown, first, so no reply lands above an earlier one's.
      assert.deepEqual(
        notices.map((call) => call.activity.replyToId),
        [sent[1]!.id, sent[2]!.id, sent[3]!.id, sent[4]!.id],
        'each notice answers its own message, in the order they were written',
      );
      assert.deepEqual(
        notices.map((call) => (call.activity.text ?? '').match(/answering (\d+) question/)?.[1]),
        ['1', '2', '3', '4'],
        'each says how many are ahead of its own message',
      );
      gate.open();
      await t.connector.waitFor(() => answered(t.connector, conversation).length === 5, 10_000, 'five answers');
      await t.connector.waitFor(() => openItems(t) === 0, 5_000, 'the inbox to empty');
      const shown = t.connector.shownMessages(conversation);
      assert.equal(shown.length, 5, 'one message per question: each notice became its answer');
      assert.ok(shown.every((call) => !isNotice(call)), 'no notice left behind');
      for (const [i, notice] of notices.entries()) {
        const edits = t.connector.calls.filter((call) => call.method === 'PUT' && call.activityId === notice.responseId);
        assert.equal(edits.length, 1, 'the notice was edited once');
        assert.match(JSON.stringify(edits[0]!.activity), new RegExp(`answer to: how many vacation days ${QUESTIONS[i + 1]}`));
      }
      const posted = t.connector.calls.filter((call) => call.method === 'POST' && /answer to: how many vacation days (two|three|four|five)/.test(JSON.stringify(call.activity)));
      assert.deepEqual(posted, [], 'a question with a notice got no second message');
    } finally {
      await t.close();
    }
  });

  it('answers 200 and a reply in words, not an HTTP error, when the inbox is full', async () => {
    const gate = new EchoGate();
    const t = await startTeamsBot({}, { extensions: { answerer: gate, inbox: { limits: { maxOpenItems: 1 } } } });
    try {
      const [first, second] = [user('f0001'), user('f0002')];
      assert.equal((await t.post(personalMessage(t.connector.serviceUrl, 'how many vacation days one?', { user: first }))).status, 200);
      const refused = await t.post(personalMessage(t.connector.serviceUrl, 'how many vacation days two?', { user: second }));
      assert.equal(refused.status, 200, 'no HTTP error for a full inbox');
      await t.connector.waitFor(() => t.connector.messages(conversationOf(second)).length === 1, 5_000, 'the overload reply');
      assert.match(String(t.connector.messages(conversationOf(second))[0]!.activity.text), /overloaded.*send it again/s);
      assert.equal(openItems(t), 1, 'the refused message was not stored');
      gate.open();
      await t.connector.waitFor(() => answered(t.connector, conversationOf(first)).length === 1, 5_000, 'the stored one answered');
      await t.connector.settle(200);
      assert.equal(t.connector.messages(conversationOf(second)).length, 1, 'the refused message got its reply only');
    } finally {
      await t.close();
    }
  });

  it('retries a reply the connector kept refusing, later, without asking again, and the answer still closes its stream', async () => {
    const gate = new EchoGate();
    gate.open();
    const t = await startTeamsBot({}, { extensions: { answerer: gate, inbox: { worker: { retryBaseMs: 20 } } } });
    try {
      const who = user('e0001');
      const conversation = conversationOf(who);
      // More 503s than the connector pipeline retries (3): the attempt fails and the inbox takes over.
      t.connector.failNext(...Array.from({ length: 4 }, () => ({ status: 503 as const, onlyType: 'message' })));
      assert.equal((await t.post(personalMessage(t.connector.serviceUrl, 'how many vacation days one?', { user: who }))).status, 200);
      await t.connector.waitFor(() => answered(t.connector, conversation).length === 1, 10_000, 'the answer');
      await t.connector.waitFor(() => openItems(t) === 0, 5_000, 'the inbox to empty');
      assert.equal(t.connector.faulted.length, 4);
      assert.ok(t.bot.logs.some((line) => line.msg === 'inbox: item will be retried'), 'the failed attempt was handed to a later one');
      assert.equal(gate.calls, 1, 'the retry delivered the saved reply');
      const shown = t.connector.shownMessages(conversation);
      assert.equal(shown.length, 1, 'one message: the retry closed the stream the first attempt opened');
      assert.equal(shown[0]!.activity.type, 'message');
    } finally {
      await t.close();
    }
  });

  it('a stop hands an unfinished message back, and the next start answers it once with the reply already computed', async () => {
    const dir = tempDir();
    const connector = await new FakeTeamsConnector().start();
    try {
      const env = { DATABASE_PATH: join(dir.path, 'shared.db') };
      const who = user('5700');
      const conversation = conversationOf(who);
      const slow = new EchoGate();
      const first = await startTeamsBot(env, { extensions: { answerer: slow }, connector });
      let firstClosed = false;
      try {
        assert.equal((await first.post(personalMessage(connector.serviceUrl, 'how many vacation days one?', { user: who }))).status, 200);
        await connector.waitFor(() => slow.calls === 1, 5_000, 'the answer to start');
        assert.equal(await first.bot.core.inbox.worker.stop(50), 1, 'handed back');
        slow.open();
        const saved = () => String(first.bot.core.db.prepare('SELECT progress FROM inbox').pluck().get()).includes('"reply"');
        await connector.waitFor(saved, 5_000, 'the late reply to be saved with the item');
        await first.close();
        firstClosed = true;
      } finally {
        if (!firstClosed) await first.close();
      }
      assert.deepEqual(answered(connector, conversation), [], 'the stopped process delivered nothing after handing back');

      const fast = new EchoGate();
      fast.open();
      const second = await startTeamsBot(env, { extensions: { answerer: fast }, connector });
      try {
        await connector.waitFor(() => answered(connector, conversation).length === 1, 5_000, 'the answer');
        await connector.waitFor(() => openItems(second) === 0, 5_000, 'the inbox to empty');
        await connector.settle(200);
        const shown = connector.shownMessages(conversation);
        assert.equal(shown.length, 1, 'one message: the stream the first process opened was closed by the answer');
        assert.match(JSON.stringify(shown[0]!.activity), /answer to: how many vacation days one/);
        assert.equal(fast.calls, 0, 'the saved reply was delivered, not asked for again');
      } finally {
        await second.close();
      }
    } finally {
      await connector.close();
      dir.remove();
    }
  });
});

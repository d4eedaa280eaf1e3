import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Answerer } from '../src/answer/answerer.ts';
import { sourceOf } from '../src/answer/answerer.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import type { RecordedCall } from './fakes/fake-slack-api.ts';
import { sectionText } from './support/slack-blocks.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { dmEvent, eventBody, JSON_TYPE, postSigned } from './support/slack-requests.ts';
import { tempDir } from './support/temp-bot.ts';

/** Answers "answer to: <question>" after the gate opens (bounded), counting calls. */
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

/** The text a posted or updated message shows. */
function shown(call: RecordedCall): string {
  return call.args.blocks === undefined ? String(call.args.text ?? '') : sectionText(call.args.blocks);
}

/** The final text of every message the bot put in a channel, by message ts, in posting order. */
function finalMessages(api: FakeSlackApi, channel: string): Array<{ ts: string; text: string }> {
  const byTs = new Map<string, string>();
  for (const call of api.calls) {
    if (call.args.channel !== channel) continue;
    if (call.method === 'chat.postMessage' && call.postedTs !== undefined) byTs.set(call.postedTs, shown(call));
    else if (call.method === 'chat.update' && typeof call.args.ts === 'string') byTs.set(call.args.ts, shown(call));
  }
  return [...byTs].map(([key, text]) => ({ ts: key, text }));
}

/** The questions answered in a channel, in the order their answers went out. */
function answered(api: FakeSlackApi, channel: string): string[] {
  return api.calls
    .filter((c) => c.args.channel === channel && (c.method === 'chat.postMessage' || c.method === 'chat.update'))
    .map((c) => /answer to: how many (vacation days \w+)/.exec(shown(c))?.[1])
    .filter((q): q is string => q !== undefined);
}

const QUESTIONS = ['vacation days one', 'vacation days two', 'vacation days three', 'vacation days four', 'vacation days five'];

describe('Slack: the durable inbox', () => {
  it('a stop hands unfinished messages back, and the next start answers them once', async () => {
    const dir = tempDir();
    const api = await new FakeSlackApi().start();
    try {
      const databasePath = join(dir.path, 'shared.db');
      const slow = new EchoGate();
      const first = await startSlackBot({ api, keepApi: true, env: { DATABASE_PATH: databasePath }, extensions: { answerer: slow } });
      await postSigned(first.baseUrl, eventBody(dmEvent('how many vacation days do I get?', 'USTOP')), JSON_TYPE);
      await api.waitFor(() => slow.calls === 1, 5_000, 'the answer to start');
      await first.slack.stop();
      assert.equal(await first.bot.core.inbox.worker.stop(50), 1, 'handed back');
      slow.open();
      await sleep(100);
      await first.close();
      assert.equal(answered(api, 'DUSTOP').length, 0, 'the stopped process did not answer after handing back');

      const fast = new EchoGate();
      fast.open();
      const second = await startSlackBot({ api, keepApi: true, env: { DATABASE_PATH: databasePath }, extensions: { answerer: fast } });
      try {
        await api.waitFor(() => answered(api, 'DUSTOP').length === 1, 5_000, 'the answer');
        assert.equal(finalMessages(api, 'DUSTOP').length, 1, 'the placeholder became the answer');
        assert.match(finalMessages(api, 'DUSTOP')[0]!.text, /answer to: how many vacation days/);
        assert.equal(fast.calls, 0, 'the reply the first process computed was saved and delivered, not asked again');
      } finally {
        await second.close();
      }
    } finally {
      await api.close();
      dir.remove();
    }
  });

  it('retries a lookup whose post failed without saving its reply, and stores its exchange once', async () => {
    const t = await startSlackBot({ extensions: { inbox: { worker: { retryBaseMs: 200 } } } });
    try {
      t.api.failNext('chat.postMessage', { error: 'internal_error' });
      await postSigned(t.baseUrl, eventBody(dmEvent('policy parental leave', 'URETRY')), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('chat.postMessage').some((call) => call.refused !== undefined || call.postedTs === undefined), 5_000, 'the failed post');
      // Waiting for its retry: what the item keeps is the post's "on its way" mark, not the reply.
      const progress = t.bot.core.db.prepare("SELECT progress FROM inbox WHERE state <> 'done'").pluck().all() as Array<string | null>;
      assert.equal(progress.length, 1);
      assert.doesNotMatch(String(progress[0]), /Parental Leave/i);
      await t.api.waitFor(() => finalMessages(t.api, 'DURETRY').some((m) => /Parental Leave/.test(m.text)), 5_000, 'the retried reply');
      assert.equal(finalMessages(t.api, 'DURETRY').length, 1, 'one message');
      const rows = t.bot.core.db.prepare("SELECT role, answer_id FROM messages WHERE owner_key = 'slack:T1:URETRY' ORDER BY seq").all() as Array<{ role: string; answer_id: string | null }>;
      assert.deepEqual(rows.map((row) => row.role), ['user', 'assistant'], 'the exchange stored once, though worked out twice');
    } finally {
      await t.close();
    }
  });

  it('shows no notice for questions ahead that are answered faster than a wait worth one', async () => {
    const gate = new EchoGate();
    gate.open();
    const t = await startSlackBot({ extensions: { answerer: gate } });
    try {
      // One answer first: the pace (milliseconds an answer) is known.
      await postSigned(t.baseUrl, eventBody(dmEvent('how many vacation days zero?', 'UQUICK')), JSON_TYPE);
      await t.api.waitFor(() => finalMessages(t.api, 'DUQUICK').some((m) => m.text.startsWith('answer to')), 5_000, 'the first answer');
      // The item is done (and its time counted) just after its answer shows.
      await t.api.waitFor(() => t.bot.core.inbox.worker.itemMs() !== undefined, 5_000, 'the pace');
      // Five at once: the later ones have 3 and 4 ahead, which the counts alone would announce.
      const statuses = await Promise.all(QUESTIONS.map((question) => postSigned(t.baseUrl, eventBody(dmEvent(`how many ${question}?`, 'UQUICK')), JSON_TYPE)));
      assert.deepEqual(statuses.map((response) => response.status), [200, 200, 200, 200, 200]);
      await t.api.waitFor(() => finalMessages(t.api, 'DUQUICK').filter((m) => m.text.startsWith('answer to')).length === 6, 10_000, 'six answers');
      assert.equal(t.api.calls.filter((call) => /ahead of yours/.test(shown(call))).length, 0, 'no notice');
      assert.equal(finalMessages(t.api, 'DUQUICK').length, 6);
    } finally {
      await t.close();
    }
  });

  it('tells a user at once how many questions are ahead, and replaces that notice with the answer', async () => {
    const gate = new EchoGate();
    const t = await startSlackBot({ extensions: { answerer: gate } });
    try {
      for (const question of QUESTIONS) {
        assert.equal((await postSigned(t.baseUrl, eventBody(dmEvent(`how many ${question}?`, 'UBUSY')), JSON_TYPE)).status, 200);
      }
      await t.api.waitFor(() => t.api.callsOf('chat.postMessage').filter((c) => /ahead of yours/.test(shown(c))).length === 2, 5_000, 'two notices');
      gate.open();
      await t.api.waitFor(() => finalMessages(t.api, 'DUBUSY').filter((m) => m.text.startsWith('answer to')).length === 5, 10_000, 'five answers');
      const messages = finalMessages(t.api, 'DUBUSY');
      assert.equal(messages.length, 5, 'one message per question: each notice became its answer');
      assert.ok(messages.every((m) => !/ahead of yours/.test(m.text)), 'no notice left behind');
    } finally {
      await t.close();
    }
  });

  it('tells a user whose message waits long that it is coming, and the answer replaces that notice', async () => {
    const gate = new EchoGate();
    const t = await startSlackBot({ extensions: { answerer: gate, inbox: { worker: { concurrency: 1, longWaitMs: 200, pollMs: 50 } } } });
    try {
      await postSigned(t.baseUrl, eventBody(dmEvent('how many vacation days one?', 'UWAIT1')), JSON_TYPE);
      await t.api.waitFor(() => gate.calls === 1, 5_000, 'the first answer to start');
      await postSigned(t.baseUrl, eventBody(dmEvent('how many vacation days two?', 'UWAIT2')), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('chat.postMessage').some((c) => c.args.channel === 'DUWAIT2' && /Sorry for the wait/.test(shown(c))), 5_000, 'the long-wait notice');
      gate.open();
      await t.api.waitFor(() => answered(t.api, 'DUWAIT2').length === 1, 5_000, 'the answer');
      assert.equal(finalMessages(t.api, 'DUWAIT2').length, 1, 'the notice became the answer');
    } finally {
      await t.close();
    }
  });

  it('answers with a clear reply, not an HTTP error, when the inbox is full', async () => {
    const gate = new EchoGate();
    const t = await startSlackBot({ extensions: { answerer: gate, inbox: { limits: { maxOpenItems: 1 } } } });
    try {
      assert.equal((await postSigned(t.baseUrl, eventBody(dmEvent('how many vacation days?', 'UFULL1')), JSON_TYPE)).status, 200);
      const refused = await postSigned(t.baseUrl, eventBody(dmEvent('how many sick days?', 'UFULL2')), JSON_TYPE);
      assert.equal(refused.status, 200, 'Slack is not made to retry into a full inbox');
      await t.api.waitFor(() => t.api.callsOf('chat.postMessage').some((c) => c.args.channel === 'DUFULL2'), 5_000, 'the overload reply');
      assert.match(shown(t.api.callsOf('chat.postMessage').find((c) => c.args.channel === 'DUFULL2')!), /overloaded.*send it again/s);
      gate.open();
      await t.api.waitFor(() => finalMessages(t.api, 'DUFULL1').some((m) => m.text.startsWith('answer to')), 5_000, 'the stored one answered');
    } finally {
      await t.close();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Answerer, AnswerRequest, AnswerResult } from '../src/answer/answerer.ts';
import { sourceOf } from '../src/answer/answerer.ts';
import type { TeamsBot } from './support/teams-bot.ts';
import { ALICE, BOB, TENANT, cardInvoke, channelMessage, personalMessage, startTeamsBot } from './support/teams-bot.ts';

/** An AI answerer stand-in that streams deltas on a fake clock, then returns a different final text. */
class StreamingAnswerer implements Answerer {
  clock = 0;
  /** 'excerpts' plays an answer not written by AI (it keeps the card and its feedback buttons). */
  kind: 'answer' | 'excerpts' = 'answer';
  readonly deltas: Array<{ at: number; text: string }> = [
    { at: 300, text: 'You get ' },
    { at: 1200, text: '25 days ' },
    { at: 1500, text: 'of paid ' },
    { at: 2600, text: 'vacation.' },
  ];

  async answer(request: AnswerRequest): Promise<AnswerResult> {
    for (const delta of this.deltas) {
      this.clock = delta.at;
      await request.hooks?.onProgress?.({ type: 'delta', text: delta.text });
    }
    return { kind: this.kind, text: 'FINAL: You get 25 days of paid vacation a year.', sources: request.sections.slice(0, 2).map(sourceOf) };
  }
}

const streamInfo = (activity: Record<string, unknown> & { entities?: Array<Record<string, unknown>> }): Record<string, unknown> | undefined => (activity.entities ?? []).find((e) => e.type === 'streaminfo');

describe('Teams: answers, streaming and cards', () => {
  let t: TeamsBot;
  const answerer = new StreamingAnswerer();
  before(async () => {
    t = await startTeamsBot({}, { extensions: { answerer }, tuning: { stream: { minIntervalMs: 1000, now: () => answerer.clock } } });
  });
  after(async () => {
    await t.close();
  });

  it('streams an AI answer in a personal chat: informative, throttled updates, then the final reply', async () => {
    answerer.clock = 0;
    const activity = personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?', { user: { ...ALICE, aadObjectId: '00000000-0000-4000-8000-00000000517e' } });
    const conversation = (activity.conversation as { id: string }).id;
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    const calls = t.connector.calls.filter((c) => c.conversationId === conversation);
    assert.equal(calls[0]!.activity.type, 'typing');
    assert.equal(streamInfo(calls[0]!.activity), undefined, 'a plain typing indicator first');
    const updates = calls.slice(1, -1);
    assert.deepEqual(
      updates.map((c) => [c.activity.type, streamInfo(c.activity)?.streamType, streamInfo(c.activity)?.streamSequence]),
      [
        ['typing', 'informative', 1],
        ['typing', 'streaming', 2],
        ['typing', 'streaming', 3],
      ],
    );
    // Deltas at 300 and 1500 ms came less than a second after an update, so they rode along with the next one.
    // Trailing spaces wait for what follows them (an update may only extend what was streamed).
    assert.equal(updates[1]!.activity.text, 'You get 25 days');
    assert.equal(updates[2]!.activity.text, 'You get 25 days of paid vacation.');
    const streamId = streamInfo(updates[1]!.activity)?.streamId;
    assert.ok(typeof streamId === 'string' && streamId.length > 0);
    assert.equal(streamInfo(updates[2]!.activity)?.streamId, streamId);
    const final = calls.at(-1)!.activity;
    assert.equal(final.type, 'message');
    assert.deepEqual(streamInfo(final), { type: 'streaminfo', streamId, streamType: 'final' });
    assert.ok(final.text.startsWith('FINAL: You get 25 days of paid vacation a year.'), 'the final reply wins over the streamed text');
    // An AI answer citing no [n] lists its sources under the text; Teams' own feedback loop replaces card buttons.
    assert.match(final.text, /\*\*Sources\*\*\n- /);
    assert.equal(final.attachments, undefined);
    assert.equal(final.channelData.feedbackLoopEnabled, true);
    assert.ok((final.entities as Array<{ type: string }>).some((e) => e.type === 'https://schema.org/Message'));
  });

  it('buffers the same answer into one message in a channel: no stream updates', async () => {
    answerer.clock = 0;
    const activity = channelMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
    const conversation = (activity.conversation as { id: string }).id;
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    await t.connector.settle();
    const calls = t.connector.calls.filter((c) => c.conversationId === conversation);
    assert.deepEqual(
      calls.map((c) => c.activity.type),
      ['typing', 'message'],
    );
    assert.ok(calls.every((c) => streamInfo(c.activity) === undefined));
    assert.match(calls[1]!.activity.text, /^FINAL: You get 25 days/);
  });

  it('shows an answer not written by AI as an Adaptive Card with sources and feedback buttons; feedback by the owner is stored, by another user refused', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
    const conversation = (activity.conversation as { id: string }).id;
    const before = t.connector.messages(conversation).length;
    answerer.kind = 'excerpts';
    await t.post(activity);
    await t.connector.waitFor(() => t.connector.messages(conversation).length > before);
    answerer.kind = 'answer';
    const card = t.connector.messages(conversation).at(-1)!.activity.attachments[0];
    assert.equal(card.contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(card.content.type, 'AdaptiveCard');
    assert.equal(card.content.version, '1.5');
    const [up, down] = card.content.actions;
    assert.equal(up.type, 'Action.Execute');
    assert.deepEqual(Object.keys(up.data).sort(), ['answerId', 'hrbot', 'rating']);
    assert.equal(down.data.rating, 'down');

    const byBob = await t.post(cardInvoke(t.connector.serviceUrl, up.data, BOB));
    assert.equal(byBob.status, 200);
    const bobBody = JSON.parse(byBob.body);
    assert.equal(bobBody.type, 'application/vnd.microsoft.activity.message');
    assert.doesNotMatch(bobBody.value, /Thanks/);

    const byAlice = await t.post(cardInvoke(t.connector.serviceUrl, up.data, ALICE));
    assert.equal(byAlice.status, 200);
    assert.match(JSON.parse(byAlice.body).value, /Thanks for the feedback/);
    const rows = t.bot.core.db.prepare('SELECT rating FROM feedback').all() as Array<{ rating: string }>;
    assert.deepEqual(
      rows.map((r) => r.rating),
      ['up'],
    );
  });

  it('offers "Erase my data" behind a confirmation on history, and erases only the clicking user', async () => {
    // Its own user, so erasing leaves the other tests' data alone.
    const carol = { id: '29:carol-teams-id', aadObjectId: '00000000-0000-4000-8000-0000000ca401', name: 'Carol' };
    const asked = personalMessage(t.connector.serviceUrl, 'what is the expenses policy?', { user: carol });
    const conversation = (asked.conversation as { id: string }).id;
    const before = t.connector.messages(conversation).length;
    await t.post(asked);
    await t.post(personalMessage(t.connector.serviceUrl, 'history', { user: carol }));
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= before + 2);
    const card = t.connector.messages(conversation).at(-1)!.activity.attachments[0].content;
    const show = card.actions.find((a: { type: string }) => a.type === 'Action.ShowCard');
    assert.ok(show, 'the erase button opens a confirmation card');
    const erase = show.card.actions[0];
    assert.equal(erase.type, 'Action.Execute');
    assert.deepEqual(erase.data, { hrbot: 'forget' });
    const owned = () => t.bot.core.db.prepare('SELECT COUNT(*) FROM messages WHERE owner_key = ?').pluck().get(`teams:${TENANT}:${carol.aadObjectId}`) as number;
    assert.ok(owned() >= 2);

    const byBob = await t.post(cardInvoke(t.connector.serviceUrl, erase.data, BOB));
    assert.equal(byBob.status, 200);
    assert.match(JSON.parse(byBob.body).value, /erased everything stored about you: 0 messages/);
    assert.ok(owned() >= 2, "bob's click erases bob's data, not carol's");

    const byCarol = await t.post(cardInvoke(t.connector.serviceUrl, erase.data, carol));
    assert.match(JSON.parse(byCarol.body).value, /erased everything stored about you/);
    assert.equal(owned(), 0);
  });

  it('takes Action.Submit feedback (a message carrying the card data) with the same ownership check', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'policy parental leave', { user: { ...ALICE, aadObjectId: '00000000-0000-4000-8000-00000000a5b1' } });
    const conversation = (activity.conversation as { id: string }).id;
    await t.post(activity);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    const data = t.connector.messages(conversation)[0]!.activity.attachments[0].content.actions[1].data;
    const submit = personalMessage(t.connector.serviceUrl, '', { user: { ...ALICE, aadObjectId: '00000000-0000-4000-8000-00000000a5b1' }, value: data });
    assert.equal((await t.post(submit)).status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 2);
    assert.match(t.connector.messages(conversation)[1]!.activity.text, /Thanks, noted/);
  });

  it('renders markdown with sources listed when cards are turned off', async () => {
    const plain = await startTeamsBot({}, { tuning: { cards: false } });
    try {
      const activity = personalMessage(plain.connector.serviceUrl, 'policy parental leave');
      const conversation = (activity.conversation as { id: string }).id;
      await plain.post(activity);
      await plain.connector.waitFor(() => plain.connector.messages(conversation).length >= 1);
      const reply = plain.connector.messages(conversation)[0]!.activity;
      assert.equal(reply.attachments, undefined);
      assert.equal(reply.textFormat, 'markdown');
      assert.match(reply.text, /\*\*Sources\*\*\n- /);
    } finally {
      await plain.close();
    }
  });

  it('keeps private replies out of channels', async () => {
    const activity = channelMessage(t.connector.serviceUrl, 'history');
    const conversation = (activity.conversation as { id: string }).id;
    await t.post(activity);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    assert.match(t.connector.messages(conversation)[0]!.activity.text, /personal chat/);
  });

  it('uses the tenant and AAD object id as the owner', () => {
    const rows = t.bot.core.db.prepare('SELECT DISTINCT owner_key AS owner FROM messages').all() as Array<{ owner: string }>;
    assert.ok(rows.some((r) => r.owner === `teams:${TENANT}:${ALICE.aadObjectId}`), JSON.stringify(rows));
  });
});

describe('Teams: outgoing failures', () => {
  let t: TeamsBot;
  before(async () => {
    t = await startTeamsBot();
  });
  after(async () => {
    await t.close();
  });

  for (const fault of [{ status: 429 as const }, { status: 429 as const, retryAfterSeconds: 1 }, { status: 503 as const }, { status: 502 as const }]) {
    it(`retries the connector's ${fault.status}${fault.retryAfterSeconds === undefined ? '' : ' with Retry-After'} and delivers the reply once`, async () => {
      const activity = personalMessage(t.connector.serviceUrl, 'holidays', { user: { ...ALICE, aadObjectId: `00000000-0000-4000-8000-0000000${fault.status}${fault.retryAfterSeconds ?? 0}0` } });
      const conversation = (activity.conversation as { id: string }).id;
      const faultedBefore = t.connector.faulted.length;
      t.connector.failNext({ ...fault, onlyType: 'message' });
      const started = Date.now();
      assert.equal((await t.post(activity)).status, 200);
      await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1, 5000);
      await t.connector.settle(200);
      assert.equal(t.connector.faulted.length, faultedBefore + 1);
      assert.equal(t.connector.messages(conversation).length, 1);
      if (fault.retryAfterSeconds !== undefined) assert.ok(Date.now() - started >= 900, 'waited for Retry-After');
    });
  }
});

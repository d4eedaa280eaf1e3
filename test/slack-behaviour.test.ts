import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SLACK_STATUS } from '../adapters/slack/delivery.ts';
import { MAX_MARKDOWN_CHARS } from '../adapters/slack/render.ts';
import type { RecordedCall } from './fakes/fake-slack-api.ts';
import { buttons, contextText, feedbackAnswerId, sectionText } from './support/slack-blocks.ts';
import type { SlackTestBot } from './support/slack-bot.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { dmEvent, eventBody, feedbackActionBody, feedbackButtonsBody, FORM_TYPE, JSON_TYPE, mentionEvent, postSigned } from './support/slack-requests.ts';
import { fixedAnswerer, GatedAnswerer, streamingAnswerer } from './support/test-answerers.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Slack: what is not answered', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot();
  });
  after(async () => {
    await t.close();
  });

  it("ignores its own messages, other bots, edits, deletions and joins (no reply loops)", async () => {
    const events = [
      dmEvent('my own answer', 'UBOT'),
      dmEvent('bot says hi', 'UOTHER', { bot_id: 'BOTHER' }),
      dmEvent('own bot id', 'UX', { bot_id: 'BBOT' }),
      dmEvent('', 'UALICE', { subtype: 'message_changed', message: { text: 'edited' } }),
      dmEvent('', 'UALICE', { subtype: 'message_deleted' }),
      dmEvent('joined', 'UALICE', { subtype: 'channel_join', channel_type: 'channel', channel: 'C1' }),
      dmEvent('a channel message without a mention', 'UALICE', { channel_type: 'channel', channel: 'C1' }),
    ];
    for (const event of events) {
      const response = await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
      assert.equal(response.status, 200);
    }
    await sleep(300);
    assert.deepEqual(t.api.outgoing, []);
  });
});

describe('Slack: redelivery', () => {
  let t: SlackTestBot;
  const gated = new GatedAnswerer();
  before(async () => {
    t = await startSlackBot({ extensions: { answerer: gated } });
  });
  after(async () => {
    gated.release();
    await t.close();
  });

  it('answers exactly once when Slack redelivers while the first delivery is still being answered', async () => {
    const body = eventBody(mentionEvent('how many vacation days do I get?', 'URETRY'), { eventId: 'EvRETRY1' });
    const first = await postSigned(t.baseUrl, body, JSON_TYPE);
    assert.equal(first.status, 200);
    await t.api.waitFor(() => gated.calls === 1, 5000, 'answerer called');
    const started = Date.now();
    for (const retry of ['1', '2', '3']) {
      const again = await postSigned(t.baseUrl, body, JSON_TYPE, { headers: { 'x-slack-retry-num': retry, 'x-slack-retry-reason': 'http_timeout' } });
      assert.equal(again.status, 200);
    }
    assert.ok(Date.now() - started < 3000, 'redeliveries are acknowledged at once');
    gated.release();
    await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length >= 1, 5000, 'answer');
    await sleep(200);
    assert.equal(gated.calls, 1);
    const posts = t.api.callsOf('chat.postMessage');
    assert.equal(posts.length, 1);
    assert.match(sectionText(posts[0]!.args.blocks), /\*25 vacation days\*/);
    // Once answered, a late redelivery is still not answered again.
    await postSigned(t.baseUrl, body, JSON_TYPE, { headers: { 'x-slack-retry-num': '3' } });
    await sleep(200);
    assert.equal(t.api.callsOf('chat.postMessage').length, 1);
  });

  it('answers a redelivery whose first delivery was never recorded', async () => {
    const body = eventBody(mentionEvent('/hr policy parental leave', 'UNOTREC'), { eventId: 'EvNOTREC' });
    const before = t.api.callsOf('chat.postMessage').length;
    const refused = await postSigned(t.baseUrl, body, JSON_TYPE, { secret: 'not-the-secret' });
    assert.equal(refused.status, 401);
    const retried = await postSigned(t.baseUrl, body, JSON_TYPE, { headers: { 'x-slack-retry-num': '1' } });
    assert.equal(retried.status, 200);
    await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length > before, 5000, 'answer to the retry');
    assert.equal(t.api.callsOf('chat.postMessage').length, before + 1);
  });
});

describe('Slack: feedback ownership', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot();
  });
  after(async () => {
    await t.close();
  });

  it("stores the owner's feedback and refuses another user's click on it", async () => {
    await postSigned(t.baseUrl, eventBody(mentionEvent('/hr policy parental leave', 'UOWNER')), JSON_TYPE);
    await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length === 1, 5000, 'answer');
    const answerId = feedbackAnswerId(t.api.callsOf('chat.postMessage')[0]!.args.blocks);
    assert.ok(answerId !== '');
    const rating = () => t.bot.core.db.prepare('SELECT rating FROM feedback WHERE answer_id = ?').get(answerId) as { rating: string } | undefined;

    const other = await postSigned(t.baseUrl, feedbackButtonsBody(answerId, 'down', t.api.responseUrl('fb-mallory'), { user: 'UMALLORY', triggerId: t.api.issueTrigger() }), FORM_TYPE);
    assert.equal(other.status, 200);
    await t.api.waitFor(() => t.api.callsOf('response_url').length === 1, 5000, 'refusal');
    const refusal = t.api.callsOf('response_url')[0]!;
    assert.equal(refusal.method, 'response_url');
    assert.equal(refusal.args.response_type, 'ephemeral');
    assert.equal(refusal.args.replace_original, false);
    assert.match(sectionText(refusal.args.blocks), /isn't yours/);
    assert.equal(rating(), undefined);

    // Nobody but the owner is offered the "what was wrong?" form.
    assert.equal(t.api.callsOf('views.open').length, 0);
    await postSigned(t.baseUrl, feedbackButtonsBody(answerId, 'up', t.api.responseUrl('fb-owner'), { user: 'UOWNER' }), FORM_TYPE);
    await t.api.waitFor(() => t.api.callsOf('response_url').length === 2, 5000, 'thanks');
    assert.match(sectionText(t.api.callsOf('response_url')[1]!.args.blocks), /Thanks/);
    assert.equal(rating()?.rating, 'up');
  });

  it('offers "Erase my data" with a confirmation on /hr history, and erases only the clicking user', async () => {
    await postSigned(t.baseUrl, eventBody(dmEvent('what is the expenses policy?', 'UKEEP')), JSON_TYPE);
    await postSigned(t.baseUrl, eventBody(dmEvent('history', 'UKEEP')), JSON_TYPE);
    await t.api.waitFor(() => t.api.callsOf('chat.postMessage').some((c) => /Your last/.test(sectionText(c.args.blocks))), 5000, 'history');
    const history = t.api.callsOf('chat.postMessage').find((c) => /Your last/.test(sectionText(c.args.blocks)))!;
    const forget = (history.args.blocks ?? []).find((b) => b.block_id === 'hr_forget');
    assert.ok(forget, 'the history reply carries the erase button');
    assert.equal((forget.elements?.[0] as { confirm?: unknown } | undefined)?.confirm !== undefined, true, 'Slack asks to confirm');
    const owned = () => t.bot.core.db.prepare("SELECT COUNT(*) FROM messages WHERE owner_key = 'slack:T1:UKEEP'").pluck().get();
    assert.equal(owned(), 2);

    const responses = t.api.callsOf('response_url').length;
    await postSigned(t.baseUrl, feedbackActionBody('', 'hr_forget', t.api.responseUrl('forget-intruder'), 'UINTRUDER'), FORM_TYPE);
    await t.api.waitFor(() => t.api.callsOf('response_url').length === responses + 1, 5000, 'intruder erase');
    assert.match(sectionText(t.api.callsOf('response_url').at(-1)!.args.blocks), /0 messages/);
    assert.equal(owned(), 2, "another user's click erases their own data, not the asker's");

    await postSigned(t.baseUrl, feedbackActionBody('', 'hr_forget', t.api.responseUrl('forget-owner'), 'UKEEP'), FORM_TYPE);
    await t.api.waitFor(() => t.api.callsOf('response_url').length === responses + 2, 5000, 'owner erase');
    assert.match(sectionText(t.api.callsOf('response_url').at(-1)!.args.blocks), /erased everything stored about you: 2 messages/);
    assert.equal(owned(), 0);
  });

  it('answers personal lookups asked in a channel privately to the asker', async () => {
    const before = t.api.calls.length;
    const event = mentionEvent('history', 'UOWNER');
    await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'chat.postEphemeral'), 5000, 'ephemeral');
    const calls = t.api.calls.slice(before);
    assert.deepEqual(calls.map((c) => c.method), ['chat.postEphemeral']);
    assert.equal(calls[0]!.args.user, 'UOWNER');
    assert.equal(calls[0]!.args.channel, 'C1');
    assert.equal(calls[0]!.args.thread_ts, event.ts);
  });
});

describe('Slack: rate limits and long answers', () => {
  let t: SlackTestBot;
  const long = Array.from({ length: 60 }, (_, i) => `**Point ${i}.** ${'The policy says this and that. '.repeat(12).trim()}`).join('\n\n');
  before(async () => {
    t = await startSlackBot({ extensions: { answerer: fixedAnswerer(long) } });
  });
  after(async () => {
    await t.close();
  });

  it('waits out a 429 with Retry-After and still delivers the reply exactly once', async () => {
    t.api.failNext('chat.postMessage', { status: 429, retryAfterSeconds: 1 });
    const started = Date.now();
    await postSigned(t.baseUrl, eventBody(mentionEvent('/hr policy parental leave', 'URATE')), JSON_TYPE);
    await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length === 2, 8000, 'retried post');
    await sleep(300);
    const posts = t.api.callsOf('chat.postMessage');
    assert.equal(posts.length, 2, 'one refused attempt, one delivered');
    assert.ok(posts[1]!.at - posts[0]!.at >= 950, `waited ${posts[1]!.at - posts[0]!.at} ms`);
    assert.deepEqual(posts[1]!.args, posts[0]!.args);
    assert.ok(Date.now() - started >= 1000);
  });

  it('splits a long answer into markdown blocks of at most 12,000 characters, in messages in the same thread', async () => {
    const before = t.api.calls.length;
    const event = mentionEvent('how many vacation days do I get?', 'ULONG');
    await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'chat.postMessage' && buttons(c.args.blocks).length > 0), 5000, 'long answer');
    const posts = t.api.calls.slice(before).filter((c) => c.method === 'chat.postMessage');
    assert.ok(posts.every((p) => p.refused === undefined), 'Slack took every message');
    const bodies = posts.flatMap((p) => (p.args.blocks ?? []).flatMap((b) => (typeof b.text === 'string' ? [b.text] : [])));
    assert.ok(bodies.length > 1);
    for (const body of bodies) {
      assert.ok(body.length <= MAX_MARKDOWN_CHARS);
      assert.match(body, /^\*\*Point \d+\.\*\*/, 'each piece starts at a paragraph');
      assert.match(body, /\.$/, 'each piece ends at a sentence');
    }
    assert.ok(posts.every((p) => p.args.thread_ts === event.ts));
    assert.equal(posts.flatMap((p) => buttons(p.args.blocks)).length, 2);
    assert.match(contextText(posts.at(-1)!.args.blocks), /Sources/);
  });
});

/** An answer streamed in 8 parts, for the streaming and the no-streaming workspaces alike. */
const chunks = Array.from({ length: 8 }, (_, i) => `Part ${i} of the answer, streamed as it arrives from the model. `.repeat(2));

describe('Slack: progress and streaming', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot({ extensions: { answerer: streamingAnswerer(chunks, { gapMs: 150 }) } });
  });
  after(async () => {
    await t.close();
  });

  /** The markdown a run of calls streamed, in order. */
  const streamedText = (calls: readonly RecordedCall[]) => calls.flatMap((c) => (c.args.chunks ?? []).map((chunk) => chunk.text ?? '')).join('');

  it('shows a status, then streams a mention answer with startStream, appendStream and stopStream', async () => {
    const before = t.api.calls.length;
    const event = mentionEvent('how many vacation days do I get?', 'USTREAM');
    await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'assistant.threads.setStatus' && c.args.status === ''), 8000, 'status cleared');
    const calls = t.api.calls.slice(before);
    const methods = calls.map((c) => c.method);
    assert.equal(methods[0], 'assistant.threads.setStatus');
    assert.equal(calls[0]!.args.status, SLACK_STATUS);
    assert.equal(calls[0]!.args.thread_ts, event.ts);
    assert.equal(methods[1], 'chat.startStream');
    assert.equal(methods.at(-2), 'chat.stopStream');
    assert.ok(methods.slice(2, -2).every((m) => m === 'chat.appendStream') && methods.length > 4, methods.join(', '));
    const start = calls[1]!;
    assert.equal(start.args.channel, 'C1');
    assert.equal(start.args.thread_ts, event.ts);
    assert.equal(start.args.recipient_team_id, 'T1');
    assert.equal(start.args.recipient_user_id, 'USTREAM');
    assert.equal(streamedText(calls), chunks.join(''));
    const stop = calls.at(-2)!;
    assert.match(contextText(stop.args.blocks), /Sources/);
    assert.equal(buttons(stop.args.blocks).length, 2);
    assert.equal(methods.filter((m) => m === 'chat.postMessage').length, 0);
    assert.equal(methods.filter((m) => m === 'assistant.threads.setTitle').length, 0, 'a channel thread keeps its own title');
    assert.deepEqual(t.api.openStreams, []);
  });

  it('answers a DM in its own thread: a title from the question, a status, the streamed answer, the status cleared', async () => {
    const before = t.api.calls.length;
    const event = dmEvent('How many vacation days do I get?', 'UDMSTREAM');
    await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'assistant.threads.setStatus' && c.args.status === ''), 8000, 'status cleared');
    const calls = t.api.calls.slice(before);
    const methods = calls.map((c) => c.method);
    assert.deepEqual(methods.slice(0, 3), ['assistant.threads.setTitle', 'assistant.threads.setStatus', 'chat.startStream']);
    assert.deepEqual(calls[0]!.args, { channel_id: 'DUDMSTREAM', thread_ts: event.ts, title: 'How many vacation days do I get?' });
    assert.equal(calls[1]!.args.status, SLACK_STATUS);
    for (const call of calls.filter((c) => c.method.startsWith('chat.'))) {
      assert.equal(call.args.channel, 'DUDMSTREAM');
    }
    assert.equal(calls[2]!.args.thread_ts, event.ts, "the answer is a reply in the thread of the user's message");
    assert.equal(streamedText(calls), chunks.join(''));
    assert.equal(methods.filter((m) => m === 'chat.postMessage' || m === 'chat.update').length, 0, 'one message: the stream');
    const stop = calls.find((c) => c.method === 'chat.stopStream')!;
    assert.equal(buttons(stop.args.blocks).length, 2);
    assert.deepEqual((stop.args.metadata as { event_type?: string } | undefined)?.event_type, 'hrbot_reply', 'the finished stream is marked as this answer');
    assert.deepEqual(t.api.openStreams, []);
    assert.ok(t.api.calls.every((c) => c.refused === undefined), 'Slack took every call');
  });

  it('answers a follow-up in the thread it was written in, without a new title', async () => {
    const root = dmEvent('How many vacation days do I get?', 'UFOLLOW');
    const before = t.api.calls.length;
    const followUp = dmEvent('and in Ireland?', 'UFOLLOW', { thread_ts: root.ts });
    await postSigned(t.baseUrl, eventBody(followUp), JSON_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'chat.stopStream'), 8000, 'answer');
    const calls = t.api.calls.slice(before);
    assert.equal(calls.find((c) => c.method === 'chat.startStream')!.args.thread_ts, root.ts);
    assert.equal(calls.filter((c) => c.method === 'assistant.threads.setTitle').length, 0);
  });
});

describe('Slack: a workspace without streaming', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot({ extensions: { answerer: streamingAnswerer(chunks, { gapMs: 150 }) } });
  });
  after(async () => {
    await t.close();
  });

  it('posts a placeholder in the thread and edits it at most once a second, ending with the answer', async () => {
    t.api.failNext('chat.startStream', { error: 'unknown_method' });
    const before = t.api.calls.length;
    const event = dmEvent('how many vacation days do I get?', 'UNOSTREAM');
    await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'chat.update' && c.args.blocks !== undefined), 8000, 'final update');
    const calls = t.api.calls.slice(before).filter((c) => c.method === 'chat.postMessage' || c.method === 'chat.update');
    assert.equal(calls[0]!.method, 'chat.postMessage');
    assert.equal(calls[0]!.args.thread_ts, event.ts);
    const updates = calls.filter((c) => c.method === 'chat.update');
    assert.ok(updates.every((u) => u.args.ts === calls[0]!.postedTs));
    const previews = updates.slice(0, -1);
    for (let i = 1; i < previews.length; i += 1) assert.ok(previews[i]!.at - previews[i - 1]!.at >= 950);
    assert.ok(previews.length <= 3, `${previews.length} preview edits for ~1.2 s of streaming`);
    const final = updates.at(-1)!;
    assert.match(sectionText(final.args.blocks), /Part 7/);
    assert.equal(buttons(final.args.blocks).length, 2);
    assert.equal(calls.filter((c) => c.method === 'chat.postMessage').length, 1);
  });
});

describe('Slack: the final reply wins over the stream', () => {
  let t: SlackTestBot;
  before(async () => {
    const chunks = Array.from({ length: 4 }, () => 'Half an answer that will be abandoned by the model. '.repeat(3));
    t = await startSlackBot({ extensions: { answerer: streamingAnswerer(chunks, { final: 'The fallback: see **Leave › Vacation**.' }) } });
  });
  after(async () => {
    await t.close();
  });

  it('replaces the streamed text with the final reply when they differ', async () => {
    const event = mentionEvent('how many vacation days do I get?', 'UFALLBACK');
    await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    await t.api.waitFor(() => t.api.callsOf('chat.update').length === 1, 8000, 'replacement');
    const methods = t.api.outgoing.map((c) => c.method);
    assert.ok(methods.indexOf('chat.stopStream') < methods.indexOf('chat.update'));
    const update = t.api.callsOf('chat.update')[0]!;
    assert.equal(update.args.ts, t.api.callsOf('chat.stopStream')[0]!.args.ts, 'the streamed message is the one replaced');
    assert.equal(sectionText(update.args.blocks), 'The fallback: see **Leave › Vacation**.');
    assert.deepEqual(t.api.openStreams, []);
    assert.equal(buttons(update.args.blocks).length, 2);
  });
});

describe('Slack: shutdown', () => {
  it('drains an acknowledged event still being answered before it stops', async () => {
    const gated = new GatedAnswerer();
    const t = await startSlackBot({ extensions: { answerer: gated } });
    await postSigned(t.baseUrl, eventBody(mentionEvent('how many vacation days do I get?', 'UDRAIN')), JSON_TYPE);
    await t.api.waitFor(() => gated.calls === 1, 5000, 'answerer called');
    // As main.ts stops: stop receiving, then let the inbox worker finish what it holds.
    const stopping = t.slack.stop().then(() => t.bot.core.inbox.worker.stop(5_000));
    setTimeout(() => gated.release(), 100);
    assert.equal(await stopping, 0, 'nothing handed back');
    // The answer went out before the stop resolved, while the fake API was still up.
    assert.equal(t.api.callsOf('chat.postMessage').length, 1);
    await t.close();
  });
});

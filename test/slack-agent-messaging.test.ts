// Slack's agent messaging experience over the fake Web API: each DM answered in its own thread with
// a status, a streamed answer and a title; suggested prompts when the Messages tab opens; and the
// durable inbox's promise kept for streams: a stream a crash cut off is completed or replaced,
// never left open, and each question still gets one message.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { webApi } from '@slack/bolt';
import { MessageDelivery, replyMarker, SLACK_STATUS } from '../adapters/slack/delivery.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { Reply } from '../src/message.ts';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import type { StoredMessage } from './fakes/fake-slack-api.ts';
import { startMain } from './support/main-process.ts';
import { buttons, sectionText } from './support/slack-blocks.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { BOT_TOKEN, dmEvent, eventBody, JSON_TYPE, nextTs, postSigned } from './support/slack-requests.ts';
import { tempDir } from './support/temp-bot.ts';
import { fixedAnswerer, streamingAnswerer } from './support/test-answerers.ts';
import { slackProcessEnv } from './support/slack-process-env.ts';

/** What a message shows now: its blocks' body when it has blocks, else what was streamed into it, else its text. */
function showing(message: StoredMessage): string {
  if (message.blocks !== undefined && sectionText(message.blocks) !== '') return sectionText(message.blocks);
  return message.streamed ?? (typeof message.text === 'string' ? message.text : '');
}

/** An `app_home_opened` event: `user` opened the app's Messages tab (agent messaging) or Home tab. */
function homeOpened(user: string, tab: 'messages' | 'home' = 'messages'): Record<string, unknown> {
  return { type: 'app_home_opened', user, channel: `D${user}`, tab, event_ts: nextTs() };
}

const ANSWER = Array.from({ length: 12 }, (_, i) => `Point ${i + 1}: full-time employees get 25 vacation days a year, and carry over up to five.`).join('\n');

describe('Slack agent messaging: a crash during a stream', () => {
  it('SIGKILL while answers stream, then a restart: every stream stopped, each question one message with its whole answer', async () => {
    const dir = tempDir();
    const api = await new FakeSlackApi().start();
    // Slow enough that the kill lands mid-stream: ~1,000 characters at 24 characters every 60 ms.
    const bedrock = await startFakeBedrock({ chunkChars: 24, chunkDelayMs: 60, reply: () => ({ text: ANSWER, stopReason: 'end_turn' }) });
    const env = { ...slackProcessEnv(api.apiUrl, dir.path), ...bedrockEnv(bedrock.url) };
    const users = ['UCRASH1', 'UCRASH2', 'UCRASH3'];
    const events = users.map((user) => dmEvent('How many vacation days do I get?', user));
    try {
      const first = await startMain({ env });
      for (const event of events) assert.equal((await postSigned(`http://127.0.0.1:${first.port}`, eventBody(event), JSON_TYPE)).status, 200);
      await api.waitFor(() => api.callsOf('chat.appendStream').length >= 2, 20_000, 'streams under way');
      await first.kill();
      assert.ok(api.openStreams.length > 0, 'the crash left at least one stream open');

      const second = await startMain({ env });
      const answered = () => events.every((event) => api.messages.some((m) => m.thread_ts === event.ts && m.streaming !== true && showing(m).includes('Point 12')));
      await api.waitFor(answered, 30_000, 'every question answered');
      assert.equal((await second.stop()).code, 0);

      assert.deepEqual(api.openStreams, [], 'no stream left open');
      for (const event of events) {
        const mine = api.messages.filter((m) => m.channel === event.channel && m.thread_ts === event.ts);
        assert.equal(mine.length, 1, `one message for the question in ${String(event.channel)}: ${JSON.stringify(mine.map(showing))}`);
        const text = showing(mine[0]!);
        assert.equal((text.match(/Point 1:/g) ?? []).length, 1, 'the answer once, not repeated after the restart');
        assert.match(text, /Point 12: full-time employees/);
      }
      assert.ok(api.calls.every((c) => c.refused === undefined), `Slack took every call: ${api.calls.filter((c) => c.refused).map((c) => `${c.method} ${c.refused}`).join(', ')}`);
    } finally {
      await bedrock.close();
      await api.close();
      dir.remove();
    }
  });
});

describe('Slack agent messaging: a stream whose ts a crash lost', () => {
  const reply: Reply = { kind: 'answer', text: 'You get **25 vacation days** a year.', sources: [], visibility: 'public', answerId: 'ans1' };
  const target = { channel: 'DULOST', userId: 'ULOST', teamId: 'T1', kind: 'dm' as const, threadTs: '1710000000.500000' };

  it('finds the unmarked stream in the thread, stops it and edits the answer into it', async () => {
    const api = await new FakeSlackApi().start();
    try {
      const client = new webApi.WebClient(BOT_TOKEN, { slackApiUrl: api.apiUrl, retryConfig: { retries: 0 } });
      // Another item's finished answer in the same thread, marked: it must be left alone.
      await client.chat.postMessage({ channel: target.channel, thread_ts: target.threadTs, text: 'earlier answer', metadata: replyMarker(6) });
      // What the crashed attempt left: a stream Slack started, whose ts was never saved.
      const lost = await client.chat.startStream({ channel: target.channel, thread_ts: target.threadTs, markdown_text: 'You get **25 vac' });
      const delivery = new MessageDelivery(client, target, silentLogger(), { shown: { posting: true }, itemId: 7, after: '1710000000.500000' }, { bot: api.bot });
      await delivery.finish(reply);

      assert.deepEqual(api.openStreams, []);
      assert.deepEqual(
        api.callsOf('chat.stopStream').map((c) => c.args.ts),
        [lost.ts],
      );
      const update = api.callsOf('chat.update').at(-1)!;
      assert.equal(update.args.ts, lost.ts);
      assert.equal(sectionText(update.args.blocks), 'You get **25 vacation days** a year.');
      assert.equal(api.callsOf('chat.postMessage').length, 1, 'no second message for the question');
      assert.equal(api.messages.find((m) => m.text === 'earlier answer')?.blocks, undefined, 'the other answer untouched');
    } finally {
      await api.close();
    }
  });

  it('a retry finds the reply an attempt posted without saving anything, and posts no second one', async () => {
    const api = await new FakeSlackApi().start();
    try {
      const client = new webApi.WebClient(BOT_TOKEN, { slackApiUrl: api.apiUrl, retryConfig: { retries: 0 } });
      // The first attempt: the reply's own post saves nothing, then the process dies before the item is done.
      const saved: unknown[] = [];
      const first = new MessageDelivery(client, target, silentLogger(), { shown: {}, onShown: (shown) => Promise.resolve(void saved.push(shown)), itemId: 8, after: '1710000000.500000' }, { bot: api.bot });
      await first.finish(reply);
      assert.deepEqual(saved, [], 'nothing written for the post');
      assert.equal(api.callsOf('chat.postMessage').length, 1);
      const posted = api.callsOf('chat.postMessage')[0]!;

      // A first attempt is not searched for; a retry is, and edits the post it finds.
      const retry = new MessageDelivery(client, target, silentLogger(), { shown: {}, itemId: 8, after: '1710000000.500000', retried: true }, { bot: api.bot });
      await retry.finish(reply);
      assert.equal(api.callsOf('conversations.replies').length, 1, 'the retry looked for the post');
      assert.equal(api.callsOf('chat.postMessage').length, 1, 'no second message for the question');
      assert.ok(posted.postedTs);
      assert.equal(api.callsOf('chat.update').at(-1)?.args.ts, posted.postedTs, 'the post found is edited');
    } finally {
      await api.close();
    }
  });
});

describe('Slack agent messaging: suggested prompts and titles', () => {
  it('sets suggested prompts for the DM when the Messages tab opens, from handbook topics, without a thread_ts', async () => {
    const t = await startSlackBot({ env: { BOT_NAME: 'People Helper' } });
    try {
      const opened = eventBody(homeOpened('UPROMPT'), { eventId: 'EvHOME1' });
      assert.equal((await postSigned(t.baseUrl, opened, JSON_TYPE)).status, 200);
      // Slack's retry of the same event is not answered again.
      assert.equal((await postSigned(t.baseUrl, opened, JSON_TYPE, { headers: { 'x-slack-retry-num': '1' } })).status, 200);
      assert.equal((await postSigned(t.baseUrl, eventBody(homeOpened('UPROMPT', 'home')), JSON_TYPE)).status, 200);
      await t.api.waitFor(() => t.api.callsOf('assistant.threads.setSuggestedPrompts').length === 1, 5000, 'prompts');
      await t.bot.core.inbox.worker.stop(5_000);
      assert.equal(t.api.callsOf('assistant.threads.setSuggestedPrompts').length, 1, 'once, for the Messages tab only');
      const call = t.api.callsOf('assistant.threads.setSuggestedPrompts')[0]!;
      assert.equal(call.refused, undefined);
      assert.equal(call.args.channel_id, 'DUPROMPT');
      assert.equal(call.args.thread_ts, undefined, 'an agent app must not send thread_ts (Slack silently drops the call)');
      assert.equal(call.args.title, 'Ask People Helper about');
      const prompts = call.args.prompts as Array<{ title: string; message: string }>;
      assert.equal(prompts.length, 4);
      // No history yet: the handbook's own documents.
      assert.deepEqual(prompts.map((p) => p.title), ['Benefits', 'Code of Conduct', 'Expenses and Travel', 'Company Holidays']);
      assert.equal(prompts[0]!.message, 'What does the handbook say about Benefits?');
      assert.equal(t.api.outgoing.filter((c) => c.method.startsWith('chat.')).length, 0, 'no message posted');
    } finally {
      await t.close();
    }
  });

  it('suggests what several colleagues asked about, by section title, never anyone’s question', async () => {
    const t = await startSlackBot({ extensions: { answerer: fixedAnswerer('Parental leave is 16 weeks.') } });
    try {
      const secret = 'parental leave question zqxj-private';
      for (const user of ['UASK1', 'UASK2', 'UASK3']) await postSigned(t.baseUrl, eventBody(dmEvent(`${secret} ${user}`, user)), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length === 3, 8000, 'three answers');
      await postSigned(t.baseUrl, eventBody({ type: 'assistant_thread_started', assistant_thread: { user_id: 'UOTHER', channel_id: 'DUOTHER', thread_ts: '1710000000.900000' }, event_ts: nextTs() }), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('assistant.threads.setSuggestedPrompts').length === 1, 5000, 'prompts');
      const call = t.api.callsOf('assistant.threads.setSuggestedPrompts')[0]!;
      assert.equal(call.args.thread_ts, '1710000000.900000', 'the older assistant view names its thread');
      const prompts = call.args.prompts as Array<{ title: string; message: string }>;
      const answered = t.bot.core.db.prepare("SELECT sources FROM messages WHERE role = 'assistant' LIMIT 1").pluck().get() as string;
      const sections = new Set((JSON.parse(answered) as Array<{ heading: string }>).map((source) => source.heading));
      assert.ok(sections.size > 0);
      assert.ok(sections.has(prompts[0]!.title), `the most-asked sections come first: ${prompts[0]!.title}`);
      assert.equal(prompts.length, 4);
      assert.doesNotMatch(JSON.stringify(call.args), /zqxj|private|UASK/);
    } finally {
      await t.close();
    }
  });

  it('does not suggest a topic only one person asked about', async () => {
    const t = await startSlackBot({ extensions: { answerer: fixedAnswerer('Parental leave is 16 weeks.') } });
    try {
      await postSigned(t.baseUrl, eventBody(dmEvent('parental leave for my partner', 'USOLO')), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length === 1, 8000, 'the answer');
      await postSigned(t.baseUrl, eventBody(homeOpened('UOTHER')), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('assistant.threads.setSuggestedPrompts').length === 1, 5000, 'prompts');
      const titles = (t.api.callsOf('assistant.threads.setSuggestedPrompts')[0]!.args.prompts as Array<{ title: string }>).map((p) => p.title);
      assert.deepEqual(titles, ['Benefits', 'Code of Conduct', 'Expenses and Travel', 'Company Holidays']);
    } finally {
      await t.close();
    }
  });

  it('titles a new DM thread from the question, with markup broken so it cannot mention', async () => {
    const t = await startSlackBot();
    try {
      const event = dmEvent('  <!channel>   what is\nthe policy on expenses for a very long trip abroad with my whole team and a few clients too?', 'UTITLE');
      await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length === 1, 8000, 'the answer');
      const title = t.api.callsOf('assistant.threads.setTitle')[0]!.args;
      assert.equal(title.thread_ts, event.ts);
      assert.equal(title.title, '<\u200B!channel> what is the policy on expenses for a very long trip abroad with my…');
    } finally {
      await t.close();
    }
  });
});

describe('Slack agent messaging: an answer over 12,000 characters', () => {
  it('streams in calls Slack accepts, then becomes messages within the limits, in the thread', async () => {
    const paragraph = (i: number) => `Paragraph ${i}: ${'the policy explains this in detail '.repeat(12).trim()}.`;
    const huge = `${Array.from({ length: 40 }, (_, i) => paragraph(i)).join('\n\n')}\n`;
    assert.ok(huge.length > 12_000);
    const t = await startSlackBot({ extensions: { answerer: streamingAnswerer([huge]) } });
    try {
      const event = dmEvent('Tell me everything about leave', 'UHUGE');
      await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('assistant.threads.setStatus').some((c) => c.args.status === ''), 8000, 'the answer');
      assert.deepEqual(t.api.calls.filter((c) => c.refused !== undefined).map((c) => `${c.method}: ${c.refused}`), [], 'Slack took every call');
      assert.ok(t.api.callsOf('chat.startStream').length === 1 && t.api.callsOf('chat.appendStream').length >= 1, 'streamed in more than one call');
      assert.deepEqual(t.api.openStreams, []);
      const mine = t.api.messages.filter((m) => m.thread_ts === event.ts);
      assert.ok(mine.length >= 2, 'split over several messages');
      const shown = mine.map(showing).join('\n\n');
      for (let i = 0; i < 40; i++) assert.equal((shown.match(new RegExp(`Paragraph ${i}:`, 'g')) ?? []).length, 1, `paragraph ${i} once`);
      assert.equal(buttons(mine.at(-1)!.blocks).length, 2, 'feedback on the last message');
    } finally {
      await t.close();
    }
  });
});

describe('Slack agent messaging: one streamed answer in a DM, as Slack receives it', () => {
  it('title, status, stream and its blocks, status cleared (written out with HRBOT_SLACK_JSON_OUT=<file>)', async () => {
    const chunks = [
      'Full-time employees get **25 vacation days** a year, on top of the company holidays and the wellbeing day in October.\n\n',
      '- Up to **5 days** carry over to the next year; the rest lapses on 31 March.\n',
      '- Part-time staff get a pro-rated share, rounded up to the nearest half day.\n',
      '- New joiners accrue from their start date.\n',
      '- Unused days above the carry-over limit are not paid out, except where local law requires it (Ireland).\n',
      '- Requests go through Workday at least two weeks ahead for anything longer than three days.\n',
      '- Your manager approves or declines within five working days.\n\n',
      'See [the PTO policy](https://hr.example.com/handbook/pto.md#carry-over) for the details, or ask me about carry-over.',
    ];
    const t = await startSlackBot({ env: { KNOWLEDGE_BASE_URL: 'https://hr.example.com/handbook' }, extensions: { answerer: streamingAnswerer(chunks, { gapMs: 20 }) } });
    try {
      const event = dmEvent('How many vacation days do I get?', 'UJSON');
      await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('assistant.threads.setStatus').some((c) => c.args.status === ''), 8000, 'the answer');
      const calls = t.api.outgoing.map((c) => ({ method: c.method, body: c.args }));
      assert.deepEqual(calls.map((c) => c.method), ['assistant.threads.setTitle', 'assistant.threads.setStatus', 'chat.startStream', 'chat.appendStream', 'chat.stopStream', 'assistant.threads.setStatus']);
      assert.equal(calls[1]!.body.status, SLACK_STATUS);
      const stop = t.api.callsOf('chat.stopStream')[0]!;
      assert.equal(buttons(stop.args.blocks).length, 2);
      assert.match(JSON.stringify(stop.args.blocks), /<https:\/\/hr\.example\.com\/handbook\/pto\.md#[a-z-]+\|/, 'sources link to the handbook site');
      const streamed = t.api.messages.find((m) => m.thread_ts === event.ts)!;
      assert.equal(streamed.streamed, chunks.join(''), 'a trusted handbook link keeps its label');
      // For the record of what Slack receives: HRBOT_SLACK_JSON_OUT=<file> writes the calls there.
      const out = process.env['HRBOT_SLACK_JSON_OUT'];
      if (out !== undefined && out !== '') writeFileSync(out, `${JSON.stringify(calls, null, 2)}\n`);
    } finally {
      await t.close();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SlackTestBot } from './support/slack-bot.ts';
import { contextText, sectionText } from './support/slack-blocks.ts';
import { startSlackBot } from './support/slack-bot.ts';
import {
  BOT_TOKEN,
  commandBody,
  dmEvent,
  eventBody,
  FORM_TYPE,
  JSON_TYPE,
  mentionEvent,
  postSigned,
  SIGNING_SECRET,
} from './support/slack-requests.ts';


describe('Slack over HTTP', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot();
  });
  after(async () => {
    await t.close();
  });

  it('answers a signed DM once, in the DM channel, with sources and feedback buttons', async () => {
    const before = t.api.outgoing.length;
    const event = dmEvent('how many vacation days do I get?', 'UDMUSER');
    const response = await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    assert.equal(response.status, 200);
    await t.api.waitFor(() => t.api.outgoing.slice(before).some((c) => c.method === 'chat.update' || (c.method === 'chat.postMessage' && c.args.blocks !== undefined)), 5000, 'DM answer');
    const calls = t.api.outgoing.slice(before);
    // A top-level DM is answered in its own thread (Slack's agent messaging): one message with the answer.
    const final = calls.filter((c) => c.args.blocks !== undefined);
    assert.equal(final.length, 1, `one answer, got ${calls.map((c) => c.method).join(', ')}`);
    const answer = final[0]!;
    assert.equal(answer.args.channel, 'DUDMUSER');
    assert.equal(answer.args.thread_ts, event.ts);
    assert.match(sectionText(answer.args.blocks), /vacation|days/i);
    assert.match(contextText(answer.args.blocks), /Sources/);
    // Slack's own feedback element, in a context_actions block, rating this answer.
    const actions = answer.args.blocks!.find((b) => b.type === 'context_actions')!;
    assert.deepEqual(
      actions.elements!.map((e) => [e.type, e.action_id]),
      [['feedback_buttons', 'hr_feedback']],
    );
    assert.match(actions.elements![0]!.positive_button?.value ?? '', /^up:.+/);
    assert.match(actions.elements![0]!.negative_button?.value ?? '', /^down:.+/);
    assert.equal(typeof answer.args.text, 'string');
    assert.ok(calls.every((c) => c.token === BOT_TOKEN));
  });

  it('answers a mention in the thread of the mention, without the bot mention in the question', async () => {
    const before = t.api.outgoing.length;
    const event = mentionEvent('/hr policy parental leave', 'UMENTION');
    await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    await t.api.waitFor(() => t.api.outgoing.slice(before).some((c) => c.method === 'chat.postMessage'), 5000, 'mention answer');
    const posts = t.api.outgoing.slice(before).filter((c) => c.method === 'chat.postMessage');
    assert.equal(posts.length, 1);
    assert.equal(posts[0]!.args.channel, 'C1');
    assert.equal(posts[0]!.args.thread_ts, event.ts);
    assert.match(sectionText(posts[0]!.args.blocks), /parental/i);
    assert.match(contextText(posts[0]!.args.blocks), /Sources/);
  });

  it('answers /hr policy ephemerally through the response_url, acknowledging at once', async () => {
    const before = t.api.calls.length;
    const started = Date.now();
    const response = await postSigned(t.baseUrl, commandBody('policy parental leave', t.api.responseUrl('cmd1'), 'UCMD'), FORM_TYPE);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '');
    assert.ok(Date.now() - started < 3000);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'response_url'), 5000, 'response_url post');
    const posts = t.api.calls.slice(before).filter((c) => c.method === 'response_url');
    assert.equal(posts.length, 1);
    assert.equal(posts[0]!.args.response_type, 'ephemeral');
    assert.match(sectionText(posts[0]!.args.blocks), /parental/i);
    assert.match(contextText(posts[0]!.args.blocks), /Sources/);
    assert.equal(t.api.calls.slice(before).filter((c) => c.method === 'chat.postMessage').length, 0);
  });

  it('lists the commands for /hr help', async () => {
    const before = t.api.calls.length;
    await postSigned(t.baseUrl, commandBody('help', t.api.responseUrl('help1'), 'UHELP'), FORM_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'response_url'), 5000, 'help');
    const post = t.api.calls.slice(before).find((c) => c.method === 'response_url')!;
    assert.equal(post.args.response_type, 'ephemeral');
    for (const command of ['policy', 'holidays', 'contact', 'history', 'forget', 'usage']) {
      assert.match(sectionText(post.args.blocks), new RegExp(`/hr ${command}`));
    }
  });

  it('answers the url_verification challenge', async () => {
    const response = await postSigned(t.baseUrl, JSON.stringify({ type: 'url_verification', challenge: 'abc123', token: 'x' }), JSON_TYPE);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { challenge: 'abc123' });
  });

  it('refuses bad, missing and stale signatures with 401 and processes nothing', async () => {
    const before = t.api.calls.length;
    const body = eventBody(dmEvent('how many vacation days do I get?', 'UFORGER'));
    const forged = await postSigned(t.baseUrl, body, JSON_TYPE, { secret: 'wrong-secret' });
    const missing = await postSigned(t.baseUrl, body, JSON_TYPE, { signature: null });
    const stale = await postSigned(t.baseUrl, body, JSON_TYPE, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    const future = await postSigned(t.baseUrl, body, JSON_TYPE, { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 });
    const tampered = await fetch(`${t.baseUrl}/slack/events`, {
      method: 'POST',
      headers: {
        'content-type': JSON_TYPE,
        'x-slack-request-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-slack-signature': 'v0=' + '0'.repeat(64),
      },
      body,
    });
    assert.deepEqual([forged.status, missing.status, stale.status, future.status, tampered.status], [401, 401, 401, 401, 401]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(t.api.calls.length, before);
    const row = t.bot.core.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE owner_key LIKE '%UFORGER%'").get() as { n: number };
    assert.equal(row.n, 0);
  });

  it('answers a malformed body with 400', async () => {
    const response = await postSigned(t.baseUrl, '{not json', JSON_TYPE);
    assert.equal(response.status, 400);
  });

  it('never writes the signing secret or the bot token to the log', () => {
    const text = t.bot.logText();
    assert.ok(text.length > 0);
    assert.ok(!text.includes(SIGNING_SECRET));
    assert.ok(!text.includes(BOT_TOKEN));
    assert.ok(!text.includes('vacation days'), 'message text stays out of info logs');
  });
});

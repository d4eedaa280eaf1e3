// A sensitive question asked in a Slack channel: the answer (with the HR contact) goes to the asker
// alone, and the channel sees only that an answer was sent privately. Real signed requests to the
// Slack adapter, replies recorded by the fake Slack Web API.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PRIVATE_ANSWER_NOTE } from '../src/engine/engine.ts';
import { sectionText } from './support/slack-blocks.ts';
import type { SlackTestBot } from './support/slack-bot.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { eventBody, JSON_TYPE, mentionEvent, postSigned } from './support/slack-requests.ts';

void describe('Slack: sensitive questions in a channel', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot();
  });
  after(async () => {
    await t.close();
  });

  void it('answers the asker privately with the contact, and tells the channel only that it did', async () => {
    const before = t.api.calls.length;
    const event = mentionEvent('how do I report harassment by my manager anonymously?', 'UASKER');
    await postSigned(t.baseUrl, eventBody(event), JSON_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'chat.postMessage'), 5000, 'public note');
    const calls = t.api.calls.slice(before);
    assert.deepEqual(calls.map((c) => c.method), ['chat.postEphemeral', 'chat.postMessage'], 'the private answer first, then the note');
    const [answer, note] = calls as [(typeof calls)[number], (typeof calls)[number]];
    assert.equal(answer.args.user, 'UASKER');
    assert.match(`${String(answer.args.text)} ${sectionText(answer.args.blocks)}`, /anonymous/i);
    assert.match(`${String(answer.args.text)} ${sectionText(answer.args.blocks)}`, /@/, 'names an HR contact');
    assert.equal(note.args.channel, 'C1');
    assert.equal(note.args.thread_ts, event.ts);
    assert.equal(note.args.text, PRIVATE_ANSWER_NOTE);
    assert.doesNotMatch(JSON.stringify(note.args), /harass|manager|anonym/i, 'nothing of the question or the answer in public');
  });

  void it('an ordinary question in a channel is answered in the channel, with no note', async () => {
    const before = t.api.calls.length;
    await postSigned(t.baseUrl, eventBody(mentionEvent('how many vacation days do I get?', 'UASKER')), JSON_TYPE);
    await t.api.waitFor(() => t.api.calls.slice(before).some((c) => c.method === 'chat.postMessage' || c.method === 'chat.update'), 5000, 'answer');
    const calls = t.api.calls.slice(before);
    assert.ok(!calls.some((c) => c.method === 'chat.postEphemeral'));
    assert.ok(!calls.some((c) => c.args.text === PRIVATE_ANSWER_NOTE));
  });
});

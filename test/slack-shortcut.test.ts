// The message shortcut "Ask HR about this message" over the fake Slack API with signed payloads:
// the chosen message's text is asked as the clicking user's question and answered through the
// payload's response_url as an ephemeral message (only they see it, in the same conversation).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { shortcutQuestion } from '../adapters/slack/message-shortcut.ts';
import type { RecordedCall } from './fakes/fake-slack-api.ts';
import type { SlackTestBot } from './support/slack-bot.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { sectionText } from './support/slack-blocks.ts';
import { FORM_TYPE, interactionBody, postSigned } from './support/slack-requests.ts';

let counter = 0;

/** The latest post to the response_url made with `id`: other tests' posts may still be arriving. */
function replyTo(t: SlackTestBot, id: string): RecordedCall | undefined {
  return t.api.callsOf('response_url').findLast((call) => call.responseId === id);
}

/** A `message_action` payload: `user` chose the shortcut on a message by `author` saying `text`. */
function shortcutBody(text: string, responseUrl: string, options: { user?: string; author?: string; channel?: string; callbackId?: string } = {}): string {
  counter += 1;
  const user = options.user ?? 'UASKER';
  const ts = `1710000100.${String(counter).padStart(6, '0')}`;
  return interactionBody({
    type: 'message_action',
    token: 'legacy-verification-token',
    action_ts: `${Date.now() / 1000}`,
    team: { id: 'T1', domain: 'northwind' },
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: 'T1' },
    channel: { id: options.channel ?? 'C1', name: 'general' },
    is_enterprise_install: false,
    enterprise: null,
    callback_id: options.callbackId ?? 'ask_hr_about_message',
    trigger_id: `${Date.now()}.${counter}.shortcut`,
    response_url: responseUrl,
    message_ts: ts,
    message: { type: 'message', user: options.author ?? 'UAUTHOR', ts, text, team: 'T1' },
  });
}

describe('Slack message shortcut "Ask HR about this message"', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot();
  });
  after(async () => {
    await t.close();
  });

  it("answers the message's text privately to the user who chose the shortcut, through its response_url", async () => {
    const url = t.api.responseUrl('shortcut-1');
    const response = await postSigned(t.baseUrl, shortcutBody('How many vacation days do we get per year?', url), FORM_TYPE);
    assert.equal(response.status, 200);
    await t.api.waitFor(() => t.api.callsOf('response_url').some((call) => call.args.response_type === 'ephemeral'), 5000, 'answer');
    const answer = t.api.callsOf('response_url').find((call) => call.args.response_type === 'ephemeral')!;
    assert.match(sectionText(answer.args.blocks), /Paid Time Off/);
    // Nothing public: no channel message, no DM.
    assert.equal(t.api.callsOf('chat.postMessage').length, 0);
    // The question is the asker's, in their own history and quota, not the author's.
    const owners = t.bot.core.db.prepare("SELECT DISTINCT owner_key FROM messages WHERE role = 'user'").pluck().all();
    assert.deepEqual(owners, ['slack:T1:UASKER']);
  });

  it('asks the text as a question, never as a command, with Slack markup made harmless', async () => {
    await postSigned(t.baseUrl, shortcutBody('forget', t.api.responseUrl('shortcut-forget')), FORM_TYPE);
    await t.api.waitFor(() => replyTo(t, 'shortcut-forget') !== undefined, 5000, 'reply');
    // "forget" in someone's message did not erase the asker.
    assert.ok((t.bot.core.db.prepare("SELECT COUNT(*) FROM messages WHERE owner_key = 'slack:T1:UASKER'").pluck().get() as number) > 0);
    assert.doesNotMatch(sectionText(replyTo(t, 'shortcut-forget')!.args.blocks), /erased/i);

    const marked = '<!channel> <@UBOSS|boss> see <https://evil.example/x|the policy> in <#C2|hr-news> &lt;b&gt;';
    assert.equal(shortcutQuestion(marked, 4000), '@channel @boss see the policy (https://evil.example/x) in #hr-news <b>');
    await postSigned(t.baseUrl, shortcutBody(`${marked} what is the parental leave policy?`, t.api.responseUrl('shortcut-markup')), FORM_TYPE);
    await t.api.waitFor(() => replyTo(t, 'shortcut-markup') !== undefined, 5000, 'reply');
    const shown = JSON.stringify(replyTo(t, 'shortcut-markup')!.args);
    assert.doesNotMatch(shown, /<!channel>|<@UBOSS/);
    const stored = t.bot.core.db.prepare("SELECT text FROM messages WHERE role = 'user' ORDER BY id DESC LIMIT 1").pluck().get() as string;
    assert.equal(stored, '@channel @boss see the policy (https://evil.example/x) in #hr-news <b> what is the parental leave policy?');
  });

  it('cuts a long message to MAX_MESSAGE_CHARS instead of refusing it', () => {
    const question = shortcutQuestion(`${'word '.repeat(2000)}end`, 100);
    assert.equal(question.length, 100);
    assert.ok(question.endsWith('…'));
  });

  it('says so, privately, when the message has no text (only a file)', async () => {
    await postSigned(t.baseUrl, shortcutBody('   ', t.api.responseUrl('shortcut-empty')), FORM_TYPE);
    await t.api.waitFor(() => replyTo(t, 'shortcut-empty') !== undefined, 5000, 'reply');
    const reply = replyTo(t, 'shortcut-empty')!;
    assert.equal(reply.args.response_type, 'ephemeral');
    assert.match(String(reply.args.text), /no text I can read/);
  });

  it('ignores another shortcut callback_id with a plain 200', async () => {
    const before = t.api.outgoing.length;
    const response = await postSigned(t.baseUrl, shortcutBody('hello', t.api.responseUrl('other'), { callbackId: 'someone_elses_shortcut' }), FORM_TYPE);
    assert.equal(response.status, 200);
    // A known shortcut sent after it is answered; the unknown one never was.
    await postSigned(t.baseUrl, shortcutBody('what are the office hours?', t.api.responseUrl('after-other')), FORM_TYPE);
    await t.api.waitFor(() => t.api.outgoing.length > before, 5000, 'reply');
    const replies = t.api.outgoing.slice(before);
    assert.deepEqual(replies.map((call) => call.method), ['response_url']);
    assert.match(sectionText(replies[0]!.args.blocks), /office|hours|handbook/i);
  });
});

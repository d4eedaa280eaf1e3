import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TeamsBot } from './support/teams-bot.ts';
import { ALICE, BOT_ID, TENANT, cardInvoke, channelMessage, personalMessage, startTeamsBot } from './support/teams-bot.ts';

describe('Teams: messages over /api/messages (emulator mode, fake connector)', () => {
  let t: TeamsBot;
  before(async () => {
    t = await startTeamsBot();
  });
  after(async () => {
    await t.close();
  });

  it('answers a personal chat message exactly once, typing first, in reply to the message', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
    const conversation = (activity.conversation as { id: string }).id;
    const before = t.connector.calls.length;
    const response = await t.post(activity);
    assert.equal(response.status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    await t.connector.settle();
    const calls = t.connector.calls.slice(before).filter((c) => c.conversationId === conversation);
    assert.equal(calls[0]?.activity.type, 'typing', 'typing indicator first');
    const messages = calls.filter((c) => c.activity.type === 'message');
    assert.equal(messages.length, 1);
    const reply = messages[0]!;
    assert.equal(reply.activityId, activity.id, 'posted as a reply to the user message');
    assert.equal(reply.activity.replyToId, activity.id);
    assert.equal(reply.activity.from.id, BOT_ID);
    assert.equal(reply.activity.recipient.id, ALICE.id);
    const card = reply.activity.attachments?.[0];
    assert.equal(card?.contentType, 'application/vnd.microsoft.card.adaptive');
    assert.match(JSON.stringify(card.content), /vacation/i);
  });

  it('answers a channel mention in its reply chain, with the mention stripped', async () => {
    const activity = channelMessage(t.connector.serviceUrl, 'policy parental leave');
    const conversation = (activity.conversation as { id: string }).id;
    assert.match(conversation, /;messageid=/);
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    await t.connector.settle();
    const messages = t.connector.messages(conversation);
    assert.equal(messages.length, 1);
    const reply = messages[0]!;
    assert.equal(reply.conversationId, conversation, 'same reply chain');
    assert.equal(reply.activityId, activity.id);
    const shown = JSON.stringify(reply.activity);
    assert.match(shown, /parental/i, 'policy lookup ran on the text without the mention');
    assert.doesNotMatch(shown, /<at>/);
  });

  it('answers a mention written inside an existing reply chain in that chain', async () => {
    const root = channelMessage(t.connector.serviceUrl, 'x', { mention: false });
    const activity = channelMessage(t.connector.serviceUrl, 'holidays', { rootId: root.id as string });
    const conversation = (activity.conversation as { id: string }).id;
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    assert.ok(conversation.endsWith(`;messageid=${String(root.id)}`));
    assert.match(JSON.stringify(t.connector.messages(conversation)[0]!.activity), /holiday/i);
  });

  it('answers in a group chat only when mentioned', async () => {
    const group = (mention: boolean) => {
      const activity = channelMessage(t.connector.serviceUrl, 'holidays', { mention });
      activity.conversation = { id: '19:group-chat-1@thread.v2', conversationType: 'groupChat', isGroup: true, tenantId: TENANT };
      return activity;
    };
    assert.equal((await t.post(group(false))).status, 200);
    assert.equal((await t.post(group(true))).status, 200);
    await t.connector.waitFor(() => t.connector.messages('19:group-chat-1').length >= 1);
    await t.connector.settle(200);
    assert.equal(t.connector.messages('19:group-chat-1').length, 1);
    assert.match(JSON.stringify(t.connector.messages('19:group-chat-1')[0]!.activity), /holiday/i);
  });

  it('answers an unknown card action invoke with a 400 card error and does nothing else', async () => {
    const before = t.connector.calls.length;
    const response = await t.post(cardInvoke(t.connector.serviceUrl, { hrbot: 'delete-everyone' }));
    assert.equal(response.status, 400);
    assert.equal(JSON.parse(response.body).statusCode, 400);
    await t.connector.settle(100);
    assert.equal(t.connector.calls.length, before);
  });

  it('ignores channel messages that do not mention the bot', async () => {
    const activity = channelMessage(t.connector.serviceUrl, 'policy parental leave', { mention: false, rootId: 'no-mention-root' });
    const before = t.connector.calls.length;
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.settle(200);
    assert.equal(t.connector.calls.length, before);
  });

  it("ignores the bot's own messages and other bots'", async () => {
    const before = t.connector.calls.length;
    const own = personalMessage(t.connector.serviceUrl, 'help');
    own.from = { id: BOT_ID, name: 'HR Bot' };
    const otherBot = personalMessage(t.connector.serviceUrl, 'help');
    otherBot.from = { id: '28:another-bot', name: 'Other', role: 'bot' };
    assert.equal((await t.post(own)).status, 200);
    assert.equal((await t.post(otherBot)).status, 200);
    await t.connector.settle(200);
    assert.equal(t.connector.calls.length, before);
  });

  it('works the command words with and without /hr', async () => {
    for (const text of ['holidays', '/hr holidays', 'policy parental leave', '/hr policy parental leave', 'help', 'contact payroll']) {
      const activity = personalMessage(t.connector.serviceUrl, text, { user: { ...ALICE, aadObjectId: `00000000-0000-4000-8000-${String(text.length).padStart(12, '0')}` } });
      const conversation = (activity.conversation as { id: string }).id;
      const before = t.connector.messages(conversation).length;
      assert.equal((await t.post(activity)).status, 200);
      await t.connector.waitFor(() => t.connector.messages(conversation).length > before, 5000, text);
      const reply = JSON.stringify(t.connector.messages(conversation).at(-1)!.activity);
      assert.doesNotMatch(reply, /don't know the command/, text);
      if (text.endsWith('holidays')) assert.match(reply, /holiday/i, text);
      if (text.includes('policy')) assert.match(reply, /parental/i, text);
      if (text === 'help') assert.match(reply, /policy/, text);
    }
  });

  it('renders lookups without sources as markdown text, not a card', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'help', { user: { ...ALICE, aadObjectId: '00000000-0000-4000-8000-00000000beef' } });
    const conversation = (activity.conversation as { id: string }).id;
    await t.post(activity);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    const reply = t.connector.messages(conversation)[0]!.activity;
    assert.equal(reply.attachments, undefined);
    assert.equal(reply.textFormat, 'markdown');
    assert.match(reply.text, /`\/hr policy/);
  });

  it('answers a redelivered activity (same id) once', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'holidays', { user: { ...ALICE, aadObjectId: '00000000-0000-4000-8000-0000000dup01' } });
    const conversation = (activity.conversation as { id: string }).id;
    const [a, b] = await Promise.all([t.post(activity), t.post(activity)]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1);
    await t.connector.settle(300);
    assert.equal(t.connector.messages(conversation).length, 1);
  });

  it('welcomes once when the bot is added, and ignores other conversation updates', async () => {
    const update = (membersAdded: Array<{ id: string }>, id: string) => ({
      type: 'conversationUpdate',
      id,
      channelId: 'msteams',
      serviceUrl: t.connector.serviceUrl,
      from: ALICE,
      recipient: { id: BOT_ID, name: 'HR Bot' },
      conversation: { id: 'a:welcome-chat', conversationType: 'personal', tenantId: TENANT },
      membersAdded,
      channelData: { tenant: { id: TENANT } },
    });
    assert.equal((await t.post(update([{ id: BOT_ID }], 'welcome-1'))).status, 200);
    assert.equal((await t.post(update([{ id: BOT_ID }], 'welcome-1'))).status, 200);
    assert.equal((await t.post(update([{ id: ALICE.id }], 'welcome-2'))).status, 200);
    const reaction = { ...update([], 'reaction-1'), type: 'messageReaction', membersAdded: undefined, reactionsAdded: [{ type: 'like' }] };
    assert.equal((await t.post(reaction)).status, 200);
    await t.connector.settle(200);
    const welcomes = t.connector.messages('a:welcome-chat');
    assert.equal(welcomes.length, 1);
    assert.match(JSON.stringify(welcomes[0]!.activity.attachments[0].content.body), /Hi, I'm HR Assistant/);
  });

  it('answers 400 to a malformed body and an activity-less object', async () => {
    assert.equal((await t.postRaw('{not json')).status, 400);
    assert.equal((await t.postRaw('[1,2]')).status, 400);
    assert.equal((await t.postRaw('{"text":"no type"}')).status, 400);
  });

  it('refuses (401) an unauthenticated activity whose serviceUrl is not this machine', async () => {
    const before = t.connector.calls.length;
    const activity = personalMessage('https://smba.trafficmanager.net/amer/', 'help');
    assert.equal((await t.post(activity)).status, 401);
    await t.connector.settle(100);
    assert.equal(t.connector.calls.length, before);
  });
});

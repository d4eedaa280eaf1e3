// Issue 13: a welcome card on install, sent once (Teams sends both a conversationUpdate and an
// installationUpdate), worded for a personal chat or a team, with the configured BOT_NAME.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TeamsBot } from './support/teams-bot.ts';
import { ALICE, BOT_ID, TENANT, startTeamsBot } from './support/teams-bot.ts';

let counter = 0;

function installEvent(kind: 'conversationUpdate' | 'installationUpdate', conversation: { id: string; conversationType: string }, serviceUrl: string, action?: string): Record<string, unknown> {
  counter += 1;
  return {
    type: kind,
    id: `install-${counter}`,
    channelId: 'msteams',
    serviceUrl,
    from: ALICE,
    recipient: { id: BOT_ID, name: 'People Desk' },
    conversation: { ...conversation, tenantId: TENANT },
    ...(kind === 'conversationUpdate' ? { membersAdded: [{ id: BOT_ID }] } : { action }),
    channelData: { tenant: { id: TENANT }, ...(conversation.conversationType === 'channel' ? { team: { id: conversation.id } } : {}) },
  };
}

describe('Teams: welcome on install', () => {
  let t: TeamsBot;
  before(async () => {
    t = await startTeamsBot({ BOT_NAME: 'People Desk' });
  });
  after(async () => {
    await t.close();
  });

  const cardText = (activity: Record<string, unknown>): string => JSON.stringify((activity.attachments as Array<{ content: { body: unknown } }>)[0]!.content.body);

  it('welcomes a personal chat once, whichever install event comes first, with personal wording', async () => {
    const chat = { id: 'a:welcome-personal', conversationType: 'personal' };
    assert.equal((await t.post(installEvent('installationUpdate', chat, t.connector.serviceUrl, 'add'))).status, 200);
    assert.equal((await t.post(installEvent('conversationUpdate', chat, t.connector.serviceUrl))).status, 200);
    await t.connector.settle();
    const welcomes = t.connector.messages(chat.id);
    assert.equal(welcomes.length, 1);
    const card = welcomes[0]!.activity.attachments[0].content;
    assert.equal(card.type, 'AdaptiveCard');
    assert.equal(card.version, '1.5');
    assert.match(cardText(welcomes[0]!.activity), /Hi, I'm People Desk/);
    assert.match(cardText(welcomes[0]!.activity), /history, usage and forget/);
    assert.doesNotMatch(cardText(welcomes[0]!.activity), /Mention me/);
    assert.equal(t.connector.rejected.length, 0);
  });

  it('welcomes a team once with the mention wording, and a personal-chat pointer for personal commands', async () => {
    const team = { id: '19:welcome-team@thread.tacv2', conversationType: 'channel' };
    await t.post(installEvent('conversationUpdate', team, t.connector.serviceUrl));
    await t.post(installEvent('installationUpdate', team, t.connector.serviceUrl, 'add'));
    await t.post(installEvent('conversationUpdate', team, t.connector.serviceUrl));
    await t.connector.settle();
    const welcomes = t.connector.messages(team.id);
    assert.equal(welcomes.length, 1);
    const text = cardText(welcomes[0]!.activity);
    assert.match(text, /@People Desk how many vacation days do I get\?/);
    assert.match(text, /personal chat/);
    assert.doesNotMatch(text, /HR Bot/);
  });

  it('does not welcome on an app upgrade, and welcomes again after an uninstall', async () => {
    const chat = { id: 'a:welcome-reinstall', conversationType: 'personal' };
    await t.post(installEvent('installationUpdate', chat, t.connector.serviceUrl, 'add'));
    await t.post(installEvent('installationUpdate', chat, t.connector.serviceUrl, 'add-upgrade'));
    await t.connector.settle();
    assert.equal(t.connector.messages(chat.id).length, 1);
    await t.post(installEvent('installationUpdate', chat, t.connector.serviceUrl, 'remove'));
    await t.post(installEvent('installationUpdate', chat, t.connector.serviceUrl, 'add'));
    await t.connector.settle();
    assert.equal(t.connector.messages(chat.id).length, 2);
  });
});

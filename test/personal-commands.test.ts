import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TeamsBot } from './support/teams-bot.ts';
import { ALICE, TENANT, channelMessage, personalMessage, startTeamsBot } from './support/teams-bot.ts';

describe('Teams: personal commands run only in the personal chat', () => {
  let t: TeamsBot;
  const personal = `a:personal-${ALICE.aadObjectId}`;
  const channel = '19:general-abc@thread.tacv2';
  const aliceMessages = () => t.bot.core.db.prepare('SELECT COUNT(*) FROM messages WHERE owner_key = ?').pluck().get(`teams:${TENANT}:${ALICE.aadObjectId}`) as number;
  const lastChannelText = () => String(t.connector.messages(channel).at(-1)!.activity.text);

  before(async () => {
    t = await startTeamsBot();
  });
  after(async () => {
    await t.close();
  });

  it('a typed `forget` in a channel erases nothing and says where to do it', async () => {
    await t.post(personalMessage(t.connector.serviceUrl, 'policy parental leave'));
    await t.connector.waitFor(() => t.connector.messages(personal).length === 1, 5000, 'the personal answer');
    assert.equal(aliceMessages(), 2);

    await t.post(channelMessage(t.connector.serviceUrl, 'forget'));
    await t.connector.waitFor(() => t.connector.messages(channel).length === 1, 5000, 'the channel reply');
    assert.equal(aliceMessages(), 2, "the user's history is intact");
    assert.match(lastChannelText(), /have not erased anything/);
    assert.match(lastChannelText(), /personal chat.*Message me directly and type `forget` there/);
  });

  it('history and usage in a channel are not run either', async () => {
    for (const [index, command] of ['history', 'usage'].entries()) {
      await t.post(channelMessage(t.connector.serviceUrl, command));
      await t.connector.waitFor(() => t.connector.messages(channel).length === 2 + index, 5000, `the reply to ${command}`);
      assert.match(lastChannelText(), new RegExp(`Your ${command} is only shown in a personal chat.*type \`${command}\` there`));
      assert.doesNotMatch(lastChannelText(), /parental leave|questions today/i);
    }
  });

  it('in the personal chat `forget` erases and confirms', async () => {
    await t.post(personalMessage(t.connector.serviceUrl, 'forget'));
    await t.connector.waitFor(() => t.connector.messages(personal).length === 2, 5000, 'the confirmation');
    assert.match(String(t.connector.messages(personal).at(-1)!.activity.text), /erased everything stored about you: 2 messages/);
    assert.equal(aliceMessages(), 0);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import type { RecordedCall } from './fakes/fake-slack-api.ts';
import { sectionText } from './support/slack-blocks.ts';
import type { SlackTestBot } from './support/slack-bot.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { dmEvent, eventBody, JSON_TYPE, postSigned } from './support/slack-requests.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const AAD_USER = '00000000-0000-4000-8000-0000000ad111';

describe('HR_ADMINS: every admin is tied to one workspace or tenant', () => {
  it('accepts each form and keys it as the engine keys a verified sender', () => {
    const admins = (value: string) => [...loadConfig({ HR_ADMINS: value }).admins];
    assert.deepEqual(admins('slack:T0123ABCD:U0123ABCD'), ['slack:T0123ABCD:U0123ABCD']);
    assert.deepEqual(admins('slack:t0123abcd:w0123abcd'), ['slack:T0123ABCD:W0123ABCD'], 'Slack ids are upper case');
    assert.deepEqual(admins('slack:E0123GRID:U0123ABCD'), ['slack:E0123GRID:U0123ABCD'], 'an enterprise id where Slack sends no team');
    assert.deepEqual(admins(`teams:${TENANT.toUpperCase()}:${AAD_USER}`), [`teams:${TENANT}:${AAD_USER}`], 'GUIDs are lower case');
    assert.deepEqual(admins('teams:local:29:emulator-user'), ['teams:local:29:emulator-user'], 'the emulator, which sends no tenant');
    assert.deepEqual(admins('console:local:boss'), ['console:local:boss']);
    assert.deepEqual(admins(' slack:T1:U1 ,, console:local:boss , '), ['slack:T1:U1', 'console:local:boss']);
    assert.deepEqual(admins(''), []);
  });

  for (const bad of ['U0ADMIN1', 'slack:U0ADMIN1', 'slack:T0123ABCD', 'slack:T0123ABCD:', 'slack::U0123ABCD', 'slack:U0123ABCD:T0123ABCD', 'teams:' + AAD_USER, 'teams:contoso:' + AAD_USER, `teams:${TENANT}:alice`, 'console:boss', 'console:office:boss', 'discord:G1:U1', TENANT]) {
    it(`refuses ${JSON.stringify(bad)}, naming it and the accepted forms`, () => {
      assert.throws(
        () => loadConfig({ HR_ADMINS: `slack:T1:U1, ${bad}` }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.ok(error.message.includes(`HR_ADMINS: "${bad}"`), error.message);
          for (const form of ['slack:<team id>:<user id>', 'teams:<tenant id>:<AAD object id>', 'console:local:<user>']) assert.ok(error.message.includes(form), form);
          return true;
        },
      );
    });
  }
});

describe('Slack: an admin of one workspace is nobody special in another', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot({ env: { HR_ADMINS: 'slack:T1:UADMIN1' } });
  });
  after(async () => {
    await t.close();
  });

  /** DM the bot as `user` of `teamId` and return the reply's text. */
  async function dmAs(text: string, user: string, teamId: string): Promise<string> {
    const before = replies(t).length;
    const response = await postSigned(t.baseUrl, eventBody(dmEvent(text, user), { teamId }), JSON_TYPE);
    assert.equal(response.status, 200);
    await t.api.waitFor(() => replies(t).length > before, 5000, `reply to ${text}`);
    return sectionText(replies(t).at(-1)!.args.blocks);
  }

  const messagesOf = (owner: string) => t.bot.core.db.prepare('SELECT COUNT(*) FROM messages WHERE owner_key = ?').pluck().get(owner) as number;

  it('sees totals and erases only in its own workspace', async () => {
    await dmAs('how many vacation days do I get?', 'UVICTIM', 'T2');
    assert.equal(messagesOf('slack:T2:UVICTIM'), 2);

    const usageElsewhere = await dmAs('/hr usage', 'UADMIN1', 'T2');
    assert.match(usageElsewhere, /Your usage/);
    assert.doesNotMatch(usageElsewhere, /Workspace totals/);
    const eraseElsewhere = await dmAs('/hr forget UVICTIM', 'UADMIN1', 'T2');
    assert.match(eraseElsewhere, /Only HR admins/);
    assert.equal(messagesOf('slack:T2:UVICTIM'), 2, 'nothing erased in the other workspace');

    assert.match(await dmAs('/hr usage', 'UADMIN1', 'T1'), /Workspace totals today/);
    // At home the admin's erase reaches only T1's UVICTIM, who has nothing stored, and says so.
    const eraseAtHome = await dmAs('/hr forget <@UVICTIM>', 'UADMIN1', 'T1');
    assert.match(eraseAtHome, /I have nothing stored for _UVICTIM_/);
    assert.doesNotMatch(eraseAtHome, /Done/);
    assert.equal(messagesOf('slack:T2:UVICTIM'), 2, "another workspace's user is out of reach");

    await dmAs('what is the dental plan?', 'UHOME', 'T1');
    assert.match(await dmAs('/hr forget UHOME', 'UADMIN1', 'T1'), /erased everything stored about that user: 2 messages/);
    assert.equal(messagesOf('slack:T1:UHOME'), 0);
  });
});

/** Calls that carry a rendered reply (placeholders and status lines have no blocks). */
function replies(t: SlackTestBot): RecordedCall[] {
  return t.api.calls.filter((call) => call.args.blocks !== undefined && ['chat.postMessage', 'chat.update', 'chat.postEphemeral'].includes(call.method));
}

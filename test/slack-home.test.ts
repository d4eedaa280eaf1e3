// The App Home tab over the fake Slack Web API: published on app_home_opened (tab home), the user's
// own questions and usage, admin totals for admins of that workspace only, BOT_NAME in the header,
// and the erase button (and every other erase) refreshing the tab without the data.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RecordedBlock } from './fakes/fake-slack-api.ts';
import type { SlackTestBot } from './support/slack-bot.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { commandBody, eventBody, FORM_TYPE, interactionBody, JSON_TYPE, mentionEvent, postSigned } from './support/slack-requests.ts';

function homeOpened(user: string, tab: 'home' | 'messages' = 'home'): Record<string, unknown> {
  return { type: 'app_home_opened', user, channel: `D${user}`, tab, event_ts: `${Date.now() / 1000}` };
}

/** All the text of a view's blocks, in order (headers, sections, contexts). */
function viewText(view: Record<string, unknown> | undefined): string {
  const blocks = (view?.blocks ?? []) as RecordedBlock[];
  return blocks
    .flatMap((block) => [typeof block.text === 'string' ? block.text : (block.text?.text ?? ''), ...(block.elements ?? []).map((element) => (typeof element.text === 'string' ? element.text : (element.text?.text ?? '')))])
    .filter((text) => text !== '')
    .join('\n');
}

/** The erase button pressed on the home tab: a view's block_actions, with no response_url. */
function homeEraseBody(user: string, triggerId: string): string {
  return interactionBody({
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: 'T1' },
    api_app_id: 'A1',
    token: 'legacy-verification-token',
    container: { type: 'view', view_id: 'VHOME1' },
    trigger_id: triggerId,
    team: { id: 'T1', domain: 'northwind' },
    view: { id: 'VHOME1', team_id: 'T1', type: 'home', callback_id: 'hr_home', blocks: [], state: { values: {} }, hash: '1.2' },
    actions: [{ type: 'button', action_id: 'hr_forget', block_id: 'hr_home_forget', text: { type: 'plain_text', text: 'Erase my data' }, style: 'danger', action_ts: String(Date.now() / 1000) }],
  });
}

async function ask(t: SlackTestBot, user: string, question: string): Promise<void> {
  const before = t.api.callsOf('chat.postMessage').length;
  await postSigned(t.baseUrl, eventBody(mentionEvent(question, user)), JSON_TYPE);
  await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length > before, 5000, 'answer');
}

async function openHome(t: SlackTestBot, user: string, teamId = 'T1'): Promise<Record<string, unknown>> {
  const before = t.api.callsOf('views.publish').length;
  const response = await postSigned(t.baseUrl, eventBody(homeOpened(user), { teamId }), JSON_TYPE);
  assert.equal(response.status, 200);
  await t.api.waitFor(() => t.api.callsOf('views.publish').length > before, 5000, 'home published');
  const call = t.api.callsOf('views.publish').at(-1)!;
  assert.equal(call.args.user_id, user);
  return call.args.view as Record<string, unknown>;
}

describe('Slack App Home', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot({ env: { HR_ADMINS: 'slack:T1:UADMIN', BOT_NAME: 'Northwind People Desk', DAILY_QUESTION_QUOTA: '40' } });
  });
  after(async () => {
    await t.close();
  });

  it("publishes the home tab with BOT_NAME, the commands, the user's own questions and usage, and the erase button", async () => {
    await ask(t, 'UHOMER', 'how many vacation days do I get? <!channel> <@UBOSS>');
    await ask(t, 'UOTHER', 'what is the parental leave policy for my secret situation?');
    const view = await openHome(t, 'UHOMER');
    assert.equal(view.type, 'home');
    const blocks = view.blocks as RecordedBlock[];
    assert.deepEqual(blocks[0], { type: 'header', text: { type: 'plain_text', text: 'Northwind People Desk' } });
    const text = viewText(view);
    assert.match(text, /\/hr ask <question>/);
    assert.match(text, /Your recent questions/);
    assert.match(text, /how many vacation days do I get\?/);
    // Escaped, so a question can never mention or broadcast from the home tab.
    assert.match(text, /&lt;!channel&gt; &lt;@UBOSS&gt;/);
    assert.doesNotMatch(text, /<!channel>|<@UBOSS>/);
    assert.doesNotMatch(text, /parental leave/, "another user's question is never shown");
    assert.match(text, /Today: \*1 of 40\* questions/);
    assert.doesNotMatch(text, /admins only/);
    const forget = blocks.find((block) => block.block_id === 'hr_home_forget');
    assert.equal(forget?.elements?.[0]?.action_id, 'hr_forget');
    // The fake checked Slack's view rules (100 blocks, text lengths, a header's 150 characters) on publish.
    assert.ok(blocks.length <= 100);
  });

  it('does not publish for the Messages tab (that tab is the conversation)', async () => {
    const before = t.api.callsOf('views.publish').length;
    const response = await postSigned(t.baseUrl, eventBody(homeOpened('UHOMER', 'messages')), JSON_TYPE);
    assert.equal(response.status, 200);
    // A later home open is published; had the messages tab published too, there would be two.
    await openHome(t, 'UHOMER');
    assert.equal(t.api.callsOf('views.publish').length, before + 1);
  });

  it('shows workspace totals and feedback counts to an admin of that workspace only', async () => {
    await ask(t, 'UADMIN', 'what is the expenses policy?');
    const view = await openHome(t, 'UADMIN');
    const text = viewText(view);
    assert.match(text, /This workspace \(admins only\)/);
    assert.match(text, /Today: 3 users, 3 questions/);
    assert.match(text, /Feedback, last 30 days: 0 👍, 0 👎/);
    // The same user id in another workspace is nobody special there.
    const elsewhere = await openHome(t, 'UADMIN', 'T2');
    assert.doesNotMatch(viewText(elsewhere), /admins only/);
    assert.match(viewText(elsewhere), /Nothing yet/);
  });

  it('erases from the home tab after Slack confirms, and republishes the tab without the data', async () => {
    await ask(t, 'UERASE', 'how do I claim travel expenses?');
    const shown = await openHome(t, 'UERASE');
    assert.match(viewText(shown), /travel expenses/);
    const before = t.api.callsOf('views.publish').length;
    const response = await postSigned(t.baseUrl, homeEraseBody('UERASE', t.api.issueTrigger()), FORM_TYPE);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '', 'a plain 200: a home button has no response_url to answer on');
    await t.api.waitFor(() => t.api.callsOf('views.publish').length > before, 5000, 'home republished');
    const after = t.api.callsOf('views.publish').at(-1)!;
    assert.equal(after.args.user_id, 'UERASE');
    const text = viewText(after.args.view as Record<string, unknown>);
    assert.match(text, /Your data was erased/);
    assert.doesNotMatch(text, /travel expenses/);
    assert.match(text, /Today: \*0 of 40\* questions/);
    const rows = t.bot.core.db.prepare("SELECT COUNT(*) FROM messages WHERE owner_key = 'slack:T1:UERASE'").pluck().get();
    assert.equal(rows, 0);
  });

  it('refreshes an opened home tab after /hr forget too', async () => {
    await ask(t, 'UFORGET', 'what are the office hours?');
    assert.match(viewText(await openHome(t, 'UFORGET')), /office hours/);
    const before = t.api.callsOf('views.publish').length;
    await postSigned(t.baseUrl, commandBody('forget', t.api.responseUrl('forget-cmd'), 'UFORGET'), FORM_TYPE);
    await t.api.waitFor(() => t.api.callsOf('views.publish').length > before, 5000, 'home republished');
    const text = viewText(t.api.callsOf('views.publish').at(-1)!.args.view as Record<string, unknown>);
    assert.doesNotMatch(text, /office hours/);
    assert.match(text, /Nothing yet/);
  });

  it("refreshes the erased user's tab, not the admin's, when an admin erases someone", async () => {
    await ask(t, 'UVICTIM', 'how many sick days do I have?');
    await openHome(t, 'UVICTIM');
    const before = t.api.callsOf('views.publish').length;
    await postSigned(t.baseUrl, commandBody('forget <@UVICTIM>', t.api.responseUrl('admin-forget'), 'UADMIN'), FORM_TYPE);
    await t.api.waitFor(() => t.api.callsOf('views.publish').length > before, 5000, 'home republished');
    const published = t.api.callsOf('views.publish').slice(before);
    assert.deepEqual(published.map((call) => call.args.user_id), ['UVICTIM']);
    assert.doesNotMatch(viewText(published[0]!.args.view as Record<string, unknown>), /sick days/);
  });

  it('keeps answering when Slack refuses the home tab (home tab not enabled in the app)', async () => {
    t.api.failNext('views.publish', { error: 'not_enabled' });
    const response = await postSigned(t.baseUrl, eventBody(homeOpened('UNOTAB')), JSON_TYPE);
    assert.equal(response.status, 200);
    await t.api.waitFor(() => t.bot.logs.some((line) => line.msg === 'slack: could not publish the home tab' && line.slackError === 'not_enabled'), 5000, 'warning');
    await ask(t, 'UNOTAB', 'how many vacation days do I get?');
  });
});

describe('Slack App Home with RETENTION_DAYS=0', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot({ env: { RETENTION_DAYS: '0' } });
  });
  after(async () => {
    await t.close();
  });

  it('says no questions are kept instead of listing any, under the default BOT_NAME', async () => {
    await ask(t, 'UNOKEEP', 'how many vacation days do I get?');
    const view = await openHome(t, 'UNOKEEP');
    const text = viewText(view);
    assert.match(text, /^HR Assistant/);
    assert.match(text, /I don't keep your questions/);
    assert.match(text, /Questions and answers are not stored/);
    assert.doesNotMatch(text, /vacation/);
  });
});

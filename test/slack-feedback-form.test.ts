// Slack's feedback_buttons on answers and the form a 👎 opens, over the fake Slack Web API with
// signed requests: the form opens with the click's trigger_id (which the fake lets expire 3 s after
// the click and takes once), its submission is checked and answered in Slack's way, and the note is
// stored with the rating and erased with it by /hr forget, an admin's erase and RETENTION_DAYS.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Retention } from '../src/store/retention.ts';
import type { FakeSocketMode } from './fakes/fake-socket-mode.ts';
import type { SlackTestBot } from './support/slack-bot.ts';
import { startSlackBot, startSocketModeBot } from './support/slack-bot.ts';
import { feedbackAnswerId } from './support/slack-blocks.ts';
import { commandBody, eventBody, feedbackButtonsBody, FORM_TYPE, interactionBody, JSON_TYPE, mentionEvent, postSigned } from './support/slack-requests.ts';

const DAY_MS = 24 * 60 * 60_000;
/** A note with text worth protecting: it must reach the store and never the log. */
const NOTE = 'The carry-over rule changed in March; ask Priya in payroll (private detail 7731)';

interface Feedback {
  rating: string;
  reason: string | null;
  comment: string | null;
}

async function answerFor(t: SlackTestBot, user: string, question = '/hr policy parental leave'): Promise<string> {
  const before = t.api.callsOf('chat.postMessage').length;
  await postSigned(t.baseUrl, eventBody(mentionEvent(question, user)), JSON_TYPE);
  await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length > before, 5000, 'answer');
  return feedbackAnswerId(t.api.callsOf('chat.postMessage').at(-1)!.args.blocks);
}

function feedbackOf(t: SlackTestBot, answerId: string): Feedback | undefined {
  return t.bot.core.db.prepare('SELECT rating, reason, comment FROM feedback WHERE answer_id = ?').get(answerId) as Feedback | undefined;
}

/**
 * Press 👎 as `user`. The owner of the answer is shown the form: resolves with the view the bot
 * opened (with this click's trigger_id). Anyone else is not: resolves undefined once the engine's
 * refusal has been posted, by which time the form would long have been opened (it follows the ack).
 */
async function thumbsDown(t: SlackTestBot, answerId: string, user: string, options: { triggerId?: string; expectForm?: boolean } = {}): Promise<Record<string, unknown> | undefined> {
  const triggerId = options.triggerId ?? t.api.issueTrigger();
  const opened = t.api.callsOf('views.open').length;
  const replies = t.api.callsOf('response_url').length;
  const response = await postSigned(t.baseUrl, feedbackButtonsBody(answerId, 'down', t.api.responseUrl(`down-${answerId}-${user}`), { user, triggerId }), FORM_TYPE);
  assert.equal(response.status, 200);
  if (options.expectForm === false) {
    await t.api.waitFor(() => t.api.callsOf('response_url').length > replies, 5000, 'reply to the click');
    assert.equal(t.api.callsOf('views.open').length, opened, 'no form offered');
    return undefined;
  }
  await t.api.waitFor(() => t.api.callsOf('views.open').length > opened, 5000, 'form opened');
  const call = t.api.callsOf('views.open')[opened]!;
  assert.equal(call.args.trigger_id, triggerId);
  return call.args.view as Record<string, unknown>;
}

/** The view_submission Slack sends when `user` presses Submit on the form `view`, filled in. */
function submission(view: Record<string, unknown>, user: string, fields: { reason?: string | null; comment?: string | null }, team = 'T1'): string {
  return interactionBody({
    type: 'view_submission',
    team: { id: team, domain: 'northwind' },
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: team },
    api_app_id: 'A1',
    token: 'legacy-verification-token',
    trigger_id: `${Date.now()}.1.abc`,
    view: {
      id: 'VFORM1',
      team_id: team,
      type: 'modal',
      blocks: view.blocks,
      private_metadata: view.private_metadata,
      callback_id: view.callback_id,
      state: {
        values: {
          reason: { reason_choice: { type: 'static_select', selected_option: fields.reason == null ? null : { text: { type: 'plain_text', text: fields.reason }, value: fields.reason } } },
          comment: { comment_text: { type: 'plain_text_input', value: fields.comment ?? null } },
        },
      },
      hash: '1710000000.abc',
      title: view.title,
      close: view.close,
      submit: view.submit,
      root_view_id: 'VFORM1',
      app_id: 'A1',
      bot_id: 'BBOT',
    },
    response_urls: [],
    is_enterprise_install: false,
  });
}

async function submit(t: SlackTestBot, body: string): Promise<{ status: number; text: string }> {
  const response = await postSigned(t.baseUrl, body, FORM_TYPE);
  return { status: response.status, text: await response.text() };
}

describe('Slack feedback form', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot({ env: { HR_ADMINS: 'slack:T1:UADMIN' } });
  });
  after(async () => {
    await t.close();
  });

  it('records 👎 through the engine and opens the form with the click’s trigger_id', async () => {
    const answerId = await answerFor(t, 'UOWNER');
    const view = await thumbsDown(t, answerId, 'UOWNER');
    assert.ok(view, 'the form was opened');
    assert.equal(view.type, 'modal');
    assert.equal(view.callback_id, 'hr_feedback_form');
    assert.equal(JSON.parse(String(view.private_metadata)).answerId, answerId);
    await t.api.waitFor(() => feedbackOf(t, answerId)?.rating === 'down', 5000, 'rating stored');
    assert.equal(feedbackOf(t, answerId)?.comment, null);
  });

  it('stores the note with the rating on submit, answers with an empty 200, and never logs it', async () => {
    const answerId = await answerFor(t, 'UNOTE');
    const view = await thumbsDown(t, answerId, 'UNOTE');
    assert.ok(view);
    const response = await submit(t, submission(view, 'UNOTE', { reason: 'wrong', comment: `  ${NOTE}\n` }));
    assert.deepEqual(response, { status: 200, text: '' }, 'an empty 200 closes the form');
    assert.deepEqual(feedbackOf(t, answerId), { rating: 'down', reason: 'wrong', comment: NOTE });
    // Pieces of the note no log line can hold by chance (a bare "7731" can be part of a timestamp, pid or port).
    assert.ok(!t.bot.logText().includes('Priya') && !t.bot.logText().includes('detail 7731'), 'the note is not in the log');
    assert.ok(t.bot.logs.some((line) => line.msg === 'slack: feedback form submitted' && line.outcome === 'saved'));
  });

  it('answers invalid input with response_action errors, keyed by block, and stores nothing', async () => {
    const answerId = await answerFor(t, 'UINVALID');
    const view = await thumbsDown(t, answerId, 'UINVALID');
    assert.ok(view);
    const cases: Array<[{ reason?: string | null; comment?: string | null }, string, RegExp]> = [
      [{ reason: null, comment: '   ' }, 'comment', /Choose a reason or write a few words/],
      [{ comment: 'x'.repeat(1001) }, 'comment', /keep it to 1,000 characters \(this is 1,001\)/],
      [{ reason: 'not-a-listed-reason', comment: 'hi' }, 'reason', /listed reasons/],
    ];
    for (const [fields, block, message] of cases) {
      const response = await submit(t, submission(view, 'UINVALID', fields));
      assert.equal(response.status, 200);
      const body = JSON.parse(response.text) as { response_action: string; errors: Record<string, string> };
      assert.equal(body.response_action, 'errors');
      assert.deepEqual(Object.keys(body.errors), [block]);
      assert.match(body.errors[block]!, message);
    }
    await t.api.waitFor(() => feedbackOf(t, answerId) !== undefined, 5000, 'rating stored');
    assert.deepEqual(feedbackOf(t, answerId), { rating: 'down', reason: null, comment: null });
  });

  it("refuses a note on someone else's answer and a form that names no answer", async () => {
    const answerId = await answerFor(t, 'UVICTIM2');
    // Nobody else is offered the form; a forged submission naming the answer is refused.
    assert.equal(await thumbsDown(t, answerId, 'UMALLORY', { expectForm: false }), undefined);
    const view = { type: 'modal', callback_id: 'hr_feedback_form', private_metadata: JSON.stringify({ answerId }), blocks: [] };
    const forged = JSON.parse((await submit(t, submission(view, 'UMALLORY', { comment: 'this answer is bad' }))).text) as { errors: Record<string, string> };
    assert.match(forged.errors.comment!, /written for someone else/);
    const garbled = JSON.parse((await submit(t, submission({ ...view, private_metadata: 'not json' }, 'UMALLORY', { comment: 'x' }))).text) as { errors: Record<string, string> };
    assert.match(garbled.errors.comment!, /could not be matched to an answer/);
    assert.equal(feedbackOf(t, answerId)?.comment ?? null, null);
  });

  it('keeps the rating when the trigger has expired (opened more than 3 s after the click) or was used', async () => {
    const answerId = await answerFor(t, 'ULATE');
    const expired = t.api.issueTrigger({ ageMs: 3_500 });
    await postSigned(t.baseUrl, feedbackButtonsBody(answerId, 'down', t.api.responseUrl('late'), { user: 'ULATE', triggerId: expired }), FORM_TYPE);
    await t.api.waitFor(() => t.bot.logs.some((line) => line.msg === 'slack: could not open the feedback form' && line.slackError === 'expired_trigger_id'), 5000, 'warning');
    await t.api.waitFor(() => feedbackOf(t, answerId)?.rating === 'down', 5000, 'rating stored');
    // A trigger is exchanged once: a second view on the same click is refused by Slack.
    const trigger = t.api.issueTrigger();
    assert.ok(await thumbsDown(t, answerId, 'ULATE', { triggerId: trigger }));
    await postSigned(t.baseUrl, feedbackButtonsBody(answerId, 'down', t.api.responseUrl('again'), { user: 'ULATE', triggerId: trigger }), FORM_TYPE);
    await t.api.waitFor(() => t.bot.logs.some((line) => line.slackError === 'exchanged_trigger_id'), 5000, 'second exchange refused');
  });

  it('erases the note with /hr forget, and with an admin’s erase', async () => {
    for (const [user, erase, replyId] of [
      ['USELF', () => commandBody('forget', t.api.responseUrl('self-forget'), 'USELF'), 'self-forget'],
      ['UADMINED', () => commandBody('forget <@UADMINED>', t.api.responseUrl('admin-forget'), 'UADMIN'), 'admin-forget'],
    ] as const) {
      const answerId = await answerFor(t, user);
      const view = await thumbsDown(t, answerId, user);
      assert.ok(view);
      assert.equal((await submit(t, submission(view, user, { reason: 'unclear', comment: NOTE }))).text, '');
      assert.equal(feedbackOf(t, answerId)?.comment, NOTE);
      await postSigned(t.baseUrl, erase(), FORM_TYPE);
      // The erase's own reply: the thumbs-down's response_url post may land late, after the erase starts.
      await t.api.waitFor(() => t.api.callsOf('response_url').some((call) => call.responseId === replyId), 5000, 'erase confirmed');
      assert.equal(feedbackOf(t, answerId), undefined);
      assert.equal(t.bot.core.db.prepare('SELECT COUNT(*) FROM feedback WHERE owner_key = ?').pluck().get(`slack:T1:${user}`), 0);
      // A form still open after the erase has nothing to attach to.
      const late = JSON.parse((await submit(t, submission(view, user, { comment: 'one more thing' }))).text) as { errors: Record<string, string> };
      assert.match(late.errors.comment!, /no longer have this answer/);
    }
  });

  it('lets RETENTION_DAYS remove the note with its answer', async () => {
    const answerId = await answerFor(t, 'UAGED');
    const view = await thumbsDown(t, answerId, 'UAGED');
    assert.ok(view);
    await submit(t, submission(view, 'UAGED', { comment: NOTE }));
    assert.equal(feedbackOf(t, answerId)?.comment, NOTE);
    const report = await new Retention(t.bot.core.db, { days: 90, now: () => Date.now() + 91 * DAY_MS }).sweep();
    assert.ok(report.feedback >= 1);
    assert.equal(feedbackOf(t, answerId), undefined);
    assert.equal(t.bot.core.db.prepare('SELECT COUNT(*) FROM feedback WHERE comment IS NOT NULL').pluck().get(), 0);
  });

  it('counts notes in the admin totals of the home tab, never showing their text', async () => {
    const answerId = await answerFor(t, 'UCOUNT');
    const view = await thumbsDown(t, answerId, 'UCOUNT');
    assert.ok(view);
    await submit(t, submission(view, 'UCOUNT', { reason: 'sources' }));
    const before = t.api.callsOf('views.publish').length;
    await postSigned(t.baseUrl, eventBody({ type: 'app_home_opened', user: 'UADMIN', channel: 'DUADMIN', tab: 'home', event_ts: '1.0' }), JSON_TYPE);
    await t.api.waitFor(() => t.api.callsOf('views.publish').length > before, 5000, 'home');
    const text = JSON.stringify(t.api.callsOf('views.publish').at(-1)!.args.view);
    assert.match(text, /1 👎 \(1 with a note\)/);
    assert.ok(!text.includes('Priya'));
  });
});

describe('Slack feedback form and App Home over Socket Mode', () => {
  let t: SlackTestBot;
  let socket: FakeSocketMode;
  before(async () => {
    ({ t, socket } = await startSocketModeBot());
  });
  after(async () => {
    await t.close();
    await socket.close();
  });

  it("opens the form on 👎, answers its submission in the envelope's ack, and publishes the home tab", async () => {
    socket.send('events_api', JSON.parse(eventBody(mentionEvent('/hr policy parental leave', 'USOCK'))));
    await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length === 1, 5000, 'answer');
    const answerId = feedbackAnswerId(t.api.callsOf('chat.postMessage')[0]!.args.blocks);
    const trigger = t.api.issueTrigger();
    socket.send('interactive', JSON.parse(new URLSearchParams(feedbackButtonsBody(answerId, 'down', t.api.responseUrl('sock'), { user: 'USOCK', triggerId: trigger })).get('payload')!));
    await t.api.waitFor(() => t.api.callsOf('views.open').length === 1, 5000, 'form opened');
    const view = t.api.callsOf('views.open')[0]!.args.view as Record<string, unknown>;
    assert.equal(t.api.callsOf('views.open')[0]!.args.trigger_id, trigger);

    const invalid = socket.send('interactive', JSON.parse(new URLSearchParams(submission(view, 'USOCK', { comment: ' ' })).get('payload')!));
    await t.api.waitFor(() => socket.acks.some((ack) => ack.envelope_id === invalid), 5000, 'ack');
    const ack = socket.acks.find((a) => a.envelope_id === invalid)!;
    assert.equal((ack.payload as { response_action?: string }).response_action, 'errors');

    const valid = socket.send('interactive', JSON.parse(new URLSearchParams(submission(view, 'USOCK', { reason: 'unclear' })).get('payload')!));
    await t.api.waitFor(() => socket.acks.some((a) => a.envelope_id === valid), 5000, 'ack');
    // Bolt's Socket Mode client acks "nothing" as an empty payload; either closes the form.
    assert.deepEqual(socket.acks.find((a) => a.envelope_id === valid)!.payload ?? {}, {}, 'an empty ack closes the form');
    assert.equal(feedbackOf(t, answerId)?.reason, 'unclear');

    socket.send('events_api', JSON.parse(eventBody({ type: 'app_home_opened', user: 'USOCK', channel: 'DUSOCK', tab: 'home', event_ts: '1.0' })));
    await t.api.waitFor(() => t.api.homeOf('USOCK') !== undefined, 5000, 'home published');
    assert.match(JSON.stringify(t.api.homeOf('USOCK')), /parental leave/);
  });
});

// The fake Slack Web API refuses views and blocks where Slack would (so the App Home, the feedback
// form and the feedback element are checked against Slack's limits in every test), through the
// real Web API client.
import { BOT_TOKEN } from './support/slack-requests.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { webApi } from '@slack/bolt';
import { feedbackModal } from '../adapters/slack/feedback-modal.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';

async function slackError(call: Promise<unknown>): Promise<{ error: string; messages: string[] }> {
  try {
    await call;
  } catch (error) {
    const data = (error as { data?: { error?: string; response_metadata?: { messages?: string[] } } }).data;
    return { error: data?.error ?? 'none', messages: data?.response_metadata?.messages ?? [] };
  }
  throw new Error('Slack accepted the call');
}

describe('fake Slack API: views and Block Kit limits', () => {
  let api: FakeSlackApi;
  let client: webApi.WebClient;
  before(async () => {
    api = await new FakeSlackApi().start();
    client = new webApi.WebClient(BOT_TOKEN, { slackApiUrl: api.apiUrl, retryConfig: { retries: 0 } });
  });
  after(async () => {
    await api.close();
  });

  const section = (text: string) => ({ type: 'section' as const, text: { type: 'mrkdwn' as const, text } });

  it('takes a home view of 100 blocks and refuses 101', async () => {
    await client.views.publish({ user_id: 'U1', view: { type: 'home', blocks: Array.from({ length: 100 }, (_, i) => section(`line ${i}`)) } });
    assert.equal(api.homeOf('U1')?.type, 'home');
    const refused = await slackError(client.views.publish({ user_id: 'U1', view: { type: 'home', blocks: Array.from({ length: 101 }, (_, i) => section(`line ${i}`)) } }));
    assert.equal(refused.error, 'invalid_arguments');
    assert.match(refused.messages.join(), /no more than 100 items \[json-pointer:\/view\/blocks\]/);
  });

  it('refuses a section over 3,000 characters, a header over 150, a duplicate block_id, and a user_id that is no user', async () => {
    const cases: Array<[webApi.ViewsPublishArguments, RegExp]> = [
      [{ user_id: 'U1', view: { type: 'home', blocks: [section('x'.repeat(3001))] } }, /less than 3001 characters \[json-pointer:\/view\/blocks\/0\/text\/text\]/],
      [{ user_id: 'U1', view: { type: 'home', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }] } }, /blocks\/0\/text\/text/],
      [{ user_id: 'U1', view: { type: 'home', blocks: [{ ...section('a'), block_id: 'same' }, { ...section('b'), block_id: 'same' }] } }, /unique/],
      [{ user_id: 'C1', view: { type: 'home', blocks: [section('a')] } }, /user_id/],
    ];
    for (const [args, message] of cases) assert.match((await slackError(client.views.publish(args))).messages.join(), message);
  });

  it('opens a modal only with a trigger_id it issued, within 3 s, once', async () => {
    const view = feedbackModal('answer-1');
    assert.match((await slackError(client.views.open({ trigger_id: 'made.up', view }))).messages.join(), /invalid `trigger_id`/);
    assert.equal((await slackError(client.views.open({ trigger_id: api.issueTrigger({ ageMs: 3_001 }), view }))).error, 'expired_trigger_id');
    const fresh = api.issueTrigger();
    await client.views.open({ trigger_id: fresh, view });
    assert.equal((await slackError(client.views.open({ trigger_id: fresh, view }))).error, 'exchanged_trigger_id');
  });

  it('refuses a modal whose title is over 24 characters, or with inputs and no submit button, and keeps the trigger', async () => {
    const trigger = api.issueTrigger();
    const long = await slackError(client.views.open({ trigger_id: trigger, view: { ...feedbackModal('a'), title: { type: 'plain_text', text: 'What went wrong with this answer?' } } }));
    assert.match(long.messages.join(), /title\/text/);
    const { submit: _submit, ...noSubmit } = feedbackModal('a');
    assert.match((await slackError(client.views.open({ trigger_id: trigger, view: noSubmit }))).messages.join(), /submit/);
    await client.views.open({ trigger_id: trigger, view: feedbackModal('a') });
  });

  it('refuses a plain_text_input longer than 3,000 and a feedback button label over 75', async () => {
    const modal = feedbackModal('a');
    const tooLong = {
      ...modal,
      blocks: modal.blocks.map((block) => {
        const input = block as { type: string; element?: { type: string } };
        return input.type === 'input' && input.element?.type === 'plain_text_input' ? { ...block, element: { ...input.element, max_length: 3001 } } : block;
      }),
    } as typeof modal;
    assert.match((await slackError(client.views.open({ trigger_id: api.issueTrigger(), view: tooLong }))).messages.join(), /max_length/);
    const feedback = (label: string) => ({
      type: 'context_actions' as const,
      elements: [
        {
          type: 'feedback_buttons' as const,
          action_id: 'hr_feedback',
          positive_button: { text: { type: 'plain_text' as const, text: '👍' }, value: 'up:a', accessibility_label: label },
          negative_button: { text: { type: 'plain_text' as const, text: '👎' }, value: 'down:a' },
        },
      ],
    });
    await client.chat.postMessage({ channel: 'C1', text: 'ok', blocks: [feedback('Helpful')] });
    const refused = await slackError(client.chat.postMessage({ channel: 'C1', text: 'x', blocks: [feedback('l'.repeat(76))] }));
    assert.equal(refused.error, 'invalid_blocks');
    assert.match(refused.messages.join(), /positive_button\/accessibility_label/);
  });
});

import type { RecordedBlock } from '../fakes/fake-slack-api.ts';

/** The body of a message: the markdown of every markdown block and the mrkdwn of every section block, joined by newlines. */
export function sectionText(blocks: readonly RecordedBlock[] | undefined): string {
  return (blocks ?? [])
    .filter((block) => block.type === 'section' || block.type === 'markdown')
    .map((block) => (typeof block.text === 'string' ? block.text : (block.text?.text ?? '')))
    .join('\n');
}

/** The text of every context block element, joined by newlines. */
export function contextText(blocks: readonly RecordedBlock[] | undefined): string {
  return (blocks ?? [])
    .filter((block) => block.type === 'context')
    .flatMap((block) => (block.elements ?? []).map((element) => (typeof element.text === 'string' ? element.text : (element.text?.text ?? ''))))
    .join('\n');
}

/** The action ids and values of the buttons in the message (a feedback_buttons element counts as its two buttons). */
export function buttons(blocks: readonly RecordedBlock[] | undefined): Array<{ actionId: string; value: string }> {
  return (blocks ?? [])
    .filter((block) => block.type === 'actions' || block.type === 'context_actions')
    .flatMap((block) =>
      (block.elements ?? []).flatMap((element) =>
        element.type === 'feedback_buttons'
          ? [element.positive_button, element.negative_button].map((button) => ({ actionId: element.action_id ?? '', value: button?.value ?? '' }))
          : [{ actionId: element.action_id ?? '', value: element.value ?? '' }],
      ),
    );
}

/** The answer id the message's feedback buttons rate (their values are `up:<id>` and `down:<id>`). */
export function feedbackAnswerId(blocks: readonly RecordedBlock[] | undefined): string {
  const up = buttons(blocks).find((button) => button.actionId === 'hr_feedback' && button.value.startsWith('up:'));
  if (up === undefined) throw new Error('the message has no feedback buttons');
  return up.value.slice('up:'.length);
}

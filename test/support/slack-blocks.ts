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

/** The action ids of the buttons in the message. */
export function buttons(blocks: readonly RecordedBlock[] | undefined): Array<{ actionId: string; value: string }> {
  return (blocks ?? [])
    .filter((block) => block.type === 'actions')
    .flatMap((block) => (block.elements ?? []).map((element) => ({ actionId: element.action_id ?? '', value: element.value ?? '' })));
}

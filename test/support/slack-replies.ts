import assert from 'node:assert/strict';
import type { FakeSlackApi, RecordedCall } from '../fakes/fake-slack-api.ts';
import { sectionText } from './slack-blocks.ts';

/** What a call to the fake Slack API put on screen: its blocks' text, else its text. */
export function shown(call: RecordedCall): string {
  return call.args.blocks === undefined ? String(call.args.text ?? call.args.markdown_text ?? '') : sectionText(call.args.blocks);
}

/** Each message the bot left in front of users, by channel and ts, with its final text (edits applied). */
export function finalMessages(api: FakeSlackApi): Map<string, string> {
  const messages = new Map<string, string>();
  for (const call of api.calls) {
    const channel = String(call.args.channel ?? '');
    if ((call.method === 'chat.postMessage' || call.method === 'chat.startStream') && call.postedTs !== undefined) messages.set(`${channel} ${call.postedTs}`, shown(call));
    else if (call.method === 'chat.update') messages.set(`${channel} ${String(call.args.ts)}`, shown(call));
  }
  return messages;
}

/**
 * For each user `${prefix}${u}` (u < users), whose DM channel is `D${prefix}${u}` and whose questions
 * were tagged `q<u>x<m>` (answered "… (answer for q<u>x<m>)."): exactly `perUser` messages left on
 * screen (no placeholder, no duplicate), and the answers first shown in the order written.
 */
export function assertAnsweredInOrder(api: FakeSlackApi, prefix: string, users: number, perUser: number): void {
  const finals = [...finalMessages(api).entries()];
  for (let u = 0; u < users; u++) {
    const channel = `D${prefix}${u}`;
    const mine = finals.filter(([key]) => key.startsWith(`${channel} `));
    assert.equal(mine.length, perUser, `user ${u}: one message per question, no placeholder or duplicate (${JSON.stringify(mine)})`);
    const order = api.calls
      .filter((call) => call.args.channel === channel && /answer for q\d+x\d+\)\.$/.test(shown(call)))
      .map((call) => Number(/q\d+x(\d+)/.exec(shown(call))?.[1]));
    assert.deepEqual([...new Set(order)], Array.from({ length: perUser }, (_, m) => m), `user ${u}: answered in the order written`);
  }
}

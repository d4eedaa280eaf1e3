// The inbox's stored form of Slack work: what the message already says is left out of the target,
// and reading it back gives the same work, as does reading a full payload stored before.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SlackWork } from '../adapters/slack/inbox-gate.ts';
import { storedWork, workOf } from '../adapters/slack/stored-work.ts';
import type { IncomingMessage } from '../src/message.ts';

const dm: IncomingMessage = {
  platform: 'slack',
  tenantId: 'T1',
  userId: 'U1',
  conversationId: 'D1',
  conversationKind: 'dm',
  privateReplies: true,
  text: 'policy parental leave',
  eventId: 'Ev1',
  threadId: '1710000000.000100',
};

const works: Array<[string, SlackWork]> = [
  ['a DM that starts a thread', { kind: 'message', message: dm, target: { channel: 'D1', userId: 'U1', teamId: 'T1', kind: 'dm', threadTs: '1710000000.000100', startsThread: true }, sentAt: 1710000000000.1 }],
  [
    'a mention in a channel thread of an enterprise workspace',
    {
      kind: 'message',
      message: { ...dm, conversationId: 'C1', conversationKind: 'channel', threadId: '1710000000.000001' },
      target: { channel: 'C1', userId: 'U1', teamId: 'T1', kind: 'channel', threadTs: '1710000000.000001', enterpriseId: 'E1' },
      sentAt: 1710000000000.2,
    },
  ],
  [
    'a command: no thread in its target, though its message has one',
    { kind: 'command', message: { ...dm, command: '/hr' }, target: { channel: 'C9', userId: 'U1', teamId: 'T2', kind: 'channel' }, responseUrl: 'https://hooks.slack.test/r' },
  ],
  ['a button', { kind: 'action', action: { platform: 'slack', tenantId: 'T1', userId: 'U1', eventId: 'a1', action: { type: 'forget' } }, responseUrl: 'https://hooks.slack.test/a' }],
  ['suggested prompts', { kind: 'prompts', target: { tenantId: 'T1', userId: 'U1', channel: 'D1' }, eventId: 'Ev2' }],
];

void describe('Slack work as the inbox stores it', () => {
  for (const [name, work] of works) {
    void it(`reads back ${name} as it was`, () => {
      assert.deepEqual(workOf(storedWork(work)), work);
      // A payload stored whole (before the stored form left anything out) reads the same.
      assert.deepEqual(workOf(JSON.stringify(work)), work);
    });
  }

  void it('leaves out of a message what the message says: a DM stores its target in a few bytes', () => {
    const [, work] = works[0]!;
    const full = JSON.stringify(work).length;
    const stored = storedWork(work);
    assert.ok(stored.length <= full - 100, `${stored.length} bytes stored against ${full}`);
    assert.deepEqual((JSON.parse(stored) as { target: unknown }).target, { startsThread: true });
  });
});

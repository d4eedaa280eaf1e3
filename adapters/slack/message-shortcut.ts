import type { IncomingMessage } from '../../src/message.ts';
import type { SlackWork } from './inbox-gate.ts';
import { decodeSlackEntities } from './parse.ts';

/** The callback_id of the message shortcut "Ask HR about this message" (manifest `shortcuts`). */
export const ASK_HR_SHORTCUT = 'ask_hr_about_message';

/** The fields of a `message_action` payload (a message shortcut) the adapter reads. */
export interface MessageShortcutBody {
  type: string;
  callback_id?: string;
  trigger_id?: string;
  response_url?: string;
  action_ts?: string;
  message_ts?: string;
  user?: { id?: string; team_id?: string };
  team?: { id?: string } | null;
  enterprise?: { id?: string } | null;
  channel?: { id?: string; name?: string };
  message?: { text?: string; ts?: string };
}

/** Whether a payload is our message shortcut. */
export function isMessageShortcut(body: Record<string, unknown>): body is Record<string, unknown> & MessageShortcutBody {
  return body.type === 'message_action' && body.callback_id === ASK_HR_SHORTCUT;
}

/**
 * The shortcut as inbox work: the chosen message's text becomes a question the user asks, answered
 * like `/hr ask` through the payload's response_url, so the answer is an ephemeral message in the
 * same conversation that only they see (see README, "Slack"). `maxChars` bounds the question
 * (MAX_MESSAGE_CHARS); undefined when the payload is not the shortcut or has no readable text.
 */
export function messageShortcutWork(maxChars: number): (body: Record<string, unknown>) => SlackWork | undefined {
  return (body) => {
    if (!isMessageShortcut(body) || typeof body.response_url !== 'string') return undefined;
    const userId = body.user?.id;
    const teamId = body.team?.id ?? body.user?.team_id ?? body.enterprise?.id;
    const channel = body.channel?.id;
    const question = shortcutQuestion(body.message?.text ?? '', maxChars - ASK.length);
    if (userId === undefined || teamId === undefined || channel === undefined || question === '') return undefined;
    const kind = channel.startsWith('D') ? 'dm' : 'channel';
    const message: IncomingMessage = {
      platform: 'slack',
      tenantId: teamId,
      userId,
      conversationId: channel,
      conversationKind: kind,
      privateReplies: true,
      // Always "ask": the text someone else wrote is a question, never a command (a message saying
      // "forget" must not erase the user who shared it).
      text: `${ASK}${question}`,
      command: '/hr',
      // Each shortcut is its own conversation: earlier questions in the channel are not its context.
      threadId: `shortcut:${body.message_ts ?? body.message?.ts ?? ''}`,
      // Shortcuts are not redelivered; the trigger id is unique per use.
      eventId: `shortcut:${body.trigger_id ?? `${channel}:${userId}:${body.action_ts ?? Date.now()}`}`,
    };
    return { kind: 'command', message, target: { channel, userId, teamId, kind }, responseUrl: body.response_url };
  };
}

const ASK = 'ask ';

/**
 * A message's text as a plain question: Slack's markup turned into what a reader sees (`<@U1>` →
 * `@U1`, `<#C1|general>` → `#general`, `<!here>` → `@here`, `<https://x|label>` → `label (https://x)`),
 * entities decoded, whitespace tidied, and cut at `maxChars`. The result is data for the engine,
 * which escapes it again wherever it is shown, so nothing in it can mention or broadcast.
 */
export function shortcutQuestion(text: string, maxChars: number): string {
  const plain = decodeSlackEntities(
    text.replace(/<([^<>]*)>/g, (_match, inner: string) => {
      const [target = '', label] = inner.split('|', 2);
      if (target.startsWith('@')) return `@${label ?? target.slice(1)}`;
      if (target.startsWith('#')) return `#${label ?? target.slice(1)}`;
      if (target.startsWith('!')) return `@${(label ?? target.slice(1)).replace(/^subteam\^/, '')}`;
      return label === undefined || label === target ? target : `${label} (${target})`;
    }),
  )
    .replace(/\s+/g, ' ')
    .trim();
  return plain.length > maxChars ? `${plain.slice(0, Math.max(0, maxChars - 1)).trimEnd()}…` : plain;
}

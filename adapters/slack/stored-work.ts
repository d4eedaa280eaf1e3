import type { IncomingMessage } from '../../src/message.ts';
import type { SlackWork } from './inbox-gate.ts';
import type { SlackTarget } from './parse.ts';

/**
 * Slack work as the inbox stores it, and back. A message's reply target mostly repeats the message
 * (its channel, user, team, kind and thread), and its platform is always Slack: the stored form
 * leaves out what the message already says, since every step of an item (stored, taken, counted,
 * done) writes its row again, and a smaller row shares its page with more. A stored form that
 * left nothing out (stored before this) reads the same.
 */
export function storedWork(work: SlackWork): string {
  if (work.kind !== 'message' && work.kind !== 'command') return JSON.stringify(work);
  const { platform: _platform, ...message } = work.message;
  return JSON.stringify({ ...work, message, target: targetDifference(work.target, work.message) });
}

/** The work a payload of {@link storedWork} (or a full one) holds. */
export function workOf(payload: string): SlackWork {
  const work = JSON.parse(payload) as SlackWork;
  if (work.kind !== 'message' && work.kind !== 'command') return work;
  // A stored form's message has no platform; a payload stored whole has its target whole too.
  const stored: Partial<IncomingMessage> = work.message;
  if (stored.platform !== undefined) return work;
  const message: IncomingMessage = { ...work.message, platform: 'slack' };
  return { ...work, message, target: withDefaults(work.target, message) };
}

/** A target's fields that the message does not give, a field the message would give wrongly as null. */
type StoredTarget = { [K in keyof SlackTarget]?: SlackTarget[K] | null };

function targetOf(message: IncomingMessage): SlackTarget {
  return {
    channel: message.conversationId,
    userId: message.userId,
    teamId: message.tenantId,
    kind: message.conversationKind === 'dm' ? 'dm' : 'channel',
    ...(message.threadId === undefined ? {} : { threadTs: message.threadId }),
  };
}

function targetDifference(target: SlackTarget, message: IncomingMessage): StoredTarget {
  const implied: Partial<Record<keyof SlackTarget, unknown>> = targetOf(message);
  const stored: Record<string, unknown> = {};
  for (const key of Object.keys(implied) as Array<keyof SlackTarget>) {
    if (target[key] === undefined) stored[key] = null;
    else if (target[key] !== implied[key]) stored[key] = target[key];
  }
  for (const [key, value] of Object.entries(target)) if (!(key in implied) && value !== undefined) stored[key] = value;
  return stored;
}

function withDefaults(stored: StoredTarget, message: IncomingMessage): SlackTarget {
  const target: Record<string, unknown> = { ...targetOf(message), ...stored };
  for (const [key, value] of Object.entries(target)) if (value === null) delete target[key];
  return target as unknown as SlackTarget;
}

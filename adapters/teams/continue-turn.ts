import type { CloudAdapter, ConversationReference, TurnContext } from 'botbuilder';
import { InboxRetryError } from '../../src/inbox/inbox-worker.ts';

/** Where a reply to one user message goes: the saved conversation reference, and the message it answers. */
export interface TeamsReplyTarget {
  reference: Partial<ConversationReference>;
  /** The user's activity id: every reply points at it, so Teams shows it as the answer to that message. */
  replyToId: string;
}

/**
 * Run `logic` in a turn that continues the target's conversation, after the request that brought
 * the message has been answered. Its failure is thrown to the caller: botbuilder would otherwise
 * hand it to `onTurnError`, which logs it, and the caller (the inbox worker) would take a lost
 * reply for a delivered one.
 */
export async function continueTurn<T>(adapter: CloudAdapter, appId: string, target: TeamsReplyTarget, logic: (context: TurnContext) => Promise<T>): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined;
  await adapter.continueConversationAsync(appId, target.reference, async (context) => {
    // A continuation turn has a made-up activity id; replies must point at the user's message.
    context.onSendActivities(async (_ctx, activities, next) => {
      for (const outgoing of activities) outgoing.replyToId = target.replyToId;
      return next();
    });
    try {
      outcome = { value: await logic(context) };
    } catch (error) {
      outcome = { error };
    }
  });
  // The middleware failed before the logic ran; onTurnError has logged why.
  if (outcome === undefined) throw new InboxRetryError('The Teams turn ended before its work ran');
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

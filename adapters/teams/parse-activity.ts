import type { Activity } from 'botbuilder';
import type { ConversationKind, IncomingMessage, UserAction } from '../../src/message.ts';

/** Who sent an activity, as far as the verified envelope says. */
export interface TeamsIdentity {
  tenantId: string;
  userId: string;
}

/** Tenant id used when an unauthenticated (emulator) activity carries none. */
export const LOCAL_TENANT = 'local';

/**
 * Tenant and user of an activity: the Entra tenant and the AAD object id. Only in unauthenticated
 * emulator mode may the channel's own user id stand in (the emulator has no AAD). Undefined when
 * the activity cannot be attributed, and then it is not processed.
 */
export function identityOf(activity: Partial<Activity>, authenticated: boolean): TeamsIdentity | undefined {
  const channelData = activity.channelData as { tenant?: { id?: unknown } } | undefined;
  const tenant = stringOr(channelData?.tenant?.id) ?? stringOr(activity.conversation?.tenantId);
  const user = stringOr(activity.from?.aadObjectId);
  if (authenticated) {
    if (tenant === undefined || user === undefined) return undefined;
    return { tenantId: tenant, userId: user };
  }
  const fallbackUser = user ?? stringOr(activity.from?.id);
  if (fallbackUser === undefined) return undefined;
  return { tenantId: tenant ?? LOCAL_TENANT, userId: fallbackUser };
}

/** Personal, channel or group chat, from `conversation.conversationType`. */
export function conversationKindOf(activity: Partial<Activity>): ConversationKind {
  switch (activity.conversation?.conversationType) {
    case 'channel':
      return 'channel';
    case 'groupChat':
      return 'group';
    default:
      // 'personal', and the emulator, which sends no type.
      return activity.conversation?.isGroup === true ? 'group' : 'dm';
  }
}

/** Sent by this bot or by another bot: never answered, so two bots cannot talk each other into a loop. */
export function isFromBot(activity: Partial<Activity>): boolean {
  const from = activity.from;
  if (from === undefined) return true;
  if (from.id === activity.recipient?.id) return true;
  // Teams gives bots ids in the 28: namespace; the role field is set by the Bot Framework.
  return from.role === 'bot' || from.id.startsWith('28:');
}

/** Does the activity @mention the bot it was delivered to? */
export function mentionsBot(activity: Partial<Activity>): boolean {
  const botId = activity.recipient?.id;
  return (activity.entities ?? []).some((entity) => entity.type === 'mention' && (entity as { mentioned?: { id?: string } }).mentioned?.id === botId);
}

/** The text with the bot's own mention removed (`<at>HR Bot</at> policy leave` → `policy leave`). */
export function textWithoutMention(activity: Partial<Activity>): string {
  let text = activity.text ?? '';
  const botId = activity.recipient?.id;
  for (const entity of activity.entities ?? []) {
    const mention = entity as { type: string; mentioned?: { id?: string }; text?: unknown };
    if (mention.type !== 'mention' || mention.mentioned?.id !== botId || typeof mention.text !== 'string') continue;
    text = text.split(mention.text).join(' ');
  }
  // Teams writes mentions as <at>Name</at>; a client that sends a different entity text still has the tag.
  if (botId !== undefined && mentionsBot(activity)) text = text.replace(/<at>[^<]*<\/at>/gi, ' ');
  return text.replace(/&nbsp;|\u00a0/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The reply chain a channel message belongs to: the `;messageid=` root, else what it replies to, else itself. */
export function threadRootOf(activity: Partial<Activity>): string | undefined {
  const match = /;messageid=(\d+|[^;]+)/.exec(activity.conversation?.id ?? '');
  return match?.[1] ?? activity.replyToId ?? activity.id;
}

/**
 * Turn a message activity into the engine's message, or undefined when the bot must stay quiet:
 * a bot sent it, it cannot be attributed, or it was written in a channel or group chat without
 * mentioning the bot.
 */
export function toIncomingMessage(activity: Partial<Activity>, authenticated: boolean): IncomingMessage | undefined {
  if (activity.type !== 'message' || isFromBot(activity)) return undefined;
  const identity = identityOf(activity, authenticated);
  const conversationId = activity.conversation?.id;
  const activityId = activity.id;
  if (identity === undefined || conversationId === undefined || activityId === undefined) return undefined;
  const kind = conversationKindOf(activity);
  if (kind !== 'dm' && !mentionsBot(activity)) return undefined;
  const threadId = kind === 'dm' ? undefined : threadRootOf(activity);
  // The channel id without the reply-chain suffix, so one channel is one conversation for history.
  const baseConversation = conversationId.split(';')[0] ?? conversationId;
  return {
    platform: 'teams',
    tenantId: identity.tenantId,
    userId: identity.userId,
    conversationId: baseConversation,
    conversationKind: kind,
    // Teams has no reply only the asker sees in a channel or group chat.
    privateReplies: kind === 'dm',
    ...(threadId === undefined ? {} : { threadId }),
    text: textWithoutMention(activity),
    eventId: eventIdOf(activity) ?? activityId,
  };
}

/**
 * The dedupe key of an activity. Teams message ids are timestamps, unique within a conversation but
 * not across them, so the conversation is part of the key; a redelivery carries both unchanged.
 */
export function eventIdOf(activity: Partial<Activity>): string | undefined {
  const conversationId = activity.conversation?.id;
  if (activity.id === undefined || conversationId === undefined) return undefined;
  return `${conversationId.split(';')[0] ?? conversationId}/${activity.id}`;
}

/** A card button's data, as the bot put it on the card. */
export type CardActionData = { hrbot: 'feedback'; answerId: string; rating: 'up' | 'down' } | { hrbot: 'forget' };

/** Read our own card data back; anything else is not ours and is ignored. */
export function parseCardAction(value: unknown): CardActionData | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const data = value as Record<string, unknown>;
  if (data.hrbot === 'feedback' && typeof data.answerId === 'string' && data.answerId.length <= 200 && (data.rating === 'up' || data.rating === 'down')) {
    return { hrbot: 'feedback', answerId: data.answerId, rating: data.rating };
  }
  if (data.hrbot === 'forget') return { hrbot: 'forget' };
  return undefined;
}

/** A card action with the acting user's identity taken from the activity, never from the card data. */
export function toUserAction(data: CardActionData, identity: TeamsIdentity, eventId: string): UserAction {
  return {
    platform: 'teams',
    tenantId: identity.tenantId,
    userId: identity.userId,
    action: data.hrbot === 'feedback' ? { type: 'feedback', answerId: data.answerId, rating: data.rating } : { type: 'forget' },
    eventId,
  };
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

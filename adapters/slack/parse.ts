import type { IncomingMessage, UserAction } from '../../src/message.ts';

/** The fields of a Slack `message` or `app_mention` event the adapter reads. */
export interface SlackMessageEvent {
  type: string;
  subtype?: string;
  channel?: string;
  channel_type?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts?: string;
  thread_ts?: string;
  edited?: unknown;
}

/** The signed Events API envelope around an event. */
export interface SlackEventEnvelope {
  event_id?: string;
  team_id?: string;
  enterprise_id?: string;
  authorizations?: Array<{ team_id?: string | null; enterprise_id?: string | null }>;
}

/** A slash command request (form fields). */
export interface SlackCommandBody {
  command: string;
  text?: string;
  user_id: string;
  team_id?: string;
  enterprise_id?: string;
  channel_id: string;
  channel_name?: string;
  trigger_id?: string;
}

/** The fields of a `block_actions` payload the adapter reads. */
export interface SlackBlockActionBody {
  type: string;
  trigger_id?: string;
  user: { id: string; team_id?: string };
  team?: { id?: string } | null;
  enterprise?: { id?: string } | null;
}

/** Where a reply to a message goes. */
export interface SlackTarget {
  channel: string;
  /** Reply in this thread: a mention's thread; for a DM, the thread it was written in, else the DM itself starts one. */
  threadTs?: string;
  /** A top-level DM: the reply starts its thread, which gets a title from the question. */
  startsThread?: boolean;
  /** The asking user, for ephemeral replies and stream recipients. */
  userId: string;
  teamId: string;
  /** The Enterprise Grid org, when there is one: an org-wide install is found by it. */
  enterpriseId?: string;
  kind: 'dm' | 'channel';
}

/** Why an event was not turned into a message. */
export type SkipReason = 'not_dm' | 'subtype' | 'bot' | 'self' | 'no_user' | 'edited' | 'no_event_id' | 'no_team';

/** The bot's own identity, learned from auth.test at start. */
export interface BotIdentity {
  userId: string;
  botId?: string;
}

// Slack event subtypes are edits, deletions, joins, bot posts, etc.: none is a person asking something.
// `file_share` and `thread_broadcast` carry text a person wrote, so they still count as messages.
const PERSON_SUBTYPES = new Set(['file_share', 'thread_broadcast']);

/** The verified workspace of a signed request: the envelope's team, else its first authorization. */
export function envelopeTeam(body: SlackEventEnvelope): string | undefined {
  return body.team_id ?? body.authorizations?.[0]?.team_id ?? body.enterprise_id ?? body.authorizations?.[0]?.enterprise_id ?? undefined;
}

/**
 * A DM (`message.im`) or a mention (`app_mention`) as the engine's message, or why it is skipped.
 * Identity comes from the signed envelope (team) and the event's author, never from the text.
 */
export function parseMessageEvent(
  envelope: SlackEventEnvelope,
  event: SlackMessageEvent,
  bot: BotIdentity,
): { message: IncomingMessage; target: SlackTarget } | { skip: SkipReason } {
  const isMention = event.type === 'app_mention';
  if (!isMention && event.channel_type !== 'im') return { skip: 'not_dm' };
  // A mention inside a DM also arrives as message.im; answering both would answer twice.
  if (isMention && (event.channel_type === 'im' || event.channel?.startsWith('D') === true)) return { skip: 'not_dm' };
  if (event.subtype !== undefined && !PERSON_SUBTYPES.has(event.subtype)) return { skip: 'subtype' };
  if (event.bot_id !== undefined) return { skip: event.bot_id === bot.botId ? 'self' : 'bot' };
  if (event.user === undefined || event.channel === undefined || event.ts === undefined) return { skip: 'no_user' };
  if (event.user === bot.userId) return { skip: 'self' };
  if (event.edited !== undefined) return { skip: 'edited' };
  if (envelope.event_id === undefined) return { skip: 'no_event_id' };
  const teamId = envelopeTeam(envelope);
  if (teamId === undefined) return { skip: 'no_team' };

  // Slack's agent messaging experience: every DM is answered in its own thread (a top-level message
  // starts one), so the answer can stream and show a status, as a mention's does.
  const threadTs = event.thread_ts ?? event.ts;
  const startsThread = !isMention && event.thread_ts === undefined;
  const message: IncomingMessage = {
    platform: 'slack',
    tenantId: teamId,
    userId: event.user,
    conversationId: event.channel,
    conversationKind: isMention ? 'channel' : 'dm',
    // In a channel the reply to a personal command goes out as an ephemeral message.
    privateReplies: true,
    text: decodeSlackEntities(stripBotMention(event.text ?? '', bot.userId)),
    eventId: envelope.event_id,
    raw: event,
    threadId: threadTs,
  };
  const enterpriseId = envelope.enterprise_id ?? envelope.authorizations?.[0]?.enterprise_id ?? undefined;
  return {
    message,
    target: {
      channel: event.channel,
      userId: event.user,
      teamId,
      kind: isMention ? 'channel' : 'dm',
      threadTs,
      ...(startsThread ? { startsThread } : {}),
      ...(enterpriseId === undefined ? {} : { enterpriseId }),
    },
  };
}

/** The fields of `app_home_opened` and `assistant_thread_started` events the adapter reads. */
export interface SlackSurfaceEvent {
  type: string;
  user?: string;
  channel?: string;
  tab?: string;
  assistant_thread?: { user_id?: string; channel_id?: string; thread_ts?: string };
}

/** Where suggested prompts go: the user's DM with the app, and for the older assistant view its thread. */
export interface PromptsTarget {
  tenantId: string;
  userId: string;
  channel: string;
  threadTs?: string;
}

/**
 * A user opening the app's Messages tab (`app_home_opened` with `tab: 'messages'`, the agent
 * messaging experience) or an assistant thread (`assistant_thread_started`, the older assistant
 * view) as a request for suggested prompts; undefined for anything else (the Home tab, no user).
 */
export function parsePromptsEvent(envelope: SlackEventEnvelope, event: SlackSurfaceEvent): PromptsTarget | undefined {
  const tenantId = envelopeTeam(envelope);
  if (tenantId === undefined) return undefined;
  if (event.type === 'app_home_opened') {
    if (event.tab !== 'messages' || event.user === undefined || event.channel === undefined) return undefined;
    return { tenantId, userId: event.user, channel: event.channel };
  }
  const thread = event.assistant_thread;
  if (event.type !== 'assistant_thread_started' || thread?.user_id === undefined || thread.channel_id === undefined || thread.thread_ts === undefined) return undefined;
  return { tenantId, userId: thread.user_id, channel: thread.channel_id, threadTs: thread.thread_ts };
}

/** A `/hr` slash command as the engine's message; its text is the command's arguments. */
export function parseCommand(body: SlackCommandBody): { message: IncomingMessage; target: SlackTarget } | { skip: SkipReason } {
  const teamId = body.team_id ?? body.enterprise_id;
  if (teamId === undefined) return { skip: 'no_team' };
  const kind = body.channel_name === 'directmessage' || body.channel_id.startsWith('D') ? 'dm' : 'channel';
  const message: IncomingMessage = {
    platform: 'slack',
    tenantId: teamId,
    userId: body.user_id,
    conversationId: body.channel_id,
    conversationKind: kind,
    // Slash command replies are ephemeral, wherever the command was typed.
    privateReplies: true,
    text: decodeSlackEntities(body.text ?? ''),
    command: body.command,
    // Slash commands are not redelivered; the trigger id is unique per invocation.
    eventId: `command:${body.trigger_id ?? `${body.channel_id}:${body.user_id}:${Date.now()}`}`,
    raw: body,
  };
  return { message, target: { channel: body.channel_id, userId: body.user_id, teamId, kind, ...(body.enterprise_id === undefined ? {} : { enterpriseId: body.enterprise_id }) } };
}

/**
 * A feedback button press as the engine's action. The acting user is the one Slack signed the
 * request for (`user.id`); the answer id from the button is only a claim the engine checks.
 */
export function parseFeedbackAction(
  body: SlackBlockActionBody,
  action: { action_id: string; value?: string; action_ts?: string },
): UserAction | undefined {
  const clicked = feedbackClick(action);
  const actor = actingUser(body, action);
  if (clicked === undefined || actor === undefined) return undefined;
  return { ...actor, action: { type: 'feedback', ...clicked } };
}

/**
 * Which rating a feedback click gave to which answer: Slack's `feedback_buttons` element sends the
 * pressed button's value (`up:<answer id>` or `down:<answer id>`); the 👍/👎 buttons of answers
 * posted before it carry the answer id alone and the rating in their action id.
 */
export function feedbackClick(action: { action_id: string; value?: string }): { answerId: string; rating: 'up' | 'down' } | undefined {
  const value = action.value ?? '';
  if (action.action_id === FEEDBACK_BUTTONS) {
    const match = /^(up|down):(.+)$/.exec(value);
    return match === null ? undefined : { rating: match[1] as 'up' | 'down', answerId: match[2]! };
  }
  const rating = action.action_id === FEEDBACK_UP ? 'up' : action.action_id === FEEDBACK_DOWN ? 'down' : undefined;
  return rating === undefined || value === '' ? undefined : { rating, answerId: value };
}

/**
 * The "Erase my data" button as the engine's action. It always erases the clicking user's data,
 * whoever the message it sits on was for.
 */
export function parseForgetAction(body: SlackBlockActionBody, action: { action_id: string; action_ts?: string }): UserAction | undefined {
  const actor = actingUser(body, action);
  if (action.action_id !== FORGET || actor === undefined) return undefined;
  return { ...actor, action: { type: 'forget' } };
}

/** Who clicked, from the signed payload, and a delivery id for the engine's dedupe. */
function actingUser(body: SlackBlockActionBody, action: { action_ts?: string }): Omit<UserAction, 'action'> | undefined {
  const teamId = body.team?.id ?? body.user.team_id ?? body.enterprise?.id;
  if (teamId === undefined) return undefined;
  return {
    platform: 'slack',
    tenantId: teamId,
    userId: body.user.id,
    eventId: `action:${body.trigger_id ?? `${action.action_ts ?? Date.now()}:${body.user.id}`}`,
  };
}

/** Action ids of the buttons (render and parse share them). */
export const FEEDBACK_BUTTONS = 'hr_feedback';
/** The 👍/👎 buttons of answers posted before the `feedback_buttons` element; still accepted. */
export const FEEDBACK_UP = 'hr_feedback_up';
export const FEEDBACK_DOWN = 'hr_feedback_down';
export const FORGET = 'hr_forget';

/** Remove the bot's own `<@U…>` mention (with or without a `|name` label) and tidy the spaces. */
export function stripBotMention(text: string, botUserId: string): string {
  const mention = new RegExp(`<@${escapeRegExp(botUserId)}(?:\\|[^>]*)?>`, 'g');
  return text.replace(mention, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * Slack sends what a person typed with `&`, `<` and `>` as entities (`&lt;` …), so that its own
 * `<…>` markup stands out. Decoded, the engine sees what was typed; the renderer escapes it again.
 */
export function decodeSlackEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

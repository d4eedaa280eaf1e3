/** The platforms an adapter can deliver from. */
export type Platform = 'slack' | 'teams' | 'console';

/** Where a message was written: a one-to-one chat, a channel, or a group chat. */
export type ConversationKind = 'dm' | 'channel' | 'group';

/**
 * One message from any platform, normalized by its adapter. Identity fields come from the
 * platform's verified envelope (signed Slack request, Bot Framework token), never from a
 * value a user could type or a button payload could carry.
 */
export interface IncomingMessage {
  platform: Platform;
  /** Verified workspace or tenant: Slack team id, Entra tenant id, `local` for the console. */
  tenantId: string;
  /** Verified user: Slack user id, AAD object id, the console user. */
  userId: string;
  /** Channel, chat or DM id as the platform names it. */
  conversationId: string;
  conversationKind: ConversationKind;
  /**
   * Whether a reply here can be shown to the asker alone (Slack: anywhere, as an ephemeral
   * message; Teams: only the personal chat; the console). Personal commands (history, usage,
   * forget) run only where it is true, so nothing is done that the reply cannot report.
   */
  privateReplies: boolean;
  /** Thread (Slack thread_ts, Teams reply chain id) the message belongs to, if any. */
  threadId?: string;
  /** What the user wrote, with the bot's own mention already removed by the adapter. */
  text: string;
  /** Set when the platform delivered a slash command (e.g. `/hr`): `text` is then its arguments. */
  command?: string;
  /** The platform's id for this delivery; a redelivery carries the same id. */
  eventId: string;
  /** The platform payload, for the adapter only; the engine never reads it. */
  raw?: unknown;
}

/** A handbook section an answer came from. */
export interface Source {
  file: string;
  title: string;
  heading: string;
  headingPath: string;
  anchor: string;
  /** The number the answer's text cites this section by (`[n]`), when an AI answer cites it. */
  citation?: number;
  /** The start of the cited passage (markdown, at most 300 characters), for platforms that preview a citation. */
  passage?: string;
}

/** What the answer is, so adapters can label and decorate it. */
export type ReplyKind =
  | 'answer' // written by the LLM from handbook sections
  | 'excerpts' // handbook passages, no LLM
  | 'lookup' // a structured command result: policy, holidays, contact, history, usage
  | 'help'
  | 'notice' // confirmations such as an erase
  | 'error'; // something the user should know went wrong or was refused

/** The engine's reply, rendered by the adapter that delivered the message. */
export interface Reply {
  kind: ReplyKind;
  /** Markdown: `**bold**`, `_italic_`, `[text](url)`, `- ` lists, `` `code` ``. */
  text: string;
  sources: Source[];
  /** `private` replies hold personal data and are shown only to the asking user where the platform can. */
  visibility: 'public' | 'private';
  /** Set when the reply can receive feedback; acting on it is checked against the acting user. */
  answerId?: string;
  /** Buttons the adapter may offer with the reply; each acts for whoever clicks it, never for the asker. */
  actions?: readonly ReplyAction[];
  /**
   * Shown to everyone where the question was asked, when the reply itself goes to the asker alone (a
   * sensitive question in a channel): it says only that an answer was sent privately.
   */
  publicNote?: string;
}

/**
 * Whether a retry gets this reply again just by asking again: handbook passages and lookups are read
 * from the handbook and the user's own records, and change nothing. An adapter need not save such a
 * reply for a retry; it must save the model's answer (a second call costs, and may differ) and
 * anything else (an erase's confirmation cannot be had twice).
 */
export function isRecomputable(reply: Reply): boolean {
  return reply.kind === 'lookup' || reply.kind === 'excerpts';
}

/** A recomputable reply up to this long is kept whole in history (a "not in the handbook" reply, say). */
const HISTORY_WHOLE_CHARS = 400;
/** Sources named in what history keeps of a longer recomputable reply. */
const HISTORY_SOURCES = 5;

/**
 * What the conversation's history keeps of a reply (the text later turns' prompts see). A model's
 * answer is kept whole. A recomputable reply (see {@link isRecomputable}) longer than a note is kept
 * as what it showed: the handbook sections by title, or its first line. A copy of the handbook, or of
 * the user's own records, in every exchange is data held for nothing, and most of what each answered
 * message wrote to disk; the sections themselves are found again when a follow-up is searched.
 */
export function historyText(reply: Reply): string {
  if (!isRecomputable(reply) || reply.text.length <= HISTORY_WHOLE_CHARS) return reply.text;
  const shown = [...new Set(reply.sources.map((source) => (source.heading === '' || source.heading === source.title ? source.title : `${source.title}: ${source.heading}`)))];
  if (shown.length > 0) {
    const more = shown.length > HISTORY_SOURCES ? `; and ${shown.length - HISTORY_SOURCES} more` : '';
    return `(Showed the handbook: ${shown.slice(0, HISTORY_SOURCES).join('; ')}${more})`;
  }
  const firstLine = reply.text.split('\n', 1)[0]!.slice(0, HISTORY_WHOLE_CHARS);
  return `${firstLine} (…)`;
}

/** A button offered with a reply: `forget` erases the clicking user's data (after a confirmation where the platform has one). */
export type ReplyAction = 'forget';

/** A button or card action from a user, with the acting user's verified identity. */
export interface UserAction {
  platform: Platform;
  tenantId: string;
  userId: string;
  action: { type: 'feedback'; answerId: string; rating: 'up' | 'down' } | { type: 'forget' };
  eventId: string;
}

/**
 * Progress while an answer is being written, for adapters that can show it: a status line
 * ("Looking that up…"), then for AI answers each newly arrived piece of text (`delta`, to be
 * appended). The Reply that `handle` finally returns always wins: if a stream failed half way the
 * final reply is a different (fallback) text, and the adapter must replace what it streamed.
 */
export type Progress = { type: 'status'; text: string } | { type: 'delta'; text: string };

/** Optional callbacks an adapter gives the engine for one message. */
export interface ReplyHooks {
  /** Called in order, awaited; a failure here is logged and never fails the answer. */
  onProgress?(progress: Progress): Promise<void> | void;
}

/** Exhaustiveness check for switches over unions. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}

import type { webApi } from '@slack/bolt';
import { breakMarkup } from '../../src/engine/user-text.ts';
import { toError } from '../../src/errors.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { Progress, Reply, ReplyHooks } from '../../src/message.ts';
import { assertNever } from '../../src/message.ts';
import type { BotIdentity, SlackTarget } from './parse.ts';
import type { RenderOptions, SlackMessage } from './render.ts';
import { extraBlocks, MAX_MARKDOWN_CHARS, MAX_SECTION_CHARS, renderReply, SlackMarkdownStream, toMrkdwn, toSlackMarkdown } from './render.ts';
import { SlackDeliveryError } from './slack-errors.ts';

type WebClient = webApi.WebClient;

/** What is on screen for a message so far, saved so a retry (after a crash too) completes it. */
export interface SlackShown {
  placeholderTs?: string;
  streamTs?: string;
  /** A first post or a stream was on its way: if no ts was saved, the process died before Slack's answer arrived. */
  posting?: boolean;
  /** A status line was set in the thread: it is cleared once the answer is delivered. */
  status?: boolean;
  /** The thread got its title (once). */
  titled?: boolean;
}

/** Where a delivery starts from, and where it reports what it shows. */
export interface DeliveryResume {
  shown?: SlackShown;
  onShown?: (shown: SlackShown) => Promise<void>;
  /** The inbox item answered: its posts carry it in message metadata, so a retry can find them again. */
  itemId?: number;
  /** Slack ts of the user's message: a lost first post can only be after it. */
  after?: string;
  /**
   * An earlier attempt at this item ran and did not finish: it may have posted the reply and died
   * before the item was marked done (the reply's own post saves nothing before it), so the post is
   * looked for before another is made.
   */
  retried?: boolean;
}

/** How a delivery draws and recognises its messages. */
export interface DeliveryOptions {
  render?: RenderOptions;
  /** The bot itself: a stream whose ts a crash lost is found among the bot's own unmarked posts. */
  bot?: BotIdentity;
}

/** Metadata event type that marks the bot's posts for an inbox item. */
const REPLY_MARKER = 'hrbot_reply';
/** Metadata event type of the bot's other posts (the "inbox full" reply): marked, so never taken for a lost stream. */
export const NOTICE_MARKER = 'hrbot_notice';

/** The metadata that marks a post as part `part` (0: the first, a placeholder or a notice) of the answer to inbox item `itemId`. */
export function replyMarker(itemId: number, part = 0): { event_type: string; event_payload: Record<string, string> } {
  return { event_type: REPLY_MARKER, event_payload: part === 0 ? { item: String(itemId) } : { item: String(itemId), part: String(part) } };
}
/** Messages read back when looking for a post whose ts was lost in a crash. */
const ADOPT_SEARCH_LIMIT = 50;
type ChatStreamer = webApi.ChatStreamer;

/** A placeholder message is edited at most this often while an answer streams into it. */
export const PREVIEW_UPDATE_INTERVAL_MS = 1000;
/** Characters of streamed text buffered before a chat.appendStream call (the SDK's own buffer). */
const STREAM_BUFFER_CHARS = 256;
/** Most markdown handed to the SDK at once: with what its buffer may hold, a call stays within Slack's 12,000. */
const STREAM_PIECE_CHARS = MAX_MARKDOWN_CHARS - STREAM_BUFFER_CHARS;
/** The thread's status line while an answer is worked on; Slack shows it after the app's name. */
export const SLACK_STATUS = 'is looking through the handbook…';
/** Longest thread title, in characters; a longer question is cut at a word. */
const MAX_TITLE_CHARS = 80;

/**
 * Delivers one message's progress and reply. In a thread (every DM is answered in its own thread,
 * a mention in the mention's), the status goes through assistant.threads.setStatus and the answer
 * streams with chat.startStream / appendStream / stopStream as markdown Slack renders itself; where
 * streaming is unavailable a placeholder is posted and edited, throttled. The final reply always
 * replaces whatever was streamed when the two differ, and nothing streamed is left open: a stream
 * an earlier attempt started (its ts saved, or found again by the bot's unmarked post in the
 * thread) is stopped and edited into the answer.
 */
export class MessageDelivery {
  readonly #client: WebClient;
  readonly #target: SlackTarget;
  readonly #log: Logger;
  readonly #render: RenderOptions;
  readonly #bot: BotIdentity | undefined;
  #streamer: ChatStreamer | undefined;
  #streamFailed = false;
  #streamDiverged = false;
  readonly #markdown: SlackMarkdownStream;
  #placeholderTs: string | undefined;
  #lastPreviewAt = 0;
  #statusShown: boolean;
  readonly #onShown: ((shown: SlackShown) => Promise<void>) | undefined;
  /** The placeholder is a stream an earlier attempt never stopped: stop it before editing it. */
  #orphanStream: boolean;
  readonly #resume: DeliveryResume;
  /** An earlier attempt posted and died before learning the ts: find that post before showing anything. */
  #mustAdopt: boolean;

  constructor(client: WebClient, target: SlackTarget, log: Logger, resume: DeliveryResume = {}, options: DeliveryOptions = {}) {
    this.#client = client;
    this.#target = target;
    this.#log = log;
    this.#render = options.render ?? {};
    this.#bot = options.bot;
    this.#markdown = new SlackMarkdownStream(this.#render);
    this.#onShown = resume.onShown;
    this.#resume = resume;
    this.#statusShown = resume.shown?.status === true;
    this.#mustAdopt =
      (resume.shown?.posting === true || resume.retried === true) && resume.shown?.placeholderTs === undefined && resume.shown?.streamTs === undefined && resume.itemId !== undefined;
    // What an earlier attempt left on screen (a notice, a placeholder, a stream cut by a crash) is
    // edited into the answer rather than left behind.
    this.#placeholderTs = resume.shown?.placeholderTs ?? resume.shown?.streamTs;
    this.#orphanStream = resume.shown?.streamTs !== undefined && resume.shown.placeholderTs === undefined;
  }

  /** Hooks for the engine: status and streamed text. */
  get hooks(): ReplyHooks {
    return { onProgress: (progress) => this.#progress(progress) };
  }

  /**
   * Name a thread the DM starts after the question (assistant.threads.setTitle), once. A failure
   * only costs the title: it is logged, and the answer goes on.
   */
  async setTitle(question: string): Promise<void> {
    const { channel, threadTs, startsThread } = this.#target;
    if (startsThread !== true || threadTs === undefined || this.#resume.shown?.titled === true) return;
    try {
      await this.#client.assistant.threads.setTitle({ channel_id: channel, thread_ts: threadTs, title: threadTitle(question) });
      await this.#onShown?.({ titled: true });
    } catch (error) {
      this.#log.warn({ err: toError(error) }, 'slack: could not set the thread title');
    }
  }

  async #progress(progress: Progress): Promise<void> {
    await this.#adopt();
    const { channel, threadTs } = this.#target;
    switch (progress.type) {
      case 'status':
        if (threadTs !== undefined) {
          // Slack shows it as "<app name> is looking through the handbook…" until the answer arrives.
          await this.#client.assistant.threads.setStatus({ channel_id: channel, thread_ts: threadTs, status: SLACK_STATUS });
          if (!this.#statusShown) await this.#onShown?.({ status: true });
          this.#statusShown = true;
        } else if (this.#placeholderTs === undefined) {
          await this.#postFirst({ channel, text: `_${toMrkdwn(progress.text)}_` });
        } else {
          await this.#stopOrphanStream();
          await this.#client.chat.update({ channel, ts: this.#placeholderTs, text: `_${toMrkdwn(progress.text)}_` });
        }
        return;
      case 'delta': {
        const ready = this.#markdown.push(progress.text);
        if (this.#streamDiverged) return;
        // A message already on screen (a notice) is edited, not joined by a stream: one message per question.
        if (threadTs !== undefined && !this.#streamFailed && this.#placeholderTs === undefined) {
          await this.#appendToStream(ready, threadTs);
          if (!this.#streamFailed) return;
        }
        await this.#updatePreview();
        return;
      }
      default:
        assertNever(progress);
    }
  }

  async #appendToStream(text: string, threadTs: string): Promise<void> {
    if (text === '') return;
    if (this.#streamer === undefined) {
      // On its way: a crash before the ts is saved leaves a stream the next attempt must find.
      await this.#onShown?.({ posting: true });
      this.#streamer = this.#client.chatStream({
        channel: this.#target.channel,
        thread_ts: threadTs,
        // Required outside DMs; harmless in them.
        recipient_team_id: this.#target.teamId,
        recipient_user_id: this.#target.userId,
        buffer_size: STREAM_BUFFER_CHARS,
      });
    }
    try {
      // Slack takes at most 12,000 characters of markdown a call; Slack joins the pieces on screen.
      for (let at = 0; at < text.length; at += STREAM_PIECE_CHARS) {
        const known = this.#streamer.ts;
        await this.#streamer.append({ markdown_text: text.slice(at, at + STREAM_PIECE_CHARS) });
        if (known === undefined && this.#streamer.ts !== undefined) await this.#onShown?.({ streamTs: this.#streamer.ts });
      }
    } catch (error) {
      this.#log.warn({ err: toError(error) }, 'slack: chat stream failed; falling back to message updates');
      if (this.#streamer.ts === undefined) {
        // The stream never started (a workspace or client without streaming): use a placeholder instead.
        this.#streamFailed = true;
        this.#streamer = undefined;
      } else {
        // Part of the text is missing from the stream; the final reply will replace it whole.
        this.#streamDiverged = true;
      }
    }
  }

  async #updatePreview(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastPreviewAt < PREVIEW_UPDATE_INTERVAL_MS) return;
    this.#lastPreviewAt = now;
    const preview = toMrkdwn(this.#markdown.raw, this.#render);
    const text = preview.length > MAX_SECTION_CHARS ? `${preview.slice(0, MAX_SECTION_CHARS - 1)}…` : preview;
    const { channel, threadTs } = this.#target;
    if (this.#placeholderTs === undefined) {
      await this.#postFirst({ channel, text, ...(threadTs === undefined ? {} : { thread_ts: threadTs }) });
    } else {
      await this.#stopOrphanStream();
      await this.#client.chat.update({ channel, ts: this.#placeholderTs, text });
    }
  }

  /** Send the final reply (nothing for a redelivered event), then clear the thread's status. */
  async finish(reply: Reply | null): Promise<void> {
    try {
      await this.#finish(reply);
    } catch (error) {
      throw new SlackDeliveryError('Could not deliver the reply to Slack', { cause: error });
    }
    await this.#clearStatus();
  }

  async #finish(reply: Reply | null): Promise<void> {
    const { channel, threadTs, userId, kind } = this.#target;
    if (reply === null) return;
    await this.#adopt();
    const messages = renderReply(reply, this.#render);
    const thread = threadTs === undefined ? {} : { thread_ts: threadTs };
    const streamTs = this.#streamer?.ts;

    if (reply.visibility === 'private' && kind === 'channel') {
      // Personal replies in a channel go to the asker alone; anything public shown so far goes.
      await this.#discardPreview();
      for (const message of messages) {
        await this.#client.chat.postEphemeral({ channel, user: userId, ...thread, ...message });
      }
      // The channel sees only that an answer was sent privately (after it was: never a note for an answer that failed).
      if (reply.publicNote !== undefined) await this.#postFirst({ channel, ...thread, text: reply.publicNote }, { last: true });
      return;
    }
    if (this.#streamer !== undefined && streamTs !== undefined) {
      const rest = this.#markdown.end();
      // Kept only when the stream shows exactly what the reply renders to: same text, same conversion, one message.
      const same = !this.#streamDiverged && reply.text === this.#markdown.raw && this.#markdown.shown === toSlackMarkdown(reply.text, this.#render);
      if (same && messages.length === 1 && rest.length <= STREAM_PIECE_CHARS) {
        await this.#streamer.stop({ ...(rest === '' ? {} : { markdown_text: rest }), blocks: extraBlocks(reply, this.#render), ...this.#marker(0) });
        return;
      }
      // The final text differs from what streamed (a fallback after a failed stream, or a long
      // answer split in several messages): close the stream and replace its text.
      await this.#streamer.stop(this.#marker(0));
      await this.#replace(streamTs, messages);
      return;
    }
    if (this.#placeholderTs !== undefined) {
      await this.#stopOrphanStream();
      await this.#replace(this.#placeholderTs, messages);
      return;
    }
    const [first, ...rest] = messages;
    if (first !== undefined) await this.#postFirst({ channel, ...thread, ...first }, { last: true });
    for (const [index, message] of rest.entries()) await this.#client.chat.postMessage({ channel, ...thread, ...message, ...this.#marker(index + 1) });
  }

  /** Metadata marking part `part` of this item's answer, when the item is known. */
  #marker(part: number): { metadata?: ReturnType<typeof replyMarker> } {
    const { itemId } = this.#resume;
    return itemId === undefined ? {} : { metadata: replyMarker(itemId, part) };
  }

  /**
   * The first post for an item: marked as on its way before the call, and carrying the item id in
   * its metadata, so that a crash between Slack taking it and the ts being saved can be repaired.
   * The reply's own post (`last`) saves nothing, before or after: nothing edits it, and the item's
   * next write marks it done. A crash before that leaves the item to a retry, and every retry looks
   * for this post by its metadata (`retried`) before making one: one write less per answered message.
   */
  async #postFirst(args: webApi.ChatPostMessageArguments, options: { last?: boolean } = {}): Promise<void> {
    if (options.last !== true) await this.#onShown?.({ posting: true });
    const posted = await this.#client.chat.postMessage({ ...args, ...this.#marker(0) });
    if (options.last === true) this.#placeholderTs = posted.ts;
    else await this.#shown(posted.ts);
  }

  /**
   * Find what an earlier attempt showed but never learnt the ts of, and make it the placeholder:
   * a post marked with this item, or in a thread, a stream (the bot's unmarked post after the
   * question: every other post of the bot is marked, and a stream is marked only when stopped).
   */
  async #adopt(): Promise<void> {
    if (!this.#mustAdopt) return;
    this.#mustAdopt = false;
    const { channel, threadTs } = this.#target;
    const item = String(this.#resume.itemId);
    const window = { channel, limit: ADOPT_SEARCH_LIMIT, include_all_metadata: true, ...(this.#resume.after === undefined ? {} : { oldest: this.#resume.after }) };
    try {
      const page = threadTs === undefined ? await this.#client.conversations.history(window) : await this.#client.conversations.replies({ ...window, ts: threadTs });
      const messages = page.messages ?? [];
      const marked = messages.find((m) => {
        const payload = m.metadata?.event_payload as Record<string, unknown> | undefined;
        return m.metadata?.event_type === REPLY_MARKER && payload?.['item'] === item && payload['part'] === undefined;
      });
      if (marked?.ts !== undefined) {
        await this.#shown(marked.ts);
        return;
      }
      const own = (m: (typeof messages)[number]) => (this.#bot?.botId !== undefined && m.bot_id === this.#bot.botId) || (this.#bot !== undefined && m.user === this.#bot.userId);
      // Oldest first: the stream was the first thing this attempt showed.
      const stream = threadTs === undefined ? undefined : [...messages].reverse().find((m) => m.ts !== threadTs && m.metadata === undefined && own(m));
      if (stream?.ts !== undefined) {
        this.#orphanStream = true;
        await this.#shown(stream.ts, 'stream');
      }
    } catch (error) {
      // Without the history scope (a channel thread) or on failure, the answer comes as a new message.
      this.#log.warn({ err: toError(error) }, 'slack: could not look for a post an earlier attempt made');
    }
  }

  async #replace(ts: string, messages: SlackMessage[]): Promise<void> {
    const { channel, threadTs } = this.#target;
    const [first, ...rest] = messages;
    if (first !== undefined) await this.#client.chat.update({ channel, ts, ...first, ...this.#marker(0) });
    for (const [index, message] of rest.entries()) {
      await this.#client.chat.postMessage({ channel, ...(threadTs === undefined ? {} : { thread_ts: threadTs }), ...message, ...this.#marker(index + 1) });
    }
  }

  async #shown(ts: string | undefined, as: 'placeholder' | 'stream' = 'placeholder'): Promise<void> {
    this.#placeholderTs = ts;
    if (ts !== undefined) await this.#onShown?.(as === 'stream' ? { streamTs: ts } : { placeholderTs: ts });
  }

  async #stopOrphanStream(): Promise<void> {
    if (!this.#orphanStream || this.#placeholderTs === undefined) return;
    this.#orphanStream = false;
    try {
      await this.#client.chat.stopStream({ channel: this.#target.channel, ts: this.#placeholderTs, ...this.#marker(0) });
    } catch (error) {
      // Slack may have closed it already; the edit that follows is what matters.
      this.#log.warn({ err: toError(error) }, 'slack: could not stop a stream left by an earlier attempt');
    }
  }

  async #clearStatus(): Promise<void> {
    const { channel, threadTs } = this.#target;
    if (!this.#statusShown || threadTs === undefined) return;
    try {
      // Slack clears it when the app replies in the thread; an ephemeral reply or no reply does not.
      await this.#client.assistant.threads.setStatus({ channel_id: channel, thread_ts: threadTs, status: '' });
      this.#statusShown = false;
    } catch (error) {
      this.#log.warn({ err: toError(error) }, 'slack: could not clear the thread status');
    }
  }

  async #discardPreview(): Promise<void> {
    const { channel } = this.#target;
    const streamTs = this.#streamer?.ts;
    if (this.#streamer !== undefined && streamTs !== undefined) {
      await this.#streamer.stop();
      await this.#client.chat.delete({ channel, ts: streamTs });
    }
    if (this.#placeholderTs !== undefined) {
      await this.#stopOrphanStream();
      await this.#client.chat.delete({ channel, ts: this.#placeholderTs });
    }
  }
}

/** A thread title from the question: one line, cut at a word, and no markup that could link or mention. */
export function threadTitle(question: string): string {
  const flat = question.replace(/\s+/g, ' ').trim();
  const chars = Array.from(flat);
  let title = flat;
  if (chars.length > MAX_TITLE_CHARS) {
    const cut = chars.slice(0, MAX_TITLE_CHARS).join('');
    const space = cut.lastIndexOf(' ');
    title = `${(space > MAX_TITLE_CHARS / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
  }
  return breakMarkup(title === '' ? 'Question' : title);
}

import type { webApi } from '@slack/bolt';
import { breakMarkup } from '../../src/engine/user-text.ts';
import { toError } from '../../src/errors.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { Progress, Reply, ReplyHooks } from '../../src/message.ts';
import { assertNever } from '../../src/message.ts';
import type { SlackTarget } from './parse.ts';
import type { SlackMessage } from './render.ts';
import { extraBlocks, MAX_SECTION_CHARS, renderReply, toMrkdwn } from './render.ts';
import { SlackDeliveryError } from './slack-errors.ts';

type WebClient = webApi.WebClient;

/** What is on screen for a message so far, saved so a retry (after a crash too) completes it. */
export interface SlackShown {
  placeholderTs?: string;
  streamTs?: string;
  /** A first post was on its way: if no ts was saved, the process died before Slack's answer arrived. */
  posting?: boolean;
}

/** Where a delivery starts from, and where it reports what it shows. */
export interface DeliveryResume {
  shown?: SlackShown;
  onShown?: (shown: SlackShown) => void;
  /** The inbox item answered: its first post carries it in message metadata, so a retry can find that post again. */
  itemId?: number;
  /** Slack ts of the user's message: a lost first post can only be after it. */
  after?: string;
}

/** Metadata event type that marks the bot's first post for an inbox item. */
const REPLY_MARKER = 'hrbot_reply';

/** The metadata that marks a post as the first one shown for inbox item `itemId` (a placeholder or a notice). */
export function replyMarker(itemId: number): { event_type: string; event_payload: Record<string, string> } {
  return { event_type: REPLY_MARKER, event_payload: { item: String(itemId) } };
}
/** Messages read back when looking for a post whose ts was lost in a crash. */
const ADOPT_SEARCH_LIMIT = 50;
type ChatStreamer = webApi.ChatStreamer;

/** A placeholder message is edited at most this often while an answer streams into it. */
export const PREVIEW_UPDATE_INTERVAL_MS = 1000;
/** Characters of streamed text buffered before a chat.appendStream call (the SDK's own buffer). */
const STREAM_BUFFER_CHARS = 256;

/**
 * Delivers one message's progress and reply. In a thread, where Slack can stream, the status
 * goes through assistant.threads.setStatus and the answer streams with chat.startStream /
 * appendStream / stopStream; elsewhere (a top-level DM) a placeholder is posted and edited,
 * throttled. The final reply always replaces whatever was streamed when the two differ.
 */
export class MessageDelivery {
  readonly #client: WebClient;
  readonly #target: SlackTarget;
  readonly #log: Logger;
  #streamer: ChatStreamer | undefined;
  #streamFailed = false;
  #streamDiverged = false;
  #streamed = '';
  #placeholderTs: string | undefined;
  #lastPreviewAt = 0;
  readonly #onShown: ((shown: SlackShown) => void) | undefined;
  /** The placeholder is a stream an earlier attempt never stopped: stop it before editing it. */
  #orphanStream: boolean;
  readonly #resume: DeliveryResume;
  /** An earlier attempt posted and died before learning the ts: find that post before showing anything. */
  #mustAdopt: boolean;

  constructor(client: WebClient, target: SlackTarget, log: Logger, resume: DeliveryResume = {}) {
    this.#client = client;
    this.#target = target;
    this.#log = log;
    this.#onShown = resume.onShown;
    this.#resume = resume;
    this.#mustAdopt = resume.shown?.posting === true && resume.shown.placeholderTs === undefined && resume.shown.streamTs === undefined && resume.itemId !== undefined;
    // What an earlier attempt left on screen (a notice, a placeholder, a stream cut by a crash) is
    // edited into the answer rather than left behind.
    this.#placeholderTs = resume.shown?.placeholderTs ?? resume.shown?.streamTs;
    this.#orphanStream = resume.shown?.streamTs !== undefined && resume.shown.placeholderTs === undefined;
  }

  /** Hooks for the engine: status and streamed text. */
  get hooks(): ReplyHooks {
    return { onProgress: (progress) => this.#progress(progress) };
  }

  async #progress(progress: Progress): Promise<void> {
    await this.#adopt();
    const { channel, threadTs } = this.#target;
    switch (progress.type) {
      case 'status':
        if (threadTs !== undefined) {
          await this.#client.assistant.threads.setStatus({ channel_id: channel, thread_ts: threadTs, status: progress.text });
        } else if (this.#placeholderTs === undefined) {
          await this.#postFirst({ channel, text: `_${toMrkdwn(progress.text)}_` });
        } else {
          await this.#stopOrphanStream();
          await this.#client.chat.update({ channel, ts: this.#placeholderTs, text: `_${toMrkdwn(progress.text)}_` });
        }
        return;
      case 'delta':
        this.#streamed += progress.text;
        if (this.#streamDiverged) return;
        // A message already on screen (a notice) is edited, not joined by a stream: one message per question.
        if (threadTs !== undefined && !this.#streamFailed && this.#placeholderTs === undefined) {
          await this.#appendToStream(progress.text, threadTs);
          if (!this.#streamFailed) return;
        }
        await this.#updatePreview();
        return;
      default:
        assertNever(progress);
    }
  }

  async #appendToStream(text: string, threadTs: string): Promise<void> {
    this.#streamer ??= this.#client.chatStream({
        channel: this.#target.channel,
        thread_ts: threadTs,
        // Required outside DMs; harmless in them.
        recipient_team_id: this.#target.teamId,
        recipient_user_id: this.#target.userId,
        buffer_size: STREAM_BUFFER_CHARS,
      });
    try {
      const known = this.#streamer.ts;
      // Streamed markdown is shown as Slack parses it; breaking `<`, `]` and `&` keeps a steered answer from linking or mentioning.
      await this.#streamer.append({ markdown_text: breakMarkup(text) });
      if (known === undefined && this.#streamer.ts !== undefined) this.#onShown?.({ streamTs: this.#streamer.ts });
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
    const preview = toMrkdwn(this.#streamed);
    const text = preview.length > MAX_SECTION_CHARS ? `${preview.slice(0, MAX_SECTION_CHARS - 1)}…` : preview;
    const { channel, threadTs } = this.#target;
    if (this.#placeholderTs === undefined) {
      await this.#postFirst({ channel, text, ...(threadTs === undefined ? {} : { thread_ts: threadTs }) });
    } else {
      await this.#stopOrphanStream();
      await this.#client.chat.update({ channel, ts: this.#placeholderTs, text });
    }
  }

  /** Send the final reply (nothing for a redelivered event). */
  async finish(reply: Reply | null): Promise<void> {
    try {
      await this.#finish(reply);
    } catch (error) {
      throw new SlackDeliveryError('Could not deliver the reply to Slack', { cause: error });
    }
  }

  async #finish(reply: Reply | null): Promise<void> {
    const { channel, threadTs, userId, kind } = this.#target;
    if (reply === null) return;
    await this.#adopt();
    const messages = renderReply(reply);
    const thread = threadTs === undefined ? {} : { thread_ts: threadTs };
    const streamTs = this.#streamer?.ts;

    if (reply.visibility === 'private' && kind === 'channel') {
      // Personal replies in a channel go to the asker alone; anything public shown so far goes.
      await this.#discardPreview();
      for (const message of messages) {
        await this.#client.chat.postEphemeral({ channel, user: userId, ...thread, ...message });
      }
      // The channel sees only that an answer was sent privately (after it was: never a note for an answer that failed).
      if (reply.publicNote !== undefined) await this.#postFirst({ channel, ...thread, text: reply.publicNote });
      return;
    }
    if (this.#streamer !== undefined && streamTs !== undefined) {
      if (!this.#streamDiverged && reply.text === this.#streamed && messages.length === 1) {
        await this.#streamer.stop({ blocks: extraBlocks(reply) });
        return;
      }
      // The final text differs from what streamed (a fallback after a failed stream, or a long
      // answer split in several messages): close the stream and replace its text.
      await this.#streamer.stop();
      await this.#replace(streamTs, messages);
      return;
    }
    if (this.#placeholderTs !== undefined) {
      await this.#stopOrphanStream();
      await this.#replace(this.#placeholderTs, messages);
      return;
    }
    const [first, ...rest] = messages;
    if (first !== undefined) await this.#postFirst({ channel, ...thread, ...first });
    for (const message of rest) await this.#client.chat.postMessage({ channel, ...thread, ...message });
  }

  /**
   * The first post for an item: marked as on its way before the call, and carrying the item id in
   * its metadata, so that a crash between Slack taking it and the ts being saved can be repaired.
   */
  async #postFirst(args: webApi.ChatPostMessageArguments): Promise<void> {
    this.#onShown?.({ posting: true });
    const { itemId } = this.#resume;
    const marked = itemId === undefined ? args : { ...args, metadata: replyMarker(itemId) };
    const posted = await this.#client.chat.postMessage(marked);
    this.#shown(posted.ts);
  }

  /** Find the post an earlier attempt made but never learnt the ts of, and make it the placeholder. */
  async #adopt(): Promise<void> {
    if (!this.#mustAdopt) return;
    this.#mustAdopt = false;
    const { channel, threadTs } = this.#target;
    const item = String(this.#resume.itemId);
    const window = { channel, limit: ADOPT_SEARCH_LIMIT, include_all_metadata: true, ...(this.#resume.after === undefined ? {} : { oldest: this.#resume.after }) };
    try {
      const page = threadTs === undefined ? await this.#client.conversations.history(window) : await this.#client.conversations.replies({ ...window, ts: threadTs });
      const found = page.messages?.find((m) => m.metadata?.event_type === REPLY_MARKER && (m.metadata.event_payload as Record<string, unknown> | undefined)?.['item'] === item);
      if (found?.ts !== undefined) this.#shown(found.ts);
    } catch (error) {
      // Without the history scope (a channel thread) or on failure, the answer comes as a new message.
      this.#log.warn({ err: toError(error) }, 'slack: could not look for a post an earlier attempt made');
    }
  }

  async #replace(ts: string, messages: SlackMessage[]): Promise<void> {
    const { channel, threadTs } = this.#target;
    const [first, ...rest] = messages;
    if (first !== undefined) await this.#client.chat.update({ channel, ts, ...first });
    for (const message of rest) {
      await this.#client.chat.postMessage({ channel, ...(threadTs === undefined ? {} : { thread_ts: threadTs }), ...message });
    }
  }

  #shown(ts: string | undefined): void {
    this.#placeholderTs = ts;
    if (ts !== undefined) this.#onShown?.({ placeholderTs: ts });
  }

  async #stopOrphanStream(): Promise<void> {
    if (!this.#orphanStream || this.#placeholderTs === undefined) return;
    this.#orphanStream = false;
    try {
      await this.#client.chat.stopStream({ channel: this.#target.channel, ts: this.#placeholderTs });
    } catch (error) {
      // Slack may have closed it already; the edit that follows is what matters.
      this.#log.warn({ err: toError(error) }, 'slack: could not stop a stream left by an earlier attempt');
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

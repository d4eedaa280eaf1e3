import type { Activity } from 'botbuilder';
import type { Logger } from '../../src/log/logger.ts';
import type { Progress } from '../../src/message.ts';
import { describeError } from './describe-error.ts';
import { teamsMarkdown } from './render-reply.ts';

/** Streaming limits; defaults stated once, here. */
export interface StreamOptions {
  /** Least time between two stream updates, in ms: Teams accepts about one a second. Default 1000. */
  minIntervalMs?: number;
  /** Clock, injectable so tests need not wait real seconds. */
  now?: () => number;
  /** Longest streamed text; past it updates stop and only the final message is sent. Default 20 000. */
  maxChars?: number;
}

/** Entities and channel data that make a message the final message of stream `streamId` (closing it). */
export function finalStreamFields(streamId: string): Pick<Activity, 'entities' | 'channelData'> {
  const info = { streamId, streamType: 'final' };
  return { entities: [{ type: 'streaminfo', ...info }], channelData: info };
}

const DEFAULTS = { minIntervalMs: 1000, maxChars: 20_000 } as const;

// An unfinished `[…` at the end: a link whose `(url)` has not arrived, or a marker not yet known to be one.
const UNFINISHED_BRACKET = /\[[^\]\n]*(?:\](?:\([^)\s]*)?)?$/;
// A finished citation marker ("[2]", "[1, 3]"): its number is the prompt's, renumbered only in the final message.
const CITATION_MARKER = /\s*\[\d+(?:\s*,\s*\d+)*\](?!\()/g;

/**
 * The partial answer as a stream update shows it. Teams refuses an update that does not start with
 * the text already streamed, so nothing may change once shown: an unfinished `[…` (a link or a
 * marker) is held back until it is complete, since its rendering changes when it closes, and so
 * are trailing spaces; citation markers are left out, since the final message renumbers them (and
 * adds the citations).
 */
export function streamableText(text: string): string {
  // Trailing spaces and a trailing backslash (an escape still open) wait too: what follows may remove them.
  // Markers go from code spans too: whether text is code is only known once its closing backtick
  // arrives, and the final message shows the code as written.
  return teamsMarkdown(text.replace(UNFINISHED_BRACKET, '').replace(/\\?\s*$/, '').replace(CITATION_MARKER, ''));
}
/** Teams rejects informative updates over 1000 characters. */
const MAX_INFORMATIVE_CHARS = 1000;

type Send = (activity: Partial<Activity>) => Promise<{ id?: string } | undefined>;

/**
 * Did Teams refuse a stream request because the user pressed Stop? Teams answers 403 with code
 * `ContentStreamNotAllowed` and the message "Content stream was cancelled by user." (the docs spell
 * it "canceled"). The same code with another message means the stream hit its two-minute limit or
 * a size limit: those are not a stop, and the answer still replaces the stream.
 */
export function isStreamStopped(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { statusCode, code, message } = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  return statusCode === 403 && code === 'ContentStreamNotAllowed' && typeof message === 'string' && /cancell?ed by (the )?user/i.test(message);
}

/**
 * Teams streaming for one answer in a personal chat: an informative update ("Looking that up…"),
 * then typing activities carrying the text so far, at least `minIntervalMs` apart, then the final
 * message, which replaces the streamed text. Every update carries a `streaminfo` entity; the first
 * response's id becomes the stream id. A failed update stops streaming but never the answer,
 * except when Teams says the user pressed Stop: then `onStopped` is told, and the caller sends nothing more.
 */
export class TeamsStream {
  readonly #send: Send;
  readonly #log: Logger;
  readonly #minIntervalMs: number;
  readonly #maxChars: number;
  readonly #now: () => number;
  readonly #onStarted: ((streamId: string) => void) | undefined;
  readonly #onStopped: (() => void) | undefined;
  #streamId: string | undefined;
  #sequence = 0;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #text = '';
  /** The text the stream shows now; each update must extend it (Teams refuses one that drops any). */
  #shown = '';
  #stopped = false;
  #stoppedByUser = false;

  /**
   * `onStarted` learns the stream id (the streamed message's id) as soon as Teams gives it;
   * `onStopped` learns that the user pressed Stop, after which nothing more may be sent for this answer.
   */
  constructor(send: Send, log: Logger, options: StreamOptions = {}, onStarted?: (streamId: string) => void, onStopped?: () => void) {
    this.#send = send;
    this.#log = log;
    this.#onStarted = onStarted;
    this.#onStopped = onStopped;
    this.#minIntervalMs = options.minIntervalMs ?? DEFAULTS.minIntervalMs;
    this.#maxChars = options.maxChars ?? DEFAULTS.maxChars;
    this.#now = options.now ?? Date.now;
    if (!Number.isFinite(this.#minIntervalMs) || this.#minIntervalMs < 0) {
      throw new RangeError(`Expected \`minIntervalMs\` to be a finite number >= 0, got ${this.#minIntervalMs}`);
    }
  }

  /** Did the user press Stop (Teams refused an update as cancelled)? */
  get stoppedByUser(): boolean {
    return this.#stoppedByUser;
  }

  /** Was a stream opened (so the final message must close it)? */
  get started(): boolean {
    return this.#streamId !== undefined;
  }

  /** Show one piece of progress. Never throws. */
  async progress(progress: Progress): Promise<void> {
    if (this.#stopped) return;
    switch (progress.type) {
      case 'status':
        // One informative update, and only before any text: Teams shows it as the progress bar.
        if (this.#sequence === 0) await this.#update('informative', progress.text.slice(0, MAX_INFORMATIVE_CHARS));
        return;
      case 'delta':
        this.#text += progress.text;
        if (this.#text.length > this.#maxChars) {
          this.#stopped = true;
          return;
        }
        // Throttled, not queued: a skipped update's text goes out with the next one or the final message.
        if (this.#now() - this.#lastSentAt >= this.#minIntervalMs) {
          const shown = streamableText(this.#text);
          // Nothing new to show yet (only an unfinished link or marker arrived): wait for more.
          if (shown !== this.#shown) {
            this.#shown = shown;
            await this.#update('streaming', shown);
          }
        }
        return;
    }
  }

  /** Entities and channel data that make a message the stream's final message, if a stream is open. */
  finalFields(): Pick<Activity, 'entities' | 'channelData'> | undefined {
    return this.#streamId === undefined ? undefined : finalStreamFields(this.#streamId);
  }

  /** The stream's id (the streamed message's activity id), once Teams gave one. */
  get streamId(): string | undefined {
    return this.#streamId;
  }

  async #update(streamType: 'informative' | 'streaming', text: string): Promise<void> {
    this.#sequence += 1;
    const info = { streamType, streamSequence: this.#sequence, ...(this.#streamId === undefined ? {} : { streamId: this.#streamId }) };
    this.#lastSentAt = this.#now();
    try {
      // channelData repeats the entity for Teams clients that still read the preview-era field.
      const response = await this.#send({ type: 'typing', text, entities: [{ type: 'streaminfo', ...info }], channelData: info });
      if (this.#streamId === undefined && response?.id !== undefined) {
        this.#streamId = response.id;
        this.#onStarted?.(response.id);
      }
      if (this.#streamId === undefined) this.#stopped = true;
    } catch (error) {
      this.#stopped = true;
      if (isStreamStopped(error)) {
        this.#stoppedByUser = true;
        this.#log.info({ sequence: this.#sequence }, 'teams stream stopped by the user; nothing more is sent for this answer');
        this.#onStopped?.();
        return;
      }
      this.#log.warn({ err: describeError(error), streamType, sequence: this.#sequence }, 'teams stream update failed; the final message still follows');
    }
  }
}

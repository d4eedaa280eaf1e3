import PQueue from 'p-queue';
import { toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { DEFAULT_BACKLOG_NOTICE } from './backlog-notice.ts';
import type { InboxStore } from './inbox-store.ts';
import type { ShowOrder } from './show-order.ts';

/** Bounds of {@link NoticeQueue}; defaults stated once, in DEFAULT_NOTICE_QUEUE. */
export interface NoticeQueueOptions {
  /** Notices on their way at once. Also the most a crash can leave on screen unreplaced. Default 4. */
  concurrency: number;
  /** Notices waiting for a slot at most; past it, a message is answered without one. Default 1,000. */
  maxQueued: number;
  /** What an item records while its notice is on its way (what the platform's answer looks for after a crash). Default {@link NOTICE_SENDING}. */
  sendingMark: string;
  /**
   * How long, in ms, an item is held from the moment its notice starts on its way: no worker takes
   * it meanwhile, so the answer cannot start beside a notice it does not know of. Default 5,000
   * (the gate's hold, {@link DEFAULT_BACKLOG_NOTICE}).
   */
  holdMs: number;
}

/** What an item records while its notice is on its way, by default: the answer knows a notice may be on screen. */
export const NOTICE_SENDING = JSON.stringify({ noticeSending: true });

export const DEFAULT_NOTICE_QUEUE: NoticeQueueOptions = { concurrency: 4, maxQueued: 1_000, sendingMark: NOTICE_SENDING, holdMs: DEFAULT_BACKLOG_NOTICE.noticeHoldMs };

/**
 * Sends "questions ahead of yours" notices a few at a time. In a burst nearly every message gets
 * one, and each is an outbound call: sent all at once they would fill the event loop that acks
 * share. On a platform that cannot find a message again (Teams: no idempotency key, no listing of
 * a chat), a notice it accepted whose id died with the process stays on screen beside the answer;
 * only the notices on their way at that moment can end so, and `concurrency` keeps them few.
 * A notice is sent only while its item still waits for it (held, untouched): one whose hold ran
 * out and was taken by a worker is dropped, so a notice never lands after its answer.
 */
export class NoticeQueue {
  readonly #store: InboxStore;
  readonly #log: Logger;
  readonly #options: NoticeQueueOptions;
  readonly #queue: PQueue;
  readonly #order: ShowOrder | undefined;

  /**
   * `shared`, when given, is the queue the notices wait in (its own concurrency applies): on Teams it
   * also carries the first update of each answer's stream, another message that cannot be found again.
   * `order`, when given, keeps each lane's notices in lane order, below the answer being worked on.
   */
  constructor(store: InboxStore, log: Logger, options: Partial<NoticeQueueOptions> = {}, shared?: PQueue, order?: ShowOrder) {
    this.#store = store;
    this.#order = order;
    this.#log = log;
    this.#options = { ...DEFAULT_NOTICE_QUEUE, ...options };
    for (const [name, value] of Object.entries({ concurrency: this.#options.concurrency, maxQueued: this.#options.maxQueued, holdMs: this.#options.holdMs })) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected notice queue option \`${name}\` to be an integer >= 1, got ${value}`);
    }
    this.#queue = shared ?? new PQueue({ concurrency: this.#options.concurrency });
  }

  /** Notices waiting or on their way. */
  get size(): number {
    return this.#queue.size + this.#queue.pending;
  }

  /**
   * Send item `id`'s notice with `send` (resolving with the progress to record, e.g. the notice's
   * id) when a slot is free, then let the item be taken (`released`). With a `lane` (and the queue's
   * `order`), after the lane's earlier notices. Never rejects.
   */
  async send(id: number, send: () => Promise<string | undefined>, released: () => void, lane?: string): Promise<void> {
    if (this.#queue.size >= this.#options.maxQueued) {
      this.#log.warn({ queued: this.#queue.size }, 'inbox: too many notices waiting; this message is answered without one');
      await this.#release(id, undefined, released);
      return;
    }
    const queued = (): Promise<void> => this.#queue.add(() => this.#sendNow(id, send, released));
    await (lane === undefined || this.#order === undefined ? queued() : this.#order.inTurn(lane, queued));
  }

  async #sendNow(id: number, send: () => Promise<string | undefined>, released: () => void): Promise<void> {
    // Only while the item still waits for its notice: marked (and held) first, so a crash from here on is known.
    try {
      if (!(await this.#store.markProgress(id, this.#options.sendingMark, this.#options.holdMs))) return;
    } catch (error) {
      // The store is closing (shutdown) or refused the write: no notice; the item's hold runs out by itself.
      this.#log.warn({ err: toError(error) }, 'inbox: could not mark a notice as on its way; none is sent');
      return;
    }
    let progress: string | undefined;
    try {
      progress = await send();
    } catch (error) {
      // It may or may not be on screen: the mark stays, and the answer comes as a new message.
      this.#log.warn({ err: toError(error) }, 'inbox: could not send a notice');
    }
    await this.#release(id, progress, released);
  }

  /** Wait (at most `timeoutMs`) for the notices on their way. */
  async drain(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const idle = this.#queue.onIdle().then(() => true as const);
    try {
      return await Promise.race([idle, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #release(id: number, progress: string | undefined, released: () => void): Promise<void> {
    try {
      // Only over the mark, never over what a worker recorded: one that took the item (the send outlasted
      // the hold) answers in a message of its own, and this notice stays.
      if (progress !== undefined && !(await this.#store.replaceProgress(id, this.#options.sendingMark, progress))) {
        this.#log.warn('inbox: a notice landed after its message was taken up; it stays on screen above the answer');
      }
      await this.#store.makeDue(id);
      released();
    } catch (error) {
      // The hold expires by itself; the answer then comes as a new message.
      this.#log.error({ err: toError(error) }, 'inbox: could not release a message after its notice');
    }
  }
}

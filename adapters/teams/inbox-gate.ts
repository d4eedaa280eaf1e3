import type PQueue from 'p-queue';
import { toError } from '../../src/errors.ts';
import type { AnswerPace, BacklogNoticeOptions } from '../../src/inbox/backlog-notice.ts';
import { aheadNoticeText, DEFAULT_BACKLOG_NOTICE, INBOX_FULL_TEXT, noticeRule } from '../../src/inbox/backlog-notice.ts';
import { InboxBatcher } from '../../src/inbox/inbox-batcher.ts';
import { NoticeQueue } from '../../src/inbox/notice-queue.ts';
import type { ShowOrder } from '../../src/inbox/show-order.ts';
import type { EnqueueResult, InboxStore } from '../../src/inbox/inbox-store.ts';
import { messageItem } from '../../src/inbox/message-item.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { IncomingMessage } from '../../src/message.ts';
import type { Metrics } from '../../src/metrics.ts';
import type { TeamsReplyTarget } from './continue-turn.ts';
import { describeError } from './describe-error.ts';

/** One Teams message as stored in the inbox (JSON): what the worker needs to answer it later. */
export interface TeamsWork extends TeamsReplyTarget {
  /** The normalized message, without the platform payload. */
  message: IncomingMessage;
}

/** Sends one plain message to where the answer will go; resolves with its activity id, to be replaced by the answer. */
export type TeamsNoticeSender = (target: TeamsReplyTarget, text: string) => Promise<string | undefined>;

/** Work to do once the HTTP response is written (a notice, a refusal in words). Never rejects. */
export type AfterAck = () => Promise<void>;

/**
 * The door between Teams and the durable inbox, for the messages the bot answers. Each is written
 * to the inbox inside the verified turn, so it is stored before Teams gets its 200; the answer
 * comes later from the inbox worker. A redelivery is a no-op. No message is refused because the
 * bot is busy: a long wait gets a notice the answer later replaces, a full inbox a reply that says so.
 */
export class TeamsInboxGate {
  readonly #send: TeamsNoticeSender;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #onStored: () => void;
  readonly #batcher: InboxBatcher;
  readonly #notices: NoticeQueue;

  constructor(
    deps: {
      inbox: InboxStore;
      send: TeamsNoticeSender;
      log: Logger;
      metrics: Metrics;
      onStored: () => void;
      /** How fast answers go out: a notice is shown only for a wait worth one (see BacklogNoticeOptions.noticeWaitMs). */
      pace?: AnswerPace;
      /** Sends Teams cannot find again after a crash (notices, stream starts) wait here, a few at a time. */
      firstSends?: PQueue;
      /** Keeps each chat's notices in the order of its questions, below the answer being worked on. */
      order?: ShowOrder;
    },
    options: Partial<BacklogNoticeOptions> = {},
  ) {
    this.#send = deps.send;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    this.#onStored = deps.onStored;
    // A Teams chat shows replies one below the other: a notice must not land above an earlier question's reply.
    const notices = { ...DEFAULT_BACKLOG_NOTICE, ...options };
    this.#batcher = new InboxBatcher(deps.inbox, () => ({ ...noticeRule(notices, deps.pace), inOrder: true }));
    // Teams cannot find a notice again after a crash: few on their way at once, few left if one comes.
    this.#notices = new NoticeQueue(deps.inbox, deps.log, { holdMs: notices.noticeHoldMs }, deps.firstSends, deps.order);
  }

  /**
   * Store one message, before the HTTP response (with the others of this turn, in one commit).
   * `sentAt` is Teams' own timestamp of it, which orders its conversation and starts its inbox key
   * (now, and a key without a time, when the activity has none). Resolves with what to tell the user
   * once the response is out.
   */
  async accept(work: TeamsWork, sentAt: number | undefined): Promise<AfterAck | undefined> {
    let result: EnqueueResult;
    const item = { ...messageItem(work.message, sentAt ?? Date.now(), JSON.stringify(work)), ...(sentAt === undefined ? {} : { eventAt: sentAt }) };
    try {
      // An item that gets a notice is stored held until the notice is shown, so the answer cannot
      // overtake it and post a second message.
      result = await this.#batcher.add(item);
    } catch (error) {
      // The store refused the write (disk full, locked past the busy timeout). Teams does not
      // redeliver, so the user is told in words that nothing was kept.
      this.#log.error({ err: toError(error) }, 'teams: could not store a message; the user is asked to send it again');
      this.#count('error');
      return () => this.#refuse(work);
    }
    this.#count(result.status);
    switch (result.status) {
      case 'duplicate':
        this.#log.info({ platform: 'teams' }, 'redelivered teams activity ignored');
        return undefined;
      case 'full':
        this.#log.warn({ platform: 'teams', reason: result.reason }, 'inbox full: message refused with a reply');
        return () => this.#refuse(work);
      case 'accepted': {
        this.#onStored();
        if (!result.notice) return undefined;
        // The lane's earlier messages still waiting get their notices first, in order, each to its own question.
        // Of the inbox's waiting items, those of this lane after an earlier one are not ahead of it.
        const notices = [
          ...result.earlier.map(({ id, ahead, payload }) => ({ id, ahead, pending: Math.max(0, result.pending - (result.ahead - ahead)), target: JSON.parse(payload) as TeamsWork })),
          { id: result.id, ahead: result.ahead, pending: result.pending, target: work },
        ];
        return async () => {
          await Promise.all(notices.map(({ id, ahead, pending, target }) => this.#noticeThenRelease(item.laneKey, id, target, aheadNoticeText(ahead, pending))));
        };
      }
    }
  }

  async #noticeThenRelease(lane: string, id: number, target: TeamsReplyTarget, text: string): Promise<void> {
    await this.#notices.send(
      id,
      async () => {
        const noticeId = await this.#send(target, text);
        return noticeId === undefined ? undefined : JSON.stringify({ noticeId });
      },
      this.#onStored,
      lane,
    );
  }

  async #refuse(work: TeamsWork): Promise<void> {
    await this.#tell(work, INBOX_FULL_TEXT);
  }

  async #tell(work: TeamsWork, text: string): Promise<string | undefined> {
    try {
      return await this.#send(work, text);
    } catch (error) {
      this.#log.warn({ err: describeError(error) }, 'teams: could not send a notice');
      return undefined;
    }
  }

  #count(outcome: EnqueueResult['status'] | 'error'): void {
    this.#metrics.increment('hrbot_inbox_events_total', 'Verified platform events, by outcome', { platform: 'teams', outcome });
  }
}


import type { ReceiverEvent } from '@slack/bolt';
import { toError } from '../../src/errors.ts';
import { ownerKey } from '../../src/engine/ownership.ts';
import type { AnswerPace, BacklogNoticeOptions } from '../../src/inbox/backlog-notice.ts';
import { aheadNoticeText, DEFAULT_BACKLOG_NOTICE, INBOX_FULL_TEXT, noticeRule } from '../../src/inbox/backlog-notice.ts';
import { InboxBatcher } from '../../src/inbox/inbox-batcher.ts';
import { NoticeQueue } from '../../src/inbox/notice-queue.ts';
import type { EnqueueResult, InboxStore, NewInboxItem } from '../../src/inbox/inbox-store.ts';
import { messageItem, storableMessage } from '../../src/inbox/message-item.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { IncomingMessage, UserAction } from '../../src/message.ts';
import type { Metrics } from '../../src/metrics.ts';
import type { BotIdentity, PromptsTarget, SlackBlockActionBody, SlackCommandBody, SlackMessageEvent, SlackTarget } from './parse.ts';
import { storedWork } from './stored-work.ts';
import {
  FEEDBACK_BUTTONS,
  FEEDBACK_DOWN,
  FEEDBACK_UP,
  FORGET,
  parseCommand,
  parseFeedbackAction,
  parseForgetAction,
  parseMessageEvent,
  parsePromptsEvent,
} from './parse.ts';

/** Notices posted at once: Slack finds a notice again after a crash, so this only paces the load. */
const SLACK_NOTICES_AT_ONCE = 8;

/** One unit of Slack work as stored in the inbox (JSON): what the worker needs to answer it later. */
export type SlackWork =
  | { kind: 'message'; message: IncomingMessage; target: SlackTarget; sentAt: number }
  | { kind: 'command'; message: IncomingMessage; target: SlackTarget; responseUrl: string }
  | { kind: 'action'; action: UserAction; responseUrl: string }
  | { kind: 'prompts'; target: PromptsTarget; eventId: string };

/** Something a Slack receiver hands verified events to (Bolt's App has the same method). */
export interface SlackEventSink {
  processEvent(event: ReceiverEvent): Promise<void>;
}

/** Where the gate tells a user at once that their message waits, or could not be taken. */
export interface SlackNotices {
  /** Post a notice where the answer will go; resolves with its message ts, to be replaced by the answer. */
  post(work: SlackWork, text: string, itemId?: number): Promise<string | undefined>;
}

/**
 * The door between Slack and the durable inbox. Each verified event Slack sends is classified:
 * what the bot answers (a DM, a mention, `/hr`, its buttons) is written to the inbox and only then
 * acknowledged; everything else is acknowledged and dropped. Slack's ack deadline never waits on
 * an answer, and no verified message is refused because the bot is busy: a long wait gets a
 * notice that the answer later replaces, a full inbox a reply that says so.
 */
export class SlackInboxGate implements SlackEventSink {
  readonly #bot: BotIdentity;
  readonly #notices: SlackNotices;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #onStored: () => void;
  readonly #batcher: InboxBatcher;
  readonly #noticeQueue: NoticeQueue;
  readonly #extraWork: ((body: Record<string, unknown>) => SlackWork | undefined) | undefined;

  constructor(
    deps: {
      inbox: InboxStore;
      bot: BotIdentity;
      notices: SlackNotices;
      log: Logger;
      metrics: Metrics;
      onStored: () => void;
      /** How fast answers go out: a notice is shown only for a wait worth one (see BacklogNoticeOptions.noticeWaitMs). */
      pace?: AnswerPace;
      /** Other payloads that become work (the message shortcut), asked about what the gate does not take itself. */
      extraWork?: (body: Record<string, unknown>) => SlackWork | undefined;
    },
    options: Partial<BacklogNoticeOptions> = {},
  ) {
    this.#extraWork = deps.extraWork;
    this.#bot = deps.bot;
    this.#notices = deps.notices;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    this.#onStored = deps.onStored;
    const notices = { ...DEFAULT_BACKLOG_NOTICE, ...options };
    this.#batcher = new InboxBatcher(deps.inbox, () => noticeRule(notices, deps.pace));
    // On its way, a notice is marked `posting`: if the process dies before its ts is saved, the answer
    // looks for it by its metadata (see delivery.ts) and edits it.
    this.#noticeQueue = new NoticeQueue(deps.inbox, deps.log, { concurrency: SLACK_NOTICES_AT_ONCE, sendingMark: JSON.stringify({ posting: true }), holdMs: notices.noticeHoldMs });
  }

  async processEvent(event: ReceiverEvent): Promise<void> {
    const work = this.#classify(event.body);
    if (work === undefined) {
      await event.ack();
      return;
    }
    let result: EnqueueResult;
    try {
      // Stored with the other events of this turn (one commit); an item that gets a notice is stored
      // held until the notice is shown, so the answer cannot overtake it and post a second message.
      result = await this.#batcher.add({ ...itemOf(work), ...keyTimesOf(event.body) });
    } catch (error) {
      // The store refused the write (disk full, locked past the busy timeout): not acknowledging lets
      // Slack deliver it again, the one case where its retry is what we want.
      this.#log.error({ err: toError(error) }, 'slack: could not store an event; Slack will redeliver it');
      throw error;
    }
    await event.ack();
    this.#metrics.increment('hrbot_inbox_events_total', 'Verified platform events, by outcome', { platform: 'slack', outcome: result.status });
    switch (result.status) {
      case 'duplicate':
        this.#log.info({ platform: 'slack', kind: work.kind }, 'duplicate event ignored');
        return;
      case 'full':
        this.#log.warn({ platform: 'slack', reason: result.reason }, 'inbox full: message refused with a reply');
        void this.#notify(work, INBOX_FULL_TEXT);
        return;
      case 'accepted':
        if (result.notice) void this.#noticeThenRelease(work, result.id, aheadNoticeText(result.ahead, result.pending));
        this.#onStored();
        return;
    }
  }

  #classify(body: Record<string, unknown>): SlackWork | undefined {
    if (body.type === 'event_callback') {
      const event = body.event as SlackMessageEvent | undefined;
      if (event !== undefined && PROMPT_EVENTS.has(event.type) && typeof body.event_id === 'string') {
        const target = parsePromptsEvent(body, event);
        return target === undefined ? undefined : { kind: 'prompts', target, eventId: body.event_id };
      }
      if (event === undefined || (event.type !== 'message' && event.type !== 'app_mention')) return undefined;
      const parsed = parseMessageEvent(body, event, this.#bot);
      if ('skip' in parsed) {
        this.#log.debug({ reason: parsed.skip, type: event.type }, 'slack: event ignored');
        return undefined;
      }
      // Slack's own timestamp of the message orders a conversation's messages, whatever order they arrive in.
      const sentAt = Number(event.ts) * 1000;
      return { kind: 'message', message: storableMessage(parsed.message), target: parsed.target, sentAt: Number.isFinite(sentAt) ? sentAt : Date.now() };
    }
    if (typeof body.command === 'string' && typeof body.response_url === 'string') {
      const parsed = parseCommand(body as unknown as SlackCommandBody);
      if ('skip' in parsed) {
        this.#log.warn({ reason: parsed.skip }, 'slack: command ignored');
        return undefined;
      }
      return { kind: 'command', message: storableMessage(parsed.message), target: parsed.target, responseUrl: body.response_url };
    }
    if (body.type === 'block_actions' && typeof body.response_url === 'string') {
      const action = (body.actions as Array<{ action_id: string; value?: string; action_ts?: string }> | undefined)?.[0];
      if (action === undefined || ![FEEDBACK_BUTTONS, FEEDBACK_UP, FEEDBACK_DOWN, FORGET].includes(action.action_id)) return undefined;
      const actionBody = body as unknown as SlackBlockActionBody;
      const userAction = action.action_id === FORGET ? parseForgetAction(actionBody, action) : parseFeedbackAction(actionBody, action);
      if (userAction === undefined) {
        this.#log.warn({ actionId: action.action_id }, 'slack: malformed action ignored');
        return undefined;
      }
      return { kind: 'action', action: userAction, responseUrl: body.response_url };
    }
    return this.#extraWork?.(body);
  }

  async #noticeThenRelease(work: SlackWork, id: number, text: string): Promise<void> {
    await this.#noticeQueue.send(
      id,
      async () => {
        const ts = await this.#notify(work, text, id);
        return ts === undefined ? undefined : JSON.stringify({ placeholderTs: ts });
      },
      this.#onStored,
    );
  }

  async #notify(work: SlackWork, text: string, itemId?: number): Promise<string | undefined> {
    try {
      return await this.#notices.post(work, text, itemId);
    } catch (error) {
      this.#log.warn({ err: toError(error) }, 'slack: could not post a notice');
      return undefined;
    }
  }
}

/** Events that ask for suggested prompts: the Messages tab opened (agent view), an assistant thread started (assistant view). */
const PROMPT_EVENTS: ReadonlySet<string> = new Set(['app_home_opened', 'assistant_thread_started']);

/**
 * The times a Slack event's inbox key starts with (see NewInboxItem.eventAt): the event's own ts (a
 * message's, in µs), else the envelope's event_time (whole seconds), both the same in a retry. Keys
 * started with the event_time before they had the ts: a retry of an event stored then is known too.
 */
function keyTimesOf(body: Record<string, unknown>): Pick<NewInboxItem, 'eventAt' | 'alsoKeyedAt'> {
  if (body.type !== 'event_callback') return {};
  const envelope = typeof body.event_time === 'number' && Number.isFinite(body.event_time) ? body.event_time * 1000 : undefined;
  const event = body.event as { ts?: unknown; event_ts?: unknown } | undefined;
  const ts = typeof event?.ts === 'string' ? event.ts : event?.event_ts;
  const own = typeof ts === 'string' ? Number(ts) * 1000 : Number.NaN;
  if (!Number.isFinite(own)) return envelope === undefined ? {} : { eventAt: envelope };
  return envelope === undefined ? { eventAt: own } : { eventAt: own, alsoKeyedAt: envelope };
}

function itemOf(work: SlackWork): NewInboxItem {
  if (work.kind === 'prompts') {
    const owner = ownerKey({ platform: 'slack', tenantId: work.target.tenantId, userId: work.target.userId });
    // Suggested prompts answer no question: never held for a backlog notice.
    return { eventKey: `slack:${work.eventId}`, platform: 'slack', laneKey: `prompts:${owner}`, ownerKey: owner, order: Date.now(), payload: JSON.stringify(work), noNotice: true };
  }
  if (work.kind === 'action') {
    const owner = ownerKey(work.action);
    return { eventKey: `slack:${work.action.eventId}`, platform: 'slack', laneKey: `action:${owner}`, ownerKey: owner, order: Date.now(), payload: JSON.stringify(work) };
  }
  // Each DM has its own thread (agent messaging), but a user's DMs still share one lane, as before:
  // answered in order, one at a time, with "questions ahead of yours" when they pile up.
  const { threadId: _thread, ...unthreaded } = work.message;
  const lane = work.message.conversationKind === 'dm' ? unthreaded : work.message;
  return messageItem(lane, work.kind === 'message' ? work.sentAt : Date.now(), storedWork(work));
}

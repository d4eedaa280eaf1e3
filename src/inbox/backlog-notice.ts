import type { NoticeRule } from './inbox-store.ts';

/** When a message that waits gets an immediate "N questions ahead of yours" notice; defaults stated once, below. */
export interface BacklogNoticeOptions {
  /** Open items already in the conversation's lane before a notice is shown. Default 3. */
  laneNoticeAhead: number;
  /** Items waiting in the whole inbox before every new one gets a notice. Default 200. */
  inboxNoticePending: number;
  /** How long an item is held back while its notice is sent, in ms (the hold expires by itself if the notice fails). Default 5000. */
  noticeHoldMs: number;
  /**
   * Least wait worth a notice, in ms, at the pace answers go out now (see {@link AnswerPace}): while
   * answers take milliseconds, 3 questions ahead is a wait nobody sees, and a notice that the answer
   * replaces at once is only flicker and one more call. 0 shows one at the counts above, whatever
   * the pace. Default 5000.
   */
  noticeWaitMs: number;
}

export const DEFAULT_BACKLOG_NOTICE: BacklogNoticeOptions = { laneNoticeAhead: 3, inboxNoticePending: 200, noticeHoldMs: 5_000, noticeWaitMs: 5_000 };

/** How fast this process answers now: what turns a count of questions ahead into a wait. */
export interface AnswerPace {
  /** Typical time to answer one item now, in ms; undefined until one was answered. */
  itemMs(): number | undefined;
  /** Items answered at once. */
  parallel(): number;
}

/** What every platform replies when the inbox is at its bound: nothing was kept, send it again. */
export const INBOX_FULL_TEXT =
  "I'm overloaded right now and couldn't take this message. Nothing of it was kept. Please send it again in a few minutes.";

/**
 * The options as the inbox applies them when it stores an item (see {@link NoticeRule}). With a
 * pace, the counts rise to what would take `noticeWaitMs` to answer: a lane answers its items one
 * after the other, the inbox `parallel` at once. Never below the configured counts; before the pace
 * is known, exactly them.
 */
export function noticeRule(options: BacklogNoticeOptions = DEFAULT_BACKLOG_NOTICE, pace?: AnswerPace): NoticeRule {
  const rule = { laneAhead: options.laneNoticeAhead, inboxPending: options.inboxNoticePending, holdMs: options.noticeHoldMs };
  const itemMs = pace?.itemMs();
  if (pace === undefined || itemMs === undefined || !(itemMs > 0) || options.noticeWaitMs <= 0) return rule;
  const items = options.noticeWaitMs / itemMs;
  return {
    ...rule,
    laneAhead: Math.max(rule.laneAhead, Math.ceil(items)),
    inboxPending: Math.max(rule.inboxPending, Math.ceil(items * Math.max(1, pace.parallel()))),
  };
}

/**
 * The notice for a message stored with `ahead` items before it in its conversation and `pending`
 * in the whole inbox: with the whole inbox backed up, the lane alone understates the wait.
 */
export function aheadNoticeText(ahead: number, pending: number): string {
  const count = Math.max(ahead, pending);
  return `I'm answering ${count} question${count === 1 ? '' : 's'} ahead of yours. I'll reply right here as soon as I get to it.`;
}

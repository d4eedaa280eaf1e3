import type { NoticeRule } from './inbox-store.ts';

/** When a message that waits gets an immediate "N questions ahead of yours" notice; defaults stated once, below. */
export interface BacklogNoticeOptions {
  /** Open items already in the conversation's lane before a notice is shown. Default 3. */
  laneNoticeAhead: number;
  /** Items waiting in the whole inbox before every new one gets a notice. Default 200. */
  inboxNoticePending: number;
  /** How long an item is held back while its notice is sent, in ms (the hold expires by itself if the notice fails). Default 5000. */
  noticeHoldMs: number;
}

export const DEFAULT_BACKLOG_NOTICE: BacklogNoticeOptions = { laneNoticeAhead: 3, inboxNoticePending: 200, noticeHoldMs: 5_000 };

/** What every platform replies when the inbox is at its bound: nothing was kept, send it again. */
export const INBOX_FULL_TEXT =
  "I'm overloaded right now and couldn't take this message. Nothing of it was kept. Please send it again in a few minutes.";

/** The options as the inbox applies them when it stores an item (see {@link NoticeRule}). */
export function noticeRule(options: BacklogNoticeOptions = DEFAULT_BACKLOG_NOTICE): NoticeRule {
  return { laneAhead: options.laneNoticeAhead, inboxPending: options.inboxNoticePending, holdMs: options.noticeHoldMs };
}

/**
 * The notice for a message stored with `ahead` items before it in its conversation and `pending`
 * in the whole inbox: with the whole inbox backed up, the lane alone understates the wait.
 */
export function aheadNoticeText(ahead: number, pending: number): string {
  const count = Math.max(ahead, pending);
  return `I'm answering ${count} question${count === 1 ? '' : 's'} ahead of yours. I'll reply right here as soon as I get to it.`;
}

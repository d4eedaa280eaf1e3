import type { InboxStore } from './inbox-store.ts';

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

/** A notice to show for one message, decided before it is stored. */
export interface BacklogNotice {
  /** Pass as `holdMs` on enqueue: the answer must not overtake the notice it is to replace. */
  holdMs: number;
  /** The text, given the item's place in its lane once stored. */
  text(ahead: number): string;
}

/** What every platform replies when the inbox is at its bound: nothing was kept, send it again. */
export const INBOX_FULL_TEXT =
  "I'm overloaded right now and couldn't take this message. Nothing of it was kept. Please send it again in a few minutes.";

/**
 * Whether a message about to be stored in `laneKey` waits long enough to be told so at once:
 * its conversation already has `laneNoticeAhead` open items, or the inbox `inboxNoticePending`.
 * Undefined when it is answered soon enough without one.
 */
export function backlogNotice(store: InboxStore, laneKey: string, options: BacklogNoticeOptions = DEFAULT_BACKLOG_NOTICE): BacklogNotice | undefined {
  const pending = store.stats().pending;
  if (pending < options.inboxNoticePending && store.laneOpen(laneKey) < options.laneNoticeAhead) return undefined;
  return {
    holdMs: options.noticeHoldMs,
    text(ahead) {
      // With the whole inbox backed up, the lane alone understates the wait.
      const count = Math.max(ahead, pending);
      return `I'm answering ${count} question${count === 1 ? '' : 's'} ahead of yours. I'll reply right here as soon as I get to it.`;
    },
  };
}

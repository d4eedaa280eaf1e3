import type { AskedQuestion, FeedbackTotals } from '../store/history-store.ts';
import type { DailyUsage, TenantUsage, UsageLimits } from '../store/usage-store.ts';

/** Questions listed on a user's own summary (the Slack App Home). */
export const SUMMARY_QUESTIONS = 5;
/** Days the usage and feedback totals of a summary cover. */
export const SUMMARY_DAYS = 30;

/**
 * What one user may see about themselves (and, for an admin, about their workspace): their own
 * recent questions, their usage against the limits, and for admins the workspace's totals. Built
 * from the verified owner only, so no id in a payload can name someone else's summary.
 */
export interface UserSummary {
  /** False when RETENTION_DAYS=0: no questions are stored, so none are listed. */
  keepsHistory: boolean;
  /** Newest first, at most {@link SUMMARY_QUESTIONS}. */
  recentQuestions: AskedQuestion[];
  today: DailyUsage;
  /** Totals over the last {@link SUMMARY_DAYS} days including today. */
  recent: DailyUsage;
  limits: UsageLimits;
  /** Present only when the owner is an admin of this workspace or tenant. */
  admin?: { today: TenantUsage; feedback: FeedbackTotals };
}

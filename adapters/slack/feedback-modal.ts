import type { types } from '@slack/bolt';
import type { Owner } from '../../src/engine/ownership.ts';
import type { FeedbackNote } from '../../src/store/history-store.ts';

/** The callback_id of the "what was wrong?" form; its view_submission comes back with it. */
export const FEEDBACK_MODAL = 'hr_feedback_form';
/** Longest comment taken, in characters: a few paragraphs, bounded in the form and checked again on submit. */
export const MAX_COMMENT_CHARS = 1000;

const REASON_BLOCK = 'reason';
const REASON_ACTION = 'reason_choice';
const COMMENT_BLOCK = 'comment';
const COMMENT_ACTION = 'comment_text';

/** The form's fixed reasons: value stored with the feedback, label shown. */
export const FEEDBACK_REASONS: ReadonlyArray<{ value: string; label: string }> = [
  { value: 'wrong', label: 'Wrong or out of date' },
  { value: 'off_topic', label: "Didn't answer my question" },
  { value: 'unclear', label: 'Hard to understand' },
  { value: 'sources', label: 'Missing or wrong source' },
  { value: 'other', label: 'Something else' },
];

/** A modal view as views.open takes it. */
export type ModalView = types.ModalView;

/**
 * The form a 👎 opens: an optional reason from a fixed list and optional free text, bounded. The
 * answer id rides in private_metadata, a claim checked against the submitting user on submit.
 */
export function feedbackModal(answerId: string): ModalView {
  return {
    type: 'modal',
    callback_id: FEEDBACK_MODAL,
    private_metadata: JSON.stringify({ answerId }),
    title: { type: 'plain_text', text: 'What went wrong?' },
    submit: { type: 'plain_text', text: 'Send to HR' },
    close: { type: 'plain_text', text: 'Skip' },
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: 'Thanks for rating this answer. HR reads these notes to fix the handbook and the answers. Your note is kept with your rating and erased with it (`/hr forget`).',
        },
      },
      {
        type: 'input',
        block_id: REASON_BLOCK,
        optional: true,
        label: { type: 'plain_text', text: 'What was the problem?' },
        element: {
          type: 'static_select',
          action_id: REASON_ACTION,
          placeholder: { type: 'plain_text', text: 'Choose one' },
          options: FEEDBACK_REASONS.map((reason) => ({ text: { type: 'plain_text', text: reason.label }, value: reason.value })),
        },
      },
      {
        type: 'input',
        block_id: COMMENT_BLOCK,
        optional: true,
        label: { type: 'plain_text', text: 'Anything else HR should know?' },
        hint: { type: 'plain_text', text: `Up to ${MAX_COMMENT_CHARS.toLocaleString('en-US')} characters. Please leave out personal details HR does not need.` },
        element: {
          type: 'plain_text_input',
          action_id: COMMENT_ACTION,
          multiline: true,
          max_length: MAX_COMMENT_CHARS,
          placeholder: { type: 'plain_text', text: 'What was missing or wrong?' },
        },
      },
    ],
  };
}

/** The fields of a `view_submission` payload the form reads. */
export interface ViewSubmissionBody {
  type: string;
  user?: { id?: string; team_id?: string };
  team?: { id?: string } | null;
  enterprise?: { id?: string } | null;
  view?: {
    callback_id?: string;
    private_metadata?: string;
    state?: { values?: Record<string, Record<string, { type?: string; value?: string | null; selected_option?: { value?: string } | null }>> };
  };
}

/** A submission read and checked: who sent it, about which answer, and what they said. */
export type FeedbackSubmission = { ok: true; actor: Owner; answerId: string; note: FeedbackNote } | { ok: false; errors: Record<string, string> };

/**
 * Read a submitted form. Identity comes from the signed payload's user and team; the answer id from
 * private_metadata is only a claim. Input Slack should already have bounded is checked again, since
 * a payload need not come from Slack's own client. Errors are keyed by block_id, as Slack shows them.
 */
export function readFeedbackSubmission(body: ViewSubmissionBody): FeedbackSubmission {
  const userId = body.user?.id;
  const tenantId = body.team?.id ?? body.user?.team_id ?? body.enterprise?.id;
  const answerId = answerIdOf(body.view?.private_metadata);
  if (userId === undefined || tenantId === undefined || answerId === undefined) {
    return { ok: false, errors: { [COMMENT_BLOCK]: 'This form could not be matched to an answer. Close it and rate the answer again.' } };
  }
  const values = body.view?.state?.values ?? {};
  const reason = values[REASON_BLOCK]?.[REASON_ACTION]?.selected_option?.value ?? undefined;
  if (reason !== undefined && !FEEDBACK_REASONS.some((known) => known.value === reason)) {
    return { ok: false, errors: { [REASON_BLOCK]: 'Choose one of the listed reasons.' } };
  }
  const rawComment = values[COMMENT_BLOCK]?.[COMMENT_ACTION]?.value;
  const comment = typeof rawComment === 'string' ? rawComment.trim() : '';
  if (comment.length > MAX_COMMENT_CHARS) {
    return { ok: false, errors: { [COMMENT_BLOCK]: `Please keep it to ${MAX_COMMENT_CHARS.toLocaleString('en-US')} characters (this is ${comment.length.toLocaleString('en-US')}).` } };
  }
  if (reason === undefined && comment === '') {
    return { ok: false, errors: { [COMMENT_BLOCK]: 'Choose a reason or write a few words, or press Skip: your 👎 is already recorded.' } };
  }
  return {
    ok: true,
    actor: { platform: 'slack', tenantId, userId },
    answerId,
    note: { ...(reason === undefined ? {} : { reason }), ...(comment === '' ? {} : { comment }) },
  };
}

/** What the form says when the store refused the note; keyed by block_id for `response_action: errors`. */
export function feedbackRefusal(outcome: 'not_found' | 'forbidden' | 'failed'): Record<string, string> {
  switch (outcome) {
    case 'not_found':
      return { [COMMENT_BLOCK]: 'I no longer have this answer (it may have been erased), so there is nothing to attach this note to.' };
    case 'forbidden':
      return { [COMMENT_BLOCK]: 'This answer was written for someone else, so only they can comment on it.' };
    case 'failed':
      return { [COMMENT_BLOCK]: 'I could not save this just now. Please try again in a moment.' };
  }
}

function answerIdOf(metadata: string | undefined): string | undefined {
  if (metadata === undefined || metadata.length > 3000) return undefined;
  try {
    const parsed: unknown = JSON.parse(metadata);
    const answerId = typeof parsed === 'object' && parsed !== null ? (parsed as { answerId?: unknown }).answerId : undefined;
    return typeof answerId === 'string' && answerId !== '' && answerId.length <= 64 ? answerId : undefined;
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

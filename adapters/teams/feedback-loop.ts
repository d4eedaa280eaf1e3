/**
 * Teams' own feedback loop: an AI answer sent with `channelData.feedbackLoopEnabled` shows 👍/👎
 * under it; a press (and the optional form) comes back as an `invoke` named `message/submitAction`
 * whose `replyToId` is the bot message's id:
 * `{ actionName: 'feedback', actionValue: { reaction: 'like' | 'dislike', feedback: '<JSON text>' } }`.
 * Teams wants 200 with an empty body, and shows its own "feedback submitted" notice.
 */

/** A feedback press, read from the invoke's value. */
export interface FeedbackPress {
  rating: 'up' | 'down';
  /** What the user typed in Teams' feedback form, if anything (at most {@link MAX_FEEDBACK_COMMENT_CHARS}). */
  comment?: string;
}

/** Feedback text kept at most, as in Slack's form: the rest is cut. */
export const MAX_FEEDBACK_COMMENT_CHARS = 1_000;

/** The invoke name Teams uses for the feedback loop. */
export const SUBMIT_ACTION = 'message/submitAction';

/**
 * Read a `message/submitAction` value: the reaction, and the form's free text (`actionValue.feedback`,
 * a JSON string `{"feedbackText": "…"}`), trimmed and cut to {@link MAX_FEEDBACK_COMMENT_CHARS}.
 */
export function parseFeedbackPress(value: unknown): FeedbackPress | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { actionName, actionValue } = value as { actionName?: unknown; actionValue?: unknown };
  if (actionName !== 'feedback' || typeof actionValue !== 'object' || actionValue === null) return undefined;
  const { reaction, feedback } = actionValue as { reaction?: unknown; feedback?: unknown };
  const rating = reaction === 'like' ? 'up' : reaction === 'dislike' ? 'down' : undefined;
  if (rating === undefined) return undefined;
  const comment = feedbackText(feedback);
  return comment === undefined ? { rating } : { rating, comment };
}

function feedbackText(feedback: unknown): string | undefined {
  if (typeof feedback !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(feedback);
  } catch (error) {
    // Not the JSON Teams sends: no text to keep; the reaction still counts.
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  const text = typeof parsed === 'object' && parsed !== null ? (parsed as { feedbackText?: unknown }).feedbackText : undefined;
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  return Array.from(text.trim()).slice(0, MAX_FEEDBACK_COMMENT_CHARS).join('');
}

/** Default number of answered messages remembered for feedback: 10,000 (about 1 MB of ids). */
export const DEFAULT_MAX_FEEDBACK_TARGETS = 10_000;

/**
 * Which engine answer each AI message in Teams is, so a feedback press (which names only the
 * message) reaches the right answer. Bounded: the oldest entries go first, and after a restart
 * the map is empty, so a press on an older message is acknowledged but not recorded (the store
 * keeps no Teams message ids). Ownership is not decided here: the engine checks the pressing user
 * against the answer's owner.
 */
export class FeedbackTargets {
  readonly #answers = new Map<string, string>();
  readonly #max: number;

  constructor(max = DEFAULT_MAX_FEEDBACK_TARGETS) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`Expected \`maxFeedbackTargets\` to be an integer >= 1, got ${max}`);
    this.#max = max;
  }

  /** Remember that message `activityId` in `conversationId` shows answer `answerId`. */
  remember(conversationId: string, activityId: string, answerId: string): void {
    const key = keyOf(conversationId, activityId);
    this.#answers.delete(key);
    this.#answers.set(key, answerId);
    if (this.#answers.size > this.#max) {
      const oldest = this.#answers.keys().next().value;
      if (oldest !== undefined) this.#answers.delete(oldest);
    }
  }

  /** The answer a message shows, if it is remembered. */
  answerOf(conversationId: string, activityId: string): string | undefined {
    return this.#answers.get(keyOf(conversationId, activityId));
  }

  get size(): number {
    return this.#answers.size;
  }
}

// A channel's reply chain (`;messageid=`) is the same conversation for this purpose.
function keyOf(conversationId: string, activityId: string): string {
  return `${conversationId.split(';')[0] ?? conversationId}\n${activityId}`;
}

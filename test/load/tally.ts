/**
 * The counts of a load run, per platform: which question each reply belongs to (an AI answer by the tag
 * the fake model echoes, a reply without one by its conversation and order), what is lost, twice, out
 * of order or left on screen unfinished.
 */
import type { Platform, ReplySlot } from './reply-tracker.ts';
import { classify, isReply } from './reply-tracker.ts';

/** One message a user sent, and what its delivery to the bot got. */
export interface Question {
  platform: Platform;
  user: number;
  /** Its place among the user's messages, from 0. */
  index: number;
  /** Written into the question; the fake model echoes it in the answer. */
  tag: string;
  conversation: string;
  /** When its first delivery attempt started (ms since epoch); undefined until sent. */
  sentAt?: number;
  /** HTTP attempts (Slack redelivers; Teams does not). */
  attempts: number;
  /** Some attempt got a 2xx within the platform's deadline (Slack gives up on an attempt after 3 s, Teams after 15 s). */
  acked: boolean;
  /** The first attempt did. */
  ackedFirstTry: boolean;
  ackMs?: number;
  /** Why its failed attempts failed (LOAD_DUMP_ACKS). */
  failures?: string[];
  /**
   * The POST failed because the bot process was killed and the platform does not resend it (Teams):
   * the bot may never have seen it, so no answer is expected (one is still counted if it comes).
   */
  undelivered: boolean;
  /** Slack: the message's ts. The bot answers each DM in its thread, so a reply there is this question's. */
  ts?: string;
}

/** The figures for one platform in one run. */
export interface PlatformTally {
  sent: number;
  /** The first attempt got a 2xx within the platform's deadline. */
  ackedInTime: number;
  /** Only a redelivery did (Slack: the first got no 2xx within 3 s, or the process was gone). */
  ackedOnRetry: number;
  undelivered: number;
  answered: number;
  /** Replies beyond one per question. */
  duplicates: number;
  /** Questions the bot could have seen with no reply at all. */
  lost: number;
  /** Users whose replies were completed in a different order from the one they wrote in. */
  outOfOrder: number;
  /**
   * Users whose reply messages stand in a different order on screen (a notice posted before an
   * earlier question's reply). Only where a chat shows replies in one column (Teams); undefined on
   * Slack, where each DM is answered in its own thread.
   */
  misplaced: number | undefined;
  /** Messages still showing a placeholder, a partial stream or a notice when the run ended. */
  leftBehind: number;
  /** A few of them, as "conversation: text", to see what was left. */
  leftBehindSamples: string[];
  /** A few lost questions' tags, to look for in the bot's logs. */
  lostSamples: string[];
  /** Messages that showed "N questions ahead of yours" before their answer. */
  notices: number;
  /** Final replies that said the bot was overloaded and did not take the message. */
  overloaded: number;
  /** Final replies that said the bot was busy or failed (no answer). */
  busy: number;
  /** Final replies made of handbook passages because the model was unavailable or busy. */
  fallbacks: number;
  /** Other final replies without the model's answer (e.g. "the handbook doesn't cover this"). */
  other: number;
  /** A few of them, as "conversation: text". */
  otherSamples: string[];
  /** Time from the first send to the reply's final text, ms, sorted. */
  replyMs: number[];
}

/** Left-behind messages and other replies quoted in a tally. */
const MAX_SAMPLES = 5;

export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function isIncreasing(values: readonly number[]): boolean {
  return values.every((value, i) => i === 0 || value > values[i - 1]!);
}

/**
 * Which reply answers which question in one conversation, counting on the way duplicates, what is left
 * on screen unfinished, notices and the kinds of replies that are not answers.
 */
function assign(asked: readonly Question[], slots: readonly ReplySlot[], counts: PlatformTally): Map<Question, ReplySlot> {
  const byTag = new Map(asked.map((q) => [q.tag, q]));
  const assigned = new Map<Question, ReplySlot>();
  const untagged: ReplySlot[] = [];
  for (const slot of slots) {
    const { kind, tag } = classify(slot.text);
    if (slot.everNotice) counts.notices += 1;
    if (!isReply(kind)) {
      counts.leftBehind += 1;
      if (counts.leftBehindSamples.length < MAX_SAMPLES) counts.leftBehindSamples.push(`${slot.conversation}: ${slot.text.slice(0, 80)}`);
      continue;
    }
    if (kind === 'overloaded') counts.overloaded += 1;
    if (kind === 'busy') counts.busy += 1;
    if (kind === 'fallback') counts.fallbacks += 1;
    if (kind === 'other') {
      counts.other += 1;
      if (counts.otherSamples.length < MAX_SAMPLES) counts.otherSamples.push(`${slot.conversation}: ${slot.text.slice(0, 80)}`);
    }
    const question = tag === undefined ? undefined : byTag.get(tag);
    if (question === undefined) {
      // No tag (or another conversation's): placed by order below.
      untagged.push(slot);
      continue;
    }
    const earlier = assigned.get(question);
    if (earlier === undefined) assigned.set(question, slot);
    else {
      counts.duplicates += 1;
      if (slot.textSeq < earlier.textSeq) assigned.set(question, slot);
    }
  }
  // A reply without a tag (excerpts instead of the model's answer) in a question's thread (Slack) is
  // that question's. Elsewhere it belongs where it stands on screen: to a question between the tagged
  // replies around it, one whose message surely reached the bot first (a Teams message cut off by the
  // kill may never have been seen, and then has no reply to take).
  const byThread = new Map(asked.filter((q) => q.ts !== undefined).map((q) => [q.ts!, q]));
  const byPosition = untagged.filter((slot) => {
    const question = slot.thread === undefined ? undefined : byThread.get(slot.thread);
    if (question === undefined) return true;
    if (assigned.has(question)) counts.duplicates += 1;
    else assigned.set(question, slot);
    return false;
  });
  byPosition.sort((a, b) => a.createdSeq - b.createdSeq);
  const tagged = [...assigned.entries()].sort(([, a], [, b]) => a.createdSeq - b.createdSeq);
  for (const slot of byPosition) {
    const before = tagged.filter(([, other]) => other.createdSeq < slot.createdSeq).at(-1)?.[0].index ?? -1;
    const after = tagged.find(([, other]) => other.createdSeq > slot.createdSeq)?.[0].index ?? Number.POSITIVE_INFINITY;
    const open = asked.filter((q) => !assigned.has(q));
    const between = open.filter((q) => q.index > before && q.index < after);
    const question = between.find((q) => !q.undelivered) ?? between[0] ?? open.find((q) => !q.undelivered) ?? open[0];
    if (question === undefined) counts.duplicates += 1;
    else assigned.set(question, slot);
  }
  return assigned;
}

/** Count one platform's questions against the slots the tracker built. */
export function tally(platform: Platform, questions: readonly Question[], slotsByConversation: ReadonlyMap<string, ReplySlot[]>): PlatformTally {
  const mine = questions.filter((q) => q.platform === platform && q.sentAt !== undefined);
  const result: PlatformTally = {
    sent: mine.length,
    ackedInTime: mine.filter((q) => q.ackedFirstTry).length,
    ackedOnRetry: mine.filter((q) => q.acked && !q.ackedFirstTry).length,
    undelivered: mine.filter((q) => q.undelivered).length,
    answered: 0,
    duplicates: 0,
    lost: 0,
    outOfOrder: 0,
    misplaced: platform === 'teams' ? 0 : undefined,
    leftBehind: 0,
    leftBehindSamples: [],
    lostSamples: [],
    notices: 0,
    overloaded: 0,
    busy: 0,
    fallbacks: 0,
    other: 0,
    otherSamples: [],
    replyMs: [],
  };
  const byConversation = new Map<string, Question[]>();
  for (const q of mine) {
    const list = byConversation.get(q.conversation) ?? [];
    list.push(q);
    byConversation.set(q.conversation, list);
  }
  const conversations = new Set(byConversation.keys());
  for (const [conversation, slots] of slotsByConversation) if (slots[0]?.platform === platform) conversations.add(conversation);
  for (const conversation of conversations) {
    const asked = (byConversation.get(conversation) ?? []).sort((a, b) => a.index - b.index);
    const assigned = assign(asked, slotsByConversation.get(conversation) ?? [], result);
    const answered = [...assigned.entries()];
    result.answered += answered.length;
    const lost = asked.filter((q) => !q.undelivered && !assigned.has(q));
    result.lost += lost.length;
    for (const q of lost) if (result.lostSamples.length < MAX_SAMPLES) result.lostSamples.push(`${conversation}: ${q.tag}`);
    if (!isIncreasing(answered.sort(([, a], [, b]) => a.textSeq - b.textSeq).map(([q]) => q.index))) result.outOfOrder += 1;
    if (result.misplaced !== undefined && !isIncreasing(answered.sort(([, a], [, b]) => a.createdSeq - b.createdSeq).map(([q]) => q.index))) result.misplaced += 1;
    for (const [question, slot] of answered) result.replyMs.push(slot.textAt - question.sentAt!);
  }
  result.replyMs.sort((a, b) => a - b);
  return result;
}

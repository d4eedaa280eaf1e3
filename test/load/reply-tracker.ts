/**
 * What the bot left in front of each user, read from the fakes' recordings: one slot per message the
 * bot created (a Slack message by channel and ts, a Teams activity or stream by id), with the text it
 * shows now and since when. A message edited from a placeholder or notice into the answer is one slot,
 * so it counts once.
 */
import type { RecordedCall } from '../fakes/fake-slack-api.ts';
import type { ConnectorCall } from '../fakes/fake-teams-connector.ts';
import { sectionText } from '../support/slack-blocks.ts';

export type Platform = 'slack' | 'teams';

/**
 * What a slot's text is: a reply that answers the question (an AI answer, a fallback, a refusal, or any
 * other final reply such as "the handbook doesn't cover this"), or something meant to be replaced.
 */
export type ReplyClass = 'answer' | 'fallback' | 'overloaded' | 'busy' | 'other' | 'notice' | 'progress';

/** One message the bot created in a conversation. */
export interface ReplySlot {
  platform: Platform;
  conversation: string;
  key: string;
  /** Position of the creating call among the platform fake's calls: the order users see messages in. */
  createdSeq: number;
  text: string;
  /** When the current text was first shown (ms since epoch), and the call that showed it. */
  textAt: number;
  textSeq: number;
  /** It showed an "N questions ahead of yours" notice at some point. */
  everNotice: boolean;
  deleted: boolean;
  /** Slack: the thread it was posted in (the question's ts, for a DM answered in its own thread). */
  thread?: string;
}

/** What the fake model answers: the question's tag at the end, so each answer can be matched to its question. */
const ANSWER_PREFIX = 'Full-time employees get 25 vacation days a year, see the handbook (answer for ';

export function fakeModelAnswer(question: string): string {
  const tag = /q\d+x\d+/.exec(question)?.[0] ?? 'none';
  return `${ANSWER_PREFIX}${tag}).`;
}

const ANSWER_TAG = /answer for (q\d+x\d+)\)/;

export function classify(text: string): { kind: ReplyClass; tag?: string } {
  const tag = ANSWER_TAG.exec(text)?.[1];
  if (tag !== undefined) return { kind: 'answer', tag };
  if (/ahead of yours/i.test(text)) return { kind: 'notice' };
  const bare = text.replace(/^_|_$/g, '').trim();
  // A status line ("Looking that up…"), or part of the model's answer streamed so far.
  if (bare === '' || (bare.endsWith('…') && bare.length < 100) || ANSWER_PREFIX.startsWith(bare) || bare.startsWith(ANSWER_PREFIX)) return { kind: 'progress' };
  if (/overloaded/i.test(text)) return { kind: 'overloaded' };
  // The excerpts the bot falls back on (their note says why: the model was unavailable or busy).
  if (/handbook passages|handbook excerpts/i.test(text)) return { kind: 'fallback' };
  if (/busy|faster than I can keep up|something went wrong|try again/i.test(text)) return { kind: 'busy' };
  return { kind: 'other' };
}

/** Replies count: what the bot says instead of an answer counts as one, a notice or placeholder does not. */
export function isReply(kind: ReplyClass): boolean {
  return kind !== 'notice' && kind !== 'progress';
}

function threadOf(call: RecordedCall): string | undefined {
  return typeof call.args.thread_ts === 'string' ? call.args.thread_ts : undefined;
}

function slackText(call: RecordedCall): string {
  return call.args.blocks === undefined ? String(call.args.text ?? call.args.markdown_text ?? '') : sectionText(call.args.blocks);
}

/** Every `text` field of an activity (message text and Adaptive Card text blocks), joined. */
function teamsText(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) teamsText(item, into);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, field] of Object.entries(value)) {
      if (key === 'text' && typeof field === 'string') into.push(field);
      else if (key !== 'entities' && key !== 'channelData') teamsText(field, into);
    }
  }
  return into;
}

function streamInfo(activity: Record<string, unknown>): { streamId?: string; streamType?: string } | undefined {
  const entities = activity.entities as Array<Record<string, unknown>> | undefined;
  const info = entities?.find((entity) => entity.type === 'streaminfo');
  if (info === undefined) return undefined;
  return {
    ...(typeof info.streamId === 'string' ? { streamId: info.streamId } : {}),
    ...(typeof info.streamType === 'string' ? { streamType: info.streamType } : {}),
  };
}

/** Reads new calls from the fakes as they come (calls lists only grow) and keeps the slots. */
export class ReplyTracker {
  readonly #slots = new Map<string, ReplySlot>();
  readonly #slackCalls: readonly RecordedCall[];
  readonly #teamsCalls: readonly ConnectorCall[];
  #slackRead = 0;
  #teamsRead = 0;

  constructor(slackCalls: readonly RecordedCall[], teamsCalls: readonly ConnectorCall[]) {
    this.#slackCalls = slackCalls;
    this.#teamsCalls = teamsCalls;
  }

  /** Calls seen so far, both fakes: a run is idle when this stops growing. */
  get callsSeen(): number {
    return this.#slackRead + this.#teamsRead;
  }

  /** Slots by conversation, in creation order. */
  byConversation(): Map<string, ReplySlot[]> {
    this.ingest();
    const grouped = new Map<string, ReplySlot[]>();
    for (const slot of this.#slots.values()) {
      if (slot.deleted) continue;
      const list = grouped.get(slot.conversation) ?? [];
      list.push(slot);
      grouped.set(slot.conversation, list);
    }
    for (const list of grouped.values()) list.sort((a, b) => a.createdSeq - b.createdSeq);
    return grouped;
  }

  ingest(): void {
    for (; this.#slackRead < this.#slackCalls.length; this.#slackRead++) this.#slack(this.#slackCalls[this.#slackRead]!, this.#slackRead);
    for (; this.#teamsRead < this.#teamsCalls.length; this.#teamsRead++) this.#teams(this.#teamsCalls[this.#teamsRead]!, this.#teamsRead);
  }

  #slack(call: RecordedCall, seq: number): void {
    const channel = String(call.args.channel ?? '');
    switch (call.method) {
      case 'chat.postMessage':
      case 'chat.startStream':
        if (call.postedTs !== undefined) this.#create('slack', channel, `slack ${channel} ${call.postedTs}`, slackText(call), call.at, seq, threadOf(call));
        return;
      case 'chat.postEphemeral':
        this.#create('slack', channel, `slack ${channel} ephemeral ${seq}`, slackText(call), call.at, seq, threadOf(call));
        return;
      case 'chat.update':
        this.#update(`slack ${channel} ${String(call.args.ts)}`, slackText(call), call.at, seq);
        return;
      case 'chat.appendStream': {
        const slot = this.#slots.get(`slack ${channel} ${String(call.args.ts)}`);
        if (slot !== undefined) this.#update(slot.key, slot.text + String(call.args.markdown_text ?? ''), call.at, seq);
        return;
      }
      case 'chat.delete': {
        const slot = this.#slots.get(`slack ${channel} ${String(call.args.ts)}`);
        if (slot !== undefined) slot.deleted = true;
        return;
      }
      default:
        return;
    }
  }

  #teams(call: ConnectorCall, seq: number): void {
    const conversation = call.conversationId;
    const activity = call.activity;
    const text = teamsText({ text: activity.text, attachments: activity.attachments }).join('\n');
    if (call.method === 'PUT') {
      this.#update(`teams ${conversation} ${call.activityId ?? ''}`, text, call.at, seq);
      return;
    }
    const stream = streamInfo(activity);
    // A stream is one message in Teams: its first update creates it, later updates and its final message replace its text.
    if (stream?.streamId !== undefined && this.#slots.has(`teams ${conversation} ${stream.streamId}`)) {
      if (activity.type === 'message' || text !== '') this.#update(`teams ${conversation} ${stream.streamId}`, text, call.at, seq);
      return;
    }
    if (activity.type === 'message' || (activity.type === 'typing' && stream !== undefined)) {
      this.#create('teams', conversation, `teams ${conversation} ${call.responseId ?? `seq${seq}`}`, text, call.at, seq);
    }
  }

  #create(platform: Platform, conversation: string, key: string, text: string, at: number, seq: number, thread?: string): void {
    this.#slots.set(key, { platform, conversation, key, createdSeq: seq, text, textAt: at, textSeq: seq, everNotice: classify(text).kind === 'notice', deleted: false, ...(thread === undefined ? {} : { thread }) });
  }

  #update(key: string, text: string, at: number, seq: number): void {
    const slot = this.#slots.get(key);
    if (slot === undefined || slot.text === text) return;
    slot.text = text;
    slot.textAt = at;
    slot.textSeq = seq;
    if (classify(text).kind === 'notice') slot.everNotice = true;
  }
}

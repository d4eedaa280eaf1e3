import type { Activity, CloudAdapter, TurnContext } from 'botbuilder';
import type PQueue from 'p-queue';
import type { HandleOptions } from '../../src/engine/engine.ts';
import type { InboxHandler, InboxWorkContext } from '../../src/inbox/inbox-worker.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { Owner } from '../../src/engine/ownership.ts';
import type { IncomingMessage, Reply, ReplyHooks, UserAction } from '../../src/message.ts';
import { isRecomputable } from '../../src/message.ts';
import { isAiAnswer } from './ai-message.ts';
import { continueTurn } from './continue-turn.ts';
import { describeError } from './describe-error.ts';
import type { FeedbackTargets } from './feedback-loop.ts';
import type { TeamsWork } from './inbox-gate.ts';
import { renderReply } from './render-reply.ts';
import type { ShowOrder } from '../../src/inbox/show-order.ts';
import type { StreamOptions } from './stream-progress.ts';
import { finalStreamFields, isStreamStopped, TeamsStream } from './stream-progress.ts';

/** The engine calls the Teams adapter needs. */
export interface TeamsEngine {
  handle(message: IncomingMessage, hooks?: ReplyHooks, options?: HandleOptions): Promise<Reply | null>;
  act(action: UserAction): Promise<Reply>;
  /** Store what the answer's owner wrote in the feedback form with their rating (erased with it). */
  commentOnFeedback?(actor: Owner, answerId: string, note: { comment?: string }): Promise<'saved' | 'not_found' | 'forbidden'>;
}

/** What an attempt got done, saved with the inbox item so a retry (after a crash too) does not do it again. */
interface TeamsProgress {
  /** The engine's reply, once computed, unless a retry gets it again by asking (see isRecomputable). */
  reply?: Reply;
  /** A notice ("N questions ahead of yours") on screen, which the answer replaces. */
  noticeId?: string;
  /** A stream on screen (its id is the streamed message's id), which the answer closes or replaces. */
  streamId?: string;
  /** The user pressed Stop on the stream: nothing more is sent for this question, not even the answer. */
  stopped?: boolean;
}

// Personal commands are refused before running where replies are public (see IncomingMessage.privateReplies),
// so what is left here is a refusal or error meant for the asker alone: nothing was done.
const PRIVATE_IN_CHANNEL = 'That reply is meant for you alone, so I only give it in a personal chat. Message me directly and ask again.';

/** What answering Teams items needs. */
export interface TeamsAnswerDeps {
  adapter: CloudAdapter;
  /** The bot's app id ('' in emulator mode), for proactive turns. */
  appId: string;
  engine: TeamsEngine;
  log: Logger;
  cards: boolean;
  stream: StreamOptions;
  /** KNOWLEDGE_BASE_URL, for links on sources and citations. */
  knowledgeBaseUrl?: string | undefined;
  /** Where each AI answer's message id is remembered for Teams' feedback loop. */
  feedback: FeedbackTargets;
  /** A stream's first update waits here with the notices: a kill leaves at most its concurrency of either on screen. */
  firstSends?: PQueue;
  /** Told while an answer has nothing on screen yet, so its chat's notices wait to land below it. */
  order?: ShowOrder;
}

/**
 * The inbox worker's handler for Teams messages: continue the conversation, show typing, ask the
 * engine (once, unless asking again gives the same: the reply is saved with the item), stream in
 * personal chats, and send the answer.
 * Whatever an earlier attempt showed (a notice, a stream) is replaced by the answer, never joined
 * by a second message. A delivery failure throws, and the inbox retries the item with backoff.
 */
export function answerTeamsItem(deps: TeamsAnswerDeps): InboxHandler {
  return async (item, context) => {
    const work = JSON.parse(item.payload) as TeamsWork;
    const progress = (item.progress === null ? {} : JSON.parse(item.progress)) as TeamsProgress;
    // Registered before the first await: a notice for a later message of this chat, sent from now
    // on, waits until this answer's first message is out.
    const shown = progress.noticeId === undefined && progress.streamId === undefined ? deps.order?.answering(item.laneKey) : undefined;
    try {
      await answerInTurn(deps, work, progress, context, shown);
    } finally {
      shown?.();
    }
  };
}

async function answerInTurn(deps: TeamsAnswerDeps, work: TeamsWork, progress: TeamsProgress, context: InboxWorkContext, shown: (() => void) | undefined): Promise<void> {
  await continueTurn(deps.adapter, deps.appId, work, async (turn) => {
    const reply = progress.reply ?? (await ask(deps, turn, work.message, progress, context, shown));
    // Erased meanwhile, or stop handed the item back (with the reply saved): whoever takes it delivers.
    if (reply === null || context.signal.aborted) return;
    if (progress.stopped === true) {
      // The user pressed Stop: Teams keeps what was streamed, and a final answer posted anyway
      // would be the message they asked not to get. The answer stays in their history.
      await context.complete();
      return;
    }
    const shownId = await deliver(deps, turn, work.message, reply, progress);
    if (shownId !== undefined && reply.answerId !== undefined && isAiAnswer(reply)) {
      deps.feedback.remember(work.reference.conversation?.id ?? work.message.conversationId, shownId, reply.answerId);
    }
    // Recorded as done even if stop handed it back while the answer was on its way: it was sent.
    await context.complete();
  });
}

async function ask(
  deps: TeamsAnswerDeps,
  turn: TurnContext,
  message: IncomingMessage,
  progress: TeamsProgress,
  context: InboxWorkContext,
  shown: (() => void) | undefined,
): Promise<Reply | null> {
  const { engine, log } = deps;
  const save = (patch: Partial<TeamsProgress>): Promise<void> => {
    Object.assign(progress, patch);
    return context.saveProgress(JSON.stringify(progress));
  };
  // From the stream's callbacks, which do not wait: a failed save costs only what a retry after a crash would know.
  const saveSoon = (patch: Partial<TeamsProgress>): void => {
    save(patch).catch((error: unknown) => log.warn({ err: describeError(error) }, 'teams: could not record what was shown'));
  };
  try {
    await turn.sendActivity({ type: 'typing' });
  } catch (error) {
    log.warn({ err: describeError(error) }, 'teams typing indicator failed');
  }
  // Teams streams only in one-to-one chats; elsewhere, or when a message is already on screen for
  // this question, the answer is buffered into one message.
  const stream =
    message.conversationKind === 'dm' && progress.noticeId === undefined && progress.streamId === undefined
      ? new TeamsStream(
          firstThrough(deps.firstSends, (activity) => turn.sendActivity(activity)),
          log,
          deps.stream,
          (streamId) => {
            saveSoon({ streamId });
            shown?.();
          },
          () => saveSoon({ stopped: true }),
        )
      : undefined;
  // Checked right before the engine reads the user's erasure mark: an erase after this item was
  // taken emptied its row, and nothing of the message may be stored after it.
  if (!(await context.stillOpen())) return null;
  const reply = await engine.handle(message, stream === undefined ? undefined : { onProgress: (p) => stream.progress(p) }, { deduplicated: true, admission: context.admission, receivedAt: context.receivedAt });
  // A reply a retry gets again by asking again (its history is appended once per event) is not saved.
  if (reply !== null && !isRecomputable(reply)) await save({ reply });
  return reply;
}

/**
 * `send`, with its first call (the one whose answer names the stream) waiting in `queue`: until its
 * id is recorded, a crash would leave that message where no later attempt can find it.
 */
function firstThrough<T, R>(queue: PQueue | undefined, send: (value: T) => Promise<R>): (value: T) => Promise<R> {
  let first = true;
  return async (value) => {
    if (queue === undefined || !first) return send(value);
    first = false;
    return queue.add(() => send(value));
  };
}

/** Show the answer; returns the id of the message it is in (undefined when nothing was shown or Teams gave no id). */
async function deliver(deps: TeamsAnswerDeps, turn: TurnContext, message: IncomingMessage, reply: Reply, progress: TeamsProgress): Promise<string | undefined> {
  const shown: Reply =
    message.conversationKind !== 'dm' && reply.visibility === 'private' ? { kind: 'notice', text: PRIVATE_IN_CHANNEL, sources: [], visibility: 'public' } : reply;
  const rendered = renderReply(shown, { cards: deps.cards, textOutsideCard: progress.streamId !== undefined, knowledgeBaseUrl: deps.knowledgeBaseUrl });
  if (progress.streamId !== undefined) return closeStream(deps.log, turn, progress.streamId, rendered);
  if (progress.noticeId !== undefined) return replace(deps.log, turn, progress.noticeId, rendered);
  return (await turn.sendActivity(rendered))?.id;
}

/**
 * The stream's final message closes it with the answer; if Teams has closed it already, the
 * streamed message is edited. If the user pressed Stop just before, nothing more is sent.
 */
async function closeStream(log: Logger, turn: TurnContext, streamId: string, rendered: Partial<Activity>): Promise<string | undefined> {
  const final = finalStreamFields(streamId);
  try {
    // The answer's own entities (AI label, citations) and channel data (feedback loop) stay beside the stream's.
    await turn.sendActivity({
      ...rendered,
      entities: [...(rendered.entities ?? []), ...(final.entities ?? [])],
      channelData: { ...(rendered.channelData as Record<string, unknown> | undefined), ...(final.channelData as Record<string, unknown>) },
    });
    return streamId;
  } catch (error) {
    if (isStreamStopped(error)) {
      log.info('teams stream stopped by the user before its final message; the answer is not sent');
      return undefined;
    }
    if (!isRefusal(error)) throw error;
    log.warn({ err: describeError(error) }, 'teams refused the stream final message; replacing the streamed message');
  }
  return replace(log, turn, streamId, rendered);
}

/** Edit a message on screen into the answer; if Teams refuses (it was deleted), the answer comes as a new message. */
async function replace(log: Logger, turn: TurnContext, activityId: string, rendered: Partial<Activity>): Promise<string | undefined> {
  try {
    await turn.updateActivity({ ...rendered, id: activityId });
    return activityId;
  } catch (error) {
    if (!isRefusal(error)) throw error;
    log.warn({ err: describeError(error) }, 'teams refused to edit a message; sending the answer as a new message');
  }
  return (await turn.sendActivity(rendered))?.id;
}

/** A 4xx other than 429: Teams will not take this request as it is, however often it is retried. */
function isRefusal(error: unknown): boolean {
  const status = typeof error === 'object' && error !== null ? (error as { statusCode?: unknown }).statusCode : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 429;
}

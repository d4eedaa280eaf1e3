import type { webApi } from '@slack/bolt';
import type { HandleOptions } from '../../src/engine/engine.ts';
import type { InboxHandler, LongWaitNotice } from '../../src/inbox/inbox-worker.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { IncomingMessage, Reply, ReplyHooks, UserAction } from '../../src/message.ts';
import { isRecomputable } from '../../src/message.ts';
import { DEFAULT_BOT_NAME } from '../../src/engine/replies.ts';
import type { SuggestedTopic } from '../../src/engine/suggested-topics.ts';
import type { Owner } from '../../src/engine/ownership.ts';
import type { SlackShown } from './delivery.ts';
import { MessageDelivery, NOTICE_MARKER, replyMarker } from './delivery.ts';
import type { SlackNotices } from './inbox-gate.ts';
import type { BotIdentity, PromptsTarget } from './parse.ts';
import { renderReply } from './render.ts';
import type { RenderOptions, SlackMessage } from './render.ts';
import { SlackDeliveryError } from './slack-errors.ts';
import type { SlackClients } from './slack-tokens.ts';
import { workOf } from './stored-work.ts';

/** The engine calls answering needs. */
export interface SlackEngine {
  handle(message: IncomingMessage, hooks?: ReplyHooks, options?: HandleOptions): Promise<Reply | null>;
  act(action: UserAction): Promise<Reply>;
  /** Topics to suggest in a workspace: its most-asked handbook sections (never anyone's words). */
  suggestions(tenant: Pick<Owner, 'platform' | 'tenantId'>): Promise<SuggestedTopic[]>;
}

/** What the Slack inbox handler needs. */
export interface SlackAnswerDeps {
  engine: SlackEngine;
  /** The Web API client of each workspace (one for all in single-token mode). */
  clients: SlackClients;
  log: Logger;
  /** How replies are drawn (sources as links to KNOWLEDGE_BASE_URL). */
  render?: RenderOptions;
  /** The bot itself in a workspace, to recognise its own posts after a crash. */
  botFor?: (teamId: string | undefined, enterpriseId?: string) => Promise<BotIdentity | undefined>;
  /** The product name (BOT_NAME), for the suggested prompts' heading. */
  botName?: string;
}

/** What an attempt got done, saved in the inbox so a retry (after a crash too) does not do it again. */
interface SlackProgress extends SlackShown {
  /** The engine's reply, once computed, unless a retry gets it again by asking (see isRecomputable). */
  reply?: Reply;
  /** Messages of the reply already posted to a response_url. */
  sentParts?: number;
}

/** A response_url post gives up after this long; the inbox retries the item. */
const RESPONSE_URL_TIMEOUT_MS = 10_000;

/**
 * The inbox worker's handler for Slack items: ask the engine (once, unless asking again gives the
 * same: the reply is saved with the item), then deliver, completing whatever an earlier attempt
 * showed. A delivery failure throws, and the inbox retries the item later with backoff.
 */
export function answerSlackItem(deps: SlackAnswerDeps): InboxHandler {
  const { engine, clients, log } = deps;
  const render = deps.render ?? {};
  return async (item, context) => {
    const work = workOf(item.payload);
    const progress = (item.progress === null ? {} : JSON.parse(item.progress)) as SlackProgress;
    const save = (patch: Partial<SlackProgress>): Promise<void> => {
      Object.assign(progress, patch);
      return context.saveProgress(JSON.stringify(progress));
    };
    // The thread's title and status line wait for the next save (the reply, a post): a retry after a
    // crash before it sets them again, and both calls are idempotent. One commit less each.
    const saveShown = async (patch: SlackShown): Promise<void> => {
      if (Object.keys(patch).every((key) => key === 'titled' || key === 'status')) Object.assign(progress, patch);
      else await save(patch);
    };
    // Checked right before the engine reads the user's erasure mark: an erase after this claim
    // emptied the row, and nothing of the message may be stored after it.
    // A reply a retry gets again by asking again (isRecomputable: its history is appended once per
    // event) is not saved: it costs no bytes here. Button actions' replies are always saved.
    const reply = async (ask: () => Promise<Reply | null>, options: { asked?: boolean } = {}): Promise<Reply | null> => {
      if (progress.reply !== undefined) return progress.reply;
      if (!(await context.stillOpen())) return null;
      const computed = await ask();
      if (computed !== null && !(options.asked === true && isRecomputable(computed))) await save({ reply: computed });
      // Stopped meanwhile: the item was handed back with the reply saved (or to be worked out again); whoever takes it delivers.
      return context.signal.aborted ? null : computed;
    };
    switch (work.kind) {
      case 'message': {
        // The token of the workspace the message came from; none when it uninstalled meanwhile (nothing to answer with).
        const client = await clients.forTeam(work.target.teamId, work.target.enterpriseId);
        if (client === undefined) {
          log.warn({ teamId: work.target.teamId }, 'slack: message dropped: its workspace has no installation any more');
          return;
        }
        const bot = await deps.botFor?.(work.target.teamId, work.target.enterpriseId);
        const delivery = new MessageDelivery(
          client,
          work.target,
          log,
          { shown: progress, onShown: saveShown, itemId: item.id, after: (work.sentAt / 1000).toFixed(6), retried: item.attempts > 1 },
          { render, ...(bot === undefined ? {} : { bot }) },
        );
        if (progress.reply === undefined && (await context.stillOpen())) await delivery.setTitle(work.message.text);
        const answer = await reply(() => engine.handle(work.message, delivery.hooks, { deduplicated: true, admission: context.admission, receivedAt: context.receivedAt }), { asked: true });
        await delivery.finish(answer);
        return;
      }
      case 'command': {
        const answer = await reply(() => engine.handle(work.message, undefined, { deduplicated: true, admission: context.admission, receivedAt: context.receivedAt }), { asked: true });
        // HR lookups are personal: slash command answers are shown to the asker only.
        if (answer !== null) await respond(work.responseUrl, renderReply(answer, render).map((m) => ({ response_type: 'ephemeral', ...m })), progress, save);
        return;
      }
      case 'action': {
        const answer = await reply(() => engine.act(work.action));
        if (answer !== null) {
          await respond(work.responseUrl, renderReply(answer, render).map((m) => ({ response_type: 'ephemeral', replace_original: false, ...m })), progress, save);
        }
        return;
      }
      case 'prompts': {
        const client = await clients.forTeam(work.target.tenantId);
        if (client === undefined) return;
        await suggestPrompts(client, work.target, await engine.suggestions({ platform: 'slack', tenantId: work.target.tenantId }), deps.botName);
        return;
      }
    }
  };
}

/**
 * Suggested prompts where the user just opened a conversation with the bot: the workspace's
 * most-asked handbook topics, by title. In the agent messaging experience they are set for the DM
 * (no `thread_ts`: Slack silently drops an agent app's call that has one); for the older assistant
 * view, for the thread that started.
 */
async function suggestPrompts(client: webApi.WebClient, target: PromptsTarget, topics: readonly SuggestedTopic[], botName = DEFAULT_BOT_NAME): Promise<void> {
  if (topics.length === 0) return;
  await client.assistant.threads.setSuggestedPrompts({
    channel_id: target.channel,
    ...(target.threadTs === undefined ? {} : { thread_ts: target.threadTs }),
    title: `Ask ${botName} about`,
    prompts: topics.map((topic) => ({ title: topic.title, message: topic.message })),
  });
}

/** Notices the gate shows at once: where the answer will go, so the answer can replace them. */
export function slackNotices(clients: SlackClients): SlackNotices {
  return {
    async post(work, text, itemId) {
      // Suggested prompts answer no question: nothing to tell the user about them.
      if (work.kind === 'prompts') return undefined;
      if (work.kind === 'message') {
        const { channel, threadTs } = work.target;
        const client = await clients.forTeam(work.target.teamId, work.target.enterpriseId);
        if (client === undefined) throw new SlackDeliveryError('No installation for the workspace to post a notice in');
        // Marked like a first post: a restart finds a notice whose ts a crash lost, and edits it into the answer.
        const posted = await client.chat.postMessage({
          channel,
          text,
          ...(threadTs === undefined ? {} : { thread_ts: threadTs }),
          // Every post of the bot carries metadata, so a stream whose ts a crash lost is the only unmarked one.
          metadata: itemId === undefined ? { event_type: NOTICE_MARKER, event_payload: { notice: 'busy' } } : replyMarker(itemId),
        });
        return posted.ts;
      }
      await postJson(work.responseUrl, { response_type: 'ephemeral', replace_original: false, text });
      return undefined;
    },
  };
}

/** A message that has waited long gets a notice where its answer will go; the answer then replaces it. */
export function slackLongWaitNotice(notices: SlackNotices): LongWaitNotice {
  return async (item, waitedMs, markShowing) => {
    const work = workOf(item.payload);
    // Buttons are answered in milliseconds once taken; a notice would outlive its reason.
    if (work.kind === 'action' || work.kind === 'prompts') return undefined;
    const seconds = Math.max(1, Math.round(waitedMs / 1000));
    await markShowing(JSON.stringify({ posting: true }));
    const ts = await notices.post(work, `Sorry for the wait: I'm busier than usual and haven't got to this yet (${seconds} s so far). I'll reply right here.`, item.id);
    return ts === undefined ? undefined : JSON.stringify({ placeholderTs: ts });
  };
}

async function respond(url: string, messages: Array<SlackMessage & Record<string, unknown>>, progress: SlackProgress, save: (patch: Partial<SlackProgress>) => Promise<void>): Promise<void> {
  for (let part = progress.sentParts ?? 0; part < messages.length; part++) {
    await postJson(url, messages[part]);
    await save({ sentParts: part + 1 });
  }
}

async function postJson(url: string, body: unknown): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(RESPONSE_URL_TIMEOUT_MS),
    });
  } catch (error) {
    throw new SlackDeliveryError('Could not post to the response_url', { cause: error });
  }
  // The body is read and dropped so the connection can be reused; it is never logged (it may echo the reply).
  await response.arrayBuffer();
  if (!response.ok) throw new SlackDeliveryError(`The response_url answered HTTP ${response.status}`, { status: response.status });
}

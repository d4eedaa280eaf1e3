import type { ReceiverEvent } from '@slack/bolt';
import { BackgroundWork } from '../../src/background-work.ts';
import { toError } from '../../src/errors.ts';
import type { Owner } from '../../src/engine/ownership.ts';
import type { SlackClients } from './slack-tokens.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { Reply, UserAction } from '../../src/message.ts';
import type { FeedbackNote } from '../../src/store/history-store.ts';
import type { AppHome } from './app-home.ts';
import type { ViewSubmissionBody } from './feedback-modal.ts';
import { FEEDBACK_MODAL, feedbackModal, feedbackRefusal, readFeedbackSubmission } from './feedback-modal.ts';
import type { SlackEventSink } from './inbox-gate.ts';
import { isMessageShortcut, shortcutQuestion } from './message-shortcut.ts';
import { envelopeTeam, feedbackClick, FORGET } from './parse.ts';

/** What the App Home, the feedback form and the home's erase button need from the engine. */
export interface SurfaceEngine {
  ownsAnswer(owner: Owner, answerId: string): Promise<boolean>;
  commentOnFeedback(actor: Owner, answerId: string, note: FeedbackNote): Promise<'saved' | 'not_found' | 'forbidden'>;
  act(action: UserAction): Promise<Reply>;
}

/** A response_url post (the shortcut's "no text" reply) gives up after this long. */
const RESPONSE_URL_TIMEOUT_MS = 10_000;

interface BlockActionBody {
  type: string;
  trigger_id?: string;
  user?: { id?: string; team_id?: string };
  team?: { id?: string } | null;
  enterprise?: { id?: string } | null;
  container?: { type?: string };
  view?: { type?: string };
  actions?: Array<{ action_id: string; value?: string; action_ts?: string }>;
}

/**
 * The Slack surfaces beside the conversation, in front of the inbox gate: the App Home tab, the
 * feedback form a 👎 opens, and the home tab's erase button. What must happen within Slack's 3 s
 * is done here, at the ack: a trigger_id expires 3 s after the click, so the form is opened right
 * after the gate stores the rating, never from the queue; a form submission is answered in its own
 * HTTP response (empty to close it, `response_action: errors` to show what to fix). Everything
 * else, the message shortcut included, goes on to the gate and the durable inbox.
 */
export class SlackSurfaces implements SlackEventSink {
  readonly #inner: SlackEventSink;
  readonly #clients: SlackClients;
  readonly #engine: SurfaceEngine;
  readonly #home: AppHome;
  readonly #log: Logger;
  readonly #work = new BackgroundWork();

  constructor(deps: { inner: SlackEventSink; clients: SlackClients; engine: SurfaceEngine; home: AppHome; log: Logger }) {
    this.#inner = deps.inner;
    this.#clients = deps.clients;
    this.#engine = deps.engine;
    this.#home = deps.home;
    this.#log = deps.log;
  }

  async processEvent(event: ReceiverEvent): Promise<void> {
    const body = event.body;
    if (body.type === 'event_callback') {
      const inner = body.event as { type?: string; tab?: string; user?: string } | undefined;
      if (inner?.type === 'app_home_opened' && inner.tab === 'home') {
        await event.ack();
        const tenantId = envelopeTeam(body);
        if (inner.user !== undefined && tenantId !== undefined) this.#home.publishLater({ platform: 'slack', tenantId, userId: inner.user });
        return;
      }
    }
    if (body.type === 'view_submission' && (body.view as { callback_id?: unknown } | undefined)?.callback_id === FEEDBACK_MODAL) {
      await event.ack(await this.#submitFeedback(body as unknown as ViewSubmissionBody));
      return;
    }
    if (body.type === 'block_actions') {
      const actions = body as unknown as BlockActionBody;
      const action = actions.actions?.[0];
      const actor = actorOf(actions);
      if (action?.action_id === FORGET && actions.container?.type === 'view' && actions.view?.type === 'home') {
        await event.ack();
        if (actor !== undefined) void this.#work.track(this.#eraseFromHome(actor, actions, action));
        return;
      }
      // The gate stores the rating (and acks); the form must then open while the trigger is fresh.
      await this.#inner.processEvent(event);
      const clicked = action === undefined ? undefined : feedbackClick(action);
      if (clicked?.rating === 'down' && actor !== undefined && actions.trigger_id !== undefined) await this.#openForm(actor, clicked.answerId, actions.trigger_id);
      return;
    }
    if (isMessageShortcut(body) && shortcutQuestion(body.message?.text ?? '', Number.MAX_SAFE_INTEGER) === '' && typeof body.response_url === 'string') {
      await event.ack();
      void this.#work.track(this.#noText(body.response_url));
      return;
    }
    await this.#inner.processEvent(event);
  }

  /** Wait (bounded) for work started after an ack: erases from the home tab, replies. */
  async stop(timeoutMs: number): Promise<void> {
    if (!(await this.#work.drain(timeoutMs))) this.#log.warn({ pending: this.#work.size }, 'slack: stopped with surface work in flight');
  }

  /** The HTTP answer to a form submission: nothing (Slack closes the form) or the errors to show in it. */
  async #submitFeedback(body: ViewSubmissionBody): Promise<{ response_action: 'errors'; errors: Record<string, string> } | undefined> {
    const submission = readFeedbackSubmission(body);
    if (!submission.ok) return { response_action: 'errors', errors: submission.errors };
    let outcome: 'saved' | 'not_found' | 'forbidden' | 'failed';
    try {
      outcome = await this.#engine.commentOnFeedback(submission.actor, submission.answerId, submission.note);
    } catch (error) {
      // Never the note itself in the log: it is what a user typed.
      this.#log.error({ err: toError(error) }, 'slack: could not store a feedback note');
      outcome = 'failed';
    }
    this.#log.info({ outcome, reason: submission.note.reason, chars: submission.note.comment?.length ?? 0 }, 'slack: feedback form submitted');
    return outcome === 'saved' ? undefined : { response_action: 'errors', errors: feedbackRefusal(outcome) };
  }

  async #openForm(actor: Owner, answerId: string, triggerId: string): Promise<void> {
    // Only the answer's owner is asked; anyone else's click is refused by the engine as before.
    if (!(await this.#engine.ownsAnswer(actor, answerId))) return;
    try {
      const client = await this.#clients.forTeam(actor.tenantId);
      if (client === undefined) return;
      await client.views.open({ trigger_id: triggerId, view: feedbackModal(answerId) });
    } catch (error) {
      // The rating is stored either way; only the chance to say more is lost (e.g. expired_trigger_id).
      const code = (error as { data?: { error?: unknown } }).data?.error;
      this.#log.warn({ err: toError(error), slackError: typeof code === 'string' ? code : undefined }, 'slack: could not open the feedback form');
    }
  }

  /**
   * The home tab's erase button goes straight to the engine's erase, not through the inbox: a view's
   * action carries no response_url to answer on, and the confirmation is the tab published again
   * without the data. Should the process die before the erase, the tab still shows the data and the
   * user can press again; the erase itself is one transaction, all or nothing.
   */
  async #eraseFromHome(actor: Owner, body: BlockActionBody, action: { action_ts?: string }): Promise<void> {
    // Remembered first, so the engine's erase listener publishes the emptied tab.
    this.#home.remember(actor);
    try {
      await this.#engine.act({ ...actor, eventId: `action:${body.trigger_id ?? `${action.action_ts ?? Date.now()}:${actor.userId}`}`, action: { type: 'forget' } });
    } catch (error) {
      this.#log.error({ err: toError(error) }, 'slack: erase from the home tab failed');
    }
  }

  async #noText(responseUrl: string): Promise<void> {
    try {
      const response = await fetch(responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text: "That message has no text I can read, so I can't ask HR about it. Ask me in your own words instead." }),
        signal: AbortSignal.timeout(RESPONSE_URL_TIMEOUT_MS),
      });
      await response.arrayBuffer();
      if (!response.ok) this.#log.warn({ status: response.status }, 'slack: response_url refused a reply');
    } catch (error) {
      this.#log.warn({ err: toError(error) }, 'slack: could not reply through a response_url');
    }
  }
}

/** Who clicked, from the signed payload. */
function actorOf(body: BlockActionBody): Owner | undefined {
  const userId = body.user?.id;
  const tenantId = body.team?.id ?? body.user?.team_id ?? body.enterprise?.id;
  return userId === undefined || tenantId === undefined ? undefined : { platform: 'slack', tenantId, userId };
}

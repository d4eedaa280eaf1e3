import type { IncomingMessage as HttpRequest, ServerResponse } from 'node:http';
import { ActivityHandler, ActivityTypes, CloudAdapter, ConfigurationBotFrameworkAuthentication, INVOKE_RESPONSE_KEY, TurnContext } from 'botbuilder';
import type { Activity, AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue, ConversationReference, InvokeResponse } from 'botbuilder';
import { BackgroundWork } from '../../src/background-work.ts';
import { refuseUnread, sendJson, sendText } from '../../src/http/http-server.ts';
import type { BodyLimits } from '../../src/http/read-body.ts';
import { BodyReader } from '../../src/http/read-body.ts';
import type { BacklogNoticeOptions } from '../../src/inbox/backlog-notice.ts';
import type { InboxStore } from '../../src/inbox/inbox-store.ts';
import type { InboxHandler, InboxWorker } from '../../src/inbox/inbox-worker.ts';
import { storableMessage } from '../../src/inbox/message-item.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { IncomingMessage, Reply } from '../../src/message.ts';
import type { Metrics } from '../../src/metrics.ts';
import type { TeamsEngine } from './answer-item.ts';
import { answerTeamsItem } from './answer-item.ts';
import type { ConnectorRetryOptions } from './connector-pipeline.ts';
import { carryEntities, configureConnectorPipeline, connectorRetryPolicy } from './connector-pipeline.ts';
import { continueTurn } from './continue-turn.ts';
import PQueue from 'p-queue';
import { ShowOrder } from '../../src/inbox/show-order.ts';
import { DEFAULT_NOTICE_QUEUE } from '../../src/inbox/notice-queue.ts';
import { reuseConnectorClients } from './cached-connectors.ts';
import { describeError } from './describe-error.ts';
import { FeedbackTargets, parseFeedbackPress, SUBMIT_ACTION } from './feedback-loop.ts';
import { BotResponse, botRequest } from './http-shim.ts';
import type { AfterAck, TeamsWork } from './inbox-gate.ts';
import { TeamsInboxGate } from './inbox-gate.ts';
import type { CardActionData } from './parse-activity.ts';
import { conversationKindOf, eventIdOf, identityOf, isFromBot, parseCardAction, toIncomingMessage, toUserAction } from './parse-activity.ts';
import type { StreamOptions } from './stream-progress.ts';
import { welcomeActivity } from './welcome.ts';

export type { TeamsEngine } from './answer-item.ts';

/** Bot Framework credentials; with no app id the endpoint is unauthenticated (emulator only). */
export interface TeamsCredentials {
  appId?: string | undefined;
  appPassword?: string | undefined;
  appType?: 'MultiTenant' | 'SingleTenant' | 'UserAssignedMSI' | undefined;
  tenantId?: string | undefined;
}

/** Options for {@link TeamsAdapter}; every limit has its default stated once, in DEFAULTS. */
export interface TeamsAdapterOptions {
  engine: TeamsEngine;
  /** The durable inbox: messages are stored here before their 200 and answered by its worker. */
  inbox: { store: InboxStore; worker: InboxWorker };
  metrics: Metrics;
  log: Logger;
  credentials: TeamsCredentials;
  /** Adaptive Cards for answers; false renders markdown only. Default true. */
  cards?: boolean;
  /** BOT_NAME: what the bot calls itself in its welcome. Default 'HR Assistant'. */
  botName?: string;
  /** KNOWLEDGE_BASE_URL: sources and citations link into the published handbook when set. */
  knowledgeBaseUrl?: string | undefined;
  /** AI answers remembered for Teams' feedback loop (message id → answer); default in DEFAULT_MAX_FEEDBACK_TARGETS. */
  maxFeedbackTargets?: number;
  stream?: StreamOptions;
  retry?: ConnectorRetryOptions;
  /** When a waiting message gets an immediate "N questions ahead of yours" notice; defaults in DEFAULT_BACKLOG_NOTICE. */
  notices?: Partial<BacklogNoticeOptions>;
  /** Conversations recently welcomed, so an install (conversationUpdate and installationUpdate both) is welcomed once. */
  maxRememberedActivities?: number;
  /** How request bodies are read; defaults (and why) at TEAMS_BODY_LIMITS: 1 MiB, 32 at once, 10 s. */
  bodyLimits?: Partial<BodyLimits>;
}

const DEFAULTS = { cards: true, botName: 'HR Assistant', maxRememberedActivities: 10_000 } as const;

/**
 * How `POST /api/messages` reads bodies. A bearer token is only present, not yet verified, when the
 * body is read, so at most 32 × 1 MiB = 32 MiB is ever buffered for this route.
 * - maxBytes 1 MiB: the Bot Framework refuses activities over 256K characters of JSON (262,144
 *   bytes at its connector); at up to 3 bytes a character in UTF-8 that is under 800 KB. Files and
 *   images come as links, not inline.
 * - maxConcurrentReads 32: the Bot Framework sends a body in one go, so a read takes milliseconds.
 * - timeoutMs 10 s: Teams waits 15 s for the whole answer; a body still arriving after 10 s is not its.
 */
const TEAMS_BODY_LIMITS: BodyLimits = { maxBytes: 1024 * 1024, maxConcurrentReads: 32, timeoutMs: 10_000 };

/** Hosts an unauthenticated endpoint may send replies to: only this machine. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Where a turn leaves what to do once its HTTP response is written. */
const AFTER_ACK = Symbol('hrbot.teams.afterAck');

/**
 * The Teams adapter: POST /api/messages through botbuilder's CloudAdapter, an ActivityHandler that
 * turns activities into engine messages, and replies rendered back as Adaptive Cards or markdown.
 *
 * A message the bot answers is written to the durable inbox inside the verified turn, so it is
 * stored before Teams gets its 200 (Teams wants a response within 15 s and never resends); the
 * inbox worker answers it through the saved conversation reference ({@link inboxHandler}). Card
 * actions stay synchronous: their effect is stored before the invoke response, which carries it.
 */
export class TeamsAdapter {
  readonly #adapter: CloudAdapter;
  readonly #bot: TeamsBot;
  readonly #log: Logger;
  readonly #authenticated: boolean;
  /** Notices and refusals sent after the HTTP response; the worker owns the answers. */
  readonly #afterAck = new BackgroundWork();
  readonly #bodies: BodyReader;
  /** The inbox worker's handler for Teams items: register it with `inbox.worker.handle('teams', …)`. */
  readonly inboxHandler: InboxHandler;

  constructor(options: TeamsAdapterOptions) {
    const { credentials, log, inbox } = options;
    const appId = credentials.appId ?? '';
    this.#log = log;
    this.#authenticated = credentials.appId !== undefined;
    this.#bodies = new BodyReader({ ...TEAMS_BODY_LIMITS, ...options.bodyLimits });
    const auth = new ConfigurationBotFrameworkAuthentication({
      ...(credentials.appId === undefined ? {} : { MicrosoftAppId: credentials.appId }),
      ...(credentials.appPassword === undefined ? {} : { MicrosoftAppPassword: credentials.appPassword }),
      ...(credentials.appType === undefined ? {} : { MicrosoftAppType: credentials.appType }),
      ...(credentials.tenantId === undefined ? {} : { MicrosoftAppTenantId: credentials.tenantId }),
    });
    const retry = connectorRetryPolicy(log, options.retry);
    reuseConnectorClients(auth, (client) => configureConnectorPipeline(client, retry, log));
    this.#adapter = new CloudAdapter(auth);
    // Connector clients are reused (cached-connectors.ts) and get our retry policy and the streaminfo fix
    // once, when made; every turn's outgoing activities keep their entities.
    this.#adapter.use(async (context, next) => {
      // Entities beyond type/text/mentioned (the AI label, citations) would be cut by the serializer.
      context.onSendActivities(async (_ctx, activities, nextSend) => {
        for (const activity of activities) carryEntities(activity);
        return nextSend();
      });
      context.onUpdateActivity(async (_ctx, activity, nextUpdate) => {
        carryEntities(activity);
        return nextUpdate();
      });
      await next();
    });
    this.#adapter.onTurnError = async (context, error) => {
      // The type comes from the request; only the Bot Framework's own names are logged, never free text.
      const type = context.activity.type;
      log.error({ err: describeError(error), activityType: (Object.values(ActivityTypes) as string[]).includes(type) ? type : 'other' }, 'teams turn failed');
      // An invoke waits for its own response; without one botbuilder answers 501, as if the bot had no
      // handler. Say what happened instead: the bot failed.
      if (context.activity.type === 'invoke' && context.turnState.get(INVOKE_RESPONSE_KEY) === undefined) {
        await context.sendActivity({ type: 'invokeResponse', value: { status: 500 } });
      }
    };
    // Messages Teams cannot find again after a crash (notices, each stream's first update) go out a
    // few at a time, so a kill can leave at most that many beside their answers.
    const firstSends = new PQueue({ concurrency: DEFAULT_NOTICE_QUEUE.concurrency });
    // A chat shows its messages in the order they were sent: each question's first message in question order.
    const order = new ShowOrder();
    const gate = new TeamsInboxGate(
      {
        inbox: inbox.store,
        firstSends,
        order,
        send: (target, text) =>
          continueTurn(this.#adapter, appId, target, async (context) => (await context.sendActivity({ type: 'message', text, textFormat: 'plain' }))?.id),
        log,
        metrics: options.metrics,
        onStored: () => inbox.worker.notify(),
        pace: inbox.worker,
      },
      options.notices,
    );
    const feedback = new FeedbackTargets(options.maxFeedbackTargets);
    const cards = options.cards ?? DEFAULTS.cards;
    this.#bot = new TeamsBot({
      engine: options.engine,
      gate,
      log,
      authenticated: this.#authenticated,
      maxRemembered: options.maxRememberedActivities ?? DEFAULTS.maxRememberedActivities,
      feedback,
      botName: options.botName ?? DEFAULTS.botName,
      cards,
    });
    this.inboxHandler = answerTeamsItem({
      adapter: this.#adapter,
      appId,
      engine: options.engine,
      log,
      cards,
      stream: options.stream ?? {},
      knowledgeBaseUrl: options.knowledgeBaseUrl,
      feedback,
      firstSends,
      order,
    });
  }

  /** Whether requests must carry a Bot Framework token. */
  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** Notices still being sent after their HTTP response. */
  get pendingNotices(): number {
    return this.#afterAck.size;
  }

  /** The handler for `POST /api/messages`. */
  readonly handleRequest = async (request: HttpRequest, response: ServerResponse): Promise<void> => {
    const authorization = request.headers.authorization;
    // Refused before reading the body and before botbuilder could fetch signing keys over the network.
    if (this.#authenticated && (authorization === undefined || !/^Bearer\s+\S+/i.test(authorization))) {
      this.#log.warn('teams request without a bearer token refused');
      refuseUnread(response, 401, 'unauthorized');
      return;
    }
    // Too large, too slow or too many at once: RequestBodyError, answered by the HTTP server.
    const raw = await this.#bodies.read(request);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch (error) {
      if (error instanceof SyntaxError) {
        sendText(response, 400, 'malformed JSON');
        return;
      }
      throw error;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof (body as { type?: unknown }).type !== 'string') {
      sendText(response, 400, 'not a Bot Framework activity');
      return;
    }
    const activity = body as Partial<Activity>;
    if (isMalformedCardAction(activity)) {
      // botbuilder would read `value.action.type` of it, throw, and answer 501.
      sendJson(response, 400, cardActionError('value.action must be an object'));
      return;
    }
    if (!this.#authenticated && !isLoopbackServiceUrl(activity.serviceUrl)) {
      // Without a token nothing proves the caller is the Bot Framework, so replies may only go to this machine.
      this.#log.warn('unauthenticated teams request with a non-local serviceUrl refused');
      sendText(response, 401, 'unauthorized');
      return;
    }
    const shim = new BotResponse(response);
    let afterAck: AfterAck | undefined;
    await this.#adapter.process(botRequest(request.method ?? 'POST', request.headers, body as Record<string, unknown>), shim, async (context) => {
      await this.#bot.run(context);
      afterAck = context.turnState.get<AfterAck | undefined>(AFTER_ACK);
    });
    if (!shim.ended) sendText(response, 500, 'internal error');
    // Only now, with the 200 written: a notice must never hold up Teams' ack.
    if (afterAck !== undefined) void this.#afterAck.track(afterAck());
  };

  /** Wait (bounded) for notices still being sent. Answers belong to the inbox worker, which its owner stops. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (!(await this.#afterAck.drain(timeoutMs))) this.#log.warn({ pending: this.#afterAck.size }, 'teams notices still being sent at shutdown');
  }
}

interface TeamsBotOptions {
  engine: TeamsEngine;
  gate: TeamsInboxGate;
  log: Logger;
  authenticated: boolean;
  maxRemembered: number;
  feedback: FeedbackTargets;
  botName: string;
  cards: boolean;
}

/** What to do with each activity type; everything not handled here is ignored. */
class TeamsBot extends ActivityHandler {
  readonly #options: TeamsBotOptions;
  readonly #seen: RecentIds;

  constructor(options: TeamsBotOptions) {
    super();
    this.#options = options;
    this.#seen = new RecentIds(options.maxRemembered);
    this.onMessage(async (context, next) => {
      await this.#onMessage(context);
      await next();
    });
    this.onMembersAdded(async (context, next) => {
      const activity = context.activity;
      if ((activity.membersAdded ?? []).some((member) => member.id === activity.recipient.id)) await this.#welcome(context);
      await next();
    });
    this.onMembersRemoved(async (context, next) => {
      const activity = context.activity;
      if ((activity.membersRemoved ?? []).some((member) => member.id === activity.recipient.id)) this.#forgetWelcome(activity);
      await next();
    });
    // Teams sends both a conversationUpdate and an installationUpdate on install; either may come
    // first, and the welcome goes out once. 'add-upgrade' is a new app version, not a new install.
    this.onInstallationUpdate(async (context, next) => {
      const action = context.activity.action;
      if (action === 'add') await this.#welcome(context);
      else if (action === 'remove') this.#forgetWelcome(context.activity);
      await next();
    });
  }

  async #onMessage(context: TurnContext): Promise<void> {
    const activity = context.activity;
    if (isFromBot(activity)) return;
    // Action.Submit buttons (older clients, the emulator) arrive as a message carrying the card data.
    const cardAction = parseCardAction(activity.value);
    if (cardAction !== undefined) {
      const reply = await this.#act(activity, cardAction);
      await context.sendActivity({ type: 'message', text: reply.text, textFormat: 'markdown' });
      return;
    }
    const message = toIncomingMessage(activity, this.#options.authenticated);
    // toIncomingMessage only returns a message for an activity with an id.
    if (message === undefined || activity.id === undefined) return;
    const work: TeamsWork = { message: storableMessage(message), reference: replyReference(activity, message), replyToId: activity.id };
    const afterAck = await this.#options.gate.accept(work, sentAtOf(activity));
    if (afterAck !== undefined) context.turnState.set(AFTER_ACK, afterAck);
  }

  /** Welcome a conversation the bot was just installed in, once however many install events say so. */
  async #welcome(context: TurnContext): Promise<void> {
    const key = welcomeKey(context.activity);
    if (key === undefined || !this.#seen.add(key)) return;
    const scope = conversationKindOf(context.activity) === 'dm' ? 'personal' : 'shared';
    await context.sendActivity(welcomeActivity(scope, { botName: this.#options.botName, cards: this.#options.cards }));
  }

  /** Uninstalled: a later install here is welcomed again. */
  #forgetWelcome(activity: Activity): void {
    const key = welcomeKey(activity);
    if (key !== undefined) this.#seen.delete(key);
  }

  protected override async onInvokeActivity(context: TurnContext): Promise<InvokeResponse> {
    if (context.activity.name === SUBMIT_ACTION) return this.#onSubmitAction(context);
    return super.onInvokeActivity(context);
  }

  /**
   * A 👍/👎 from Teams' feedback loop: recorded through the engine's feedback path, which accepts
   * it only from the answer's owner (the verified tenant and AAD object id of the presser). Teams
   * wants 200 with an empty body and shows its own confirmation, so nothing is sent back.
   */
  async #onSubmitAction(context: TurnContext): Promise<InvokeResponse> {
    const activity = context.activity;
    const press = parseFeedbackPress(activity.value);
    if (press === undefined) return { status: 400 };
    const answerId = activity.replyToId === undefined ? undefined : this.#options.feedback.answerOf(activity.conversation.id, activity.replyToId);
    if (answerId === undefined) {
      // Forgotten (a restart, or older than the remembered window): Teams has shown its notice already.
      this.#options.log.info({ rating: press.rating }, 'teams feedback on a message no longer remembered; not recorded');
      return { status: 200 };
    }
    const identity = identityOf(activity, this.#options.authenticated);
    const eventId = eventIdOf(activity);
    if (identity === undefined || eventId === undefined) {
      this.#options.log.warn('teams feedback without a verified user or id; not recorded');
      return { status: 200 };
    }
    const owner = { platform: 'teams' as const, tenantId: identity.tenantId, userId: identity.userId };
    const reply = await this.#options.engine.act({ ...owner, action: { type: 'feedback', answerId, rating: press.rating }, eventId });
    // The form's text goes with the rating, for the answer's owner only (the engine checks); never logged.
    const comment = press.comment === undefined ? undefined : await this.#options.engine.commentOnFeedback?.(owner, answerId, { comment: press.comment });
    this.#options.log.info({ rating: press.rating, outcome: reply.kind, comment: comment ?? 'none', chars: press.comment?.length ?? 0 }, 'teams feedback handled');
    return { status: 200 };
  }

  protected override async onAdaptiveCardInvoke(context: TurnContext, invokeValue: AdaptiveCardInvokeValue): Promise<AdaptiveCardInvokeResponse> {
    const data = parseCardAction(invokeValue.action.data);
    if (data === undefined) return cardActionError('Unknown card action');
    const reply = await this.#act(context.activity, data);
    return { statusCode: 200, type: 'application/vnd.microsoft.activity.message', // Teams shows a string value as a toast; the SDK's type says object because other response types carry one.
    value: reply.text as unknown as Record<string, unknown> };
  }

  async #act(activity: Activity, data: CardActionData): Promise<Reply> {
    const identity = identityOf(activity, this.#options.authenticated);
    const eventId = eventIdOf(activity);
    if (identity === undefined || eventId === undefined) {
      return { kind: 'error', text: "I couldn't tell who pressed that button, so I did nothing.", sources: [], visibility: 'private' };
    }
    return this.#options.engine.act(toUserAction(data, identity, eventId));
  }
}

/**
 * Where the answer goes: the conversation the message came from. In a channel that is its reply
 * chain (`;messageid=<root>`), added when Teams sent a root post without it.
 */
function replyReference(activity: Activity, message: IncomingMessage): Partial<ConversationReference> {
  const reference = TurnContext.getConversationReference(activity);
  const conversation = { ...activity.conversation };
  if (message.conversationKind === 'channel' && message.threadId !== undefined && !conversation.id.includes(';messageid=')) {
    conversation.id = `${conversation.id};messageid=${message.threadId}`;
  }
  return { ...reference, conversation };
}

/** Teams' own timestamp of a message in ms (it orders a conversation, and a redelivery carries the same), if it has one. */
function sentAtOf(activity: Activity): number | undefined {
  const stamp: unknown = activity.timestamp;
  const ms = stamp instanceof Date ? stamp.getTime() : typeof stamp === 'string' ? Date.parse(stamp) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}


/** An `adaptiveCard/action` invoke whose value has no action object to read. */
function isMalformedCardAction(activity: Partial<Activity>): boolean {
  if (activity.type !== 'invoke' || activity.name !== 'adaptiveCard/action') return false;
  const value: unknown = activity.value;
  // A missing value botbuilder answers with 400 itself.
  if (value === undefined || value === null) return false;
  if (typeof value !== 'object') return true;
  const action = (value as { action?: unknown }).action;
  return typeof action !== 'object' || action === null || Array.isArray(action);
}

/** The error an Adaptive Card invoke answers with (Teams shows it on the card). */
function cardActionError(message: string): AdaptiveCardInvokeResponse {
  return { statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'BadRequest', message } };
}

function isLoopbackServiceUrl(serviceUrl: unknown): boolean {
  if (typeof serviceUrl !== 'string' || !URL.canParse(serviceUrl)) return false;
  return LOOPBACK_HOSTS.has(new URL(serviceUrl).hostname);
}

/** One welcome per conversation (a channel's reply chains are the same conversation). */
function welcomeKey(activity: Partial<Activity>): string | undefined {
  const id = activity.conversation?.id;
  return id === undefined ? undefined : (id.split(';')[0] ?? id);
}

/** A bounded set of recently seen ids; the oldest is forgotten first. */
class RecentIds {
  readonly #ids = new Set<string>();
  readonly #max: number;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`Expected \`maxRememberedActivities\` to be an integer >= 1, got ${max}`);
    this.#max = max;
  }

  /** Remember an id; false when it was already there. */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false;
    this.#ids.add(id);
    if (this.#ids.size > this.#max) {
      const oldest = this.#ids.values().next().value;
      if (oldest !== undefined) this.#ids.delete(oldest);
    }
    return true;
  }

  /** Forget an id, so it can be added again. */
  delete(id: string): void {
    this.#ids.delete(id);
  }
}


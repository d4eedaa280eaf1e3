import type { IncomingMessage as HttpRequest, ServerResponse } from 'node:http';
import { ActivityHandler, ActivityTypes, CloudAdapter, ConfigurationBotFrameworkAuthentication, INVOKE_RESPONSE_KEY, TurnContext } from 'botbuilder';
import type { Activity, AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue, ConversationReference } from 'botbuilder';
import { BackgroundWork } from '../../src/background-work.ts';
import { refuseUnread, sendJson, sendText } from '../../src/http/http-server.ts';
import type { BodyLimits } from '../../src/http/read-body.ts';
import { BodyReader } from '../../src/http/read-body.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { IncomingMessage, Reply, ReplyHooks, UserAction } from '../../src/message.ts';
import type { ConnectorRetryOptions } from './connector-pipeline.ts';
import { configureConnectorPipeline, connectorRetryPolicy } from './connector-pipeline.ts';
import { describeError } from './describe-error.ts';
import { BotResponse, botRequest } from './http-shim.ts';
import type { CardActionData } from './parse-activity.ts';
import { eventIdOf, identityOf, isFromBot, parseCardAction, toIncomingMessage, toUserAction } from './parse-activity.ts';
import { renderReply } from './render-reply.ts';
import type { StreamOptions } from './stream-progress.ts';
import { TeamsStream } from './stream-progress.ts';

/** The two engine calls the Teams adapter needs. */
export interface TeamsEngine {
  handle(message: IncomingMessage, hooks?: ReplyHooks): Promise<Reply | null>;
  act(action: UserAction): Promise<Reply>;
}

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
  log: Logger;
  credentials: TeamsCredentials;
  /** Adaptive Cards for answers; false renders markdown only. Default true. */
  cards?: boolean;
  stream?: StreamOptions;
  retry?: ConnectorRetryOptions;
  /** Answers still being worked on after their HTTP response; past it new messages get 503. */
  maxBackgroundJobs?: number;
  /** Recently seen activity ids, to skip a redelivery without even a typing indicator. */
  maxRememberedActivities?: number;
  /** How request bodies are read; defaults (and why) at TEAMS_BODY_LIMITS: 1 MiB, 32 at once, 10 s. */
  bodyLimits?: Partial<BodyLimits>;
}

const DEFAULTS = { cards: true, maxBackgroundJobs: 1000, maxRememberedActivities: 10_000 } as const;

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

const WELCOME_PERSONAL =
  "Hi! I'm the HR assistant. Ask me anything about our HR policies in your own words, or type `help` to see the commands (`policy parental leave`, `holidays`, `contact payroll`, …).";
const WELCOME_CHANNEL = "Hi! I'm the HR assistant. Mention me with a question, e.g. `@HR Bot how many vacation days do I get?`, or `@HR Bot help`.";
// Personal commands are refused before running where replies are public (see IncomingMessage.privateReplies),
// so what is left here is a refusal or error meant for the asker alone: nothing was done.
const PRIVATE_IN_CHANNEL = 'That reply is meant for you alone, so I only give it in a personal chat. Message me directly and ask again.';

/**
 * The Teams adapter: POST /api/messages through botbuilder's CloudAdapter, an ActivityHandler that
 * turns activities into engine messages, and replies rendered back as Adaptive Cards or markdown.
 *
 * The HTTP request is answered as soon as the activity is accepted (Teams wants a response within
 * 15 s); the answer is worked on afterwards and sent through the saved conversation reference.
 */
export class TeamsAdapter {
  readonly #adapter: CloudAdapter;
  readonly #bot: TeamsBot;
  readonly #log: Logger;
  readonly #authenticated: boolean;
  readonly #maxJobs: number;
  readonly #jobs = new BackgroundWork();
  readonly #bodies: BodyReader;
  #closing = false;

  constructor(options: TeamsAdapterOptions) {
    const { credentials, log } = options;
    this.#log = log;
    this.#authenticated = credentials.appId !== undefined;
    this.#maxJobs = options.maxBackgroundJobs ?? DEFAULTS.maxBackgroundJobs;
    this.#bodies = new BodyReader({ ...TEAMS_BODY_LIMITS, ...options.bodyLimits });
    const auth = new ConfigurationBotFrameworkAuthentication({
      ...(credentials.appId === undefined ? {} : { MicrosoftAppId: credentials.appId }),
      ...(credentials.appPassword === undefined ? {} : { MicrosoftAppPassword: credentials.appPassword }),
      ...(credentials.appType === undefined ? {} : { MicrosoftAppType: credentials.appType }),
      ...(credentials.tenantId === undefined ? {} : { MicrosoftAppTenantId: credentials.tenantId }),
    });
    this.#adapter = new CloudAdapter(auth);
    const retry = connectorRetryPolicy(log, options.retry);
    // Every turn, incoming or proactive, gets a fresh connector client; give each our retry policy
    // and the streaminfo fix.
    this.#adapter.use(async (context, next) => {
      configureConnectorPipeline(context.turnState.get(this.#adapter.ConnectorClientKey), retry, log);
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
    this.#bot = new TeamsBot({
      engine: options.engine,
      log,
      authenticated: this.#authenticated,
      cards: options.cards ?? DEFAULTS.cards,
      stream: options.stream ?? {},
      maxRemembered: options.maxRememberedActivities ?? DEFAULTS.maxRememberedActivities,
      schedule: (reference, work) => this.#schedule(credentials.appId ?? '', reference, work),
    });
  }

  /** Whether requests must carry a Bot Framework token. */
  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** Answers still being worked on. */
  get pendingJobs(): number {
    return this.#jobs.size;
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
    if (activity.type === 'message' && (this.#closing || this.#jobs.size >= this.#maxJobs)) {
      // The Bot Framework redelivers on 5xx; the engine's dedupe makes that safe.
      response.setHeader('retry-after', '5');
      sendText(response, 503, 'busy');
      return;
    }
    const shim = new BotResponse(response);
    await this.#adapter.process(botRequest(request.method ?? 'POST', request.headers, body as Record<string, unknown>), shim, (context) =>
      this.#bot.run(context),
    );
    if (!shim.ended) sendText(response, 500, 'internal error');
  };

  /** Stop taking new messages and wait (bounded) for answers in flight to be sent. */
  async close(timeoutMs = 10_000): Promise<void> {
    this.#closing = true;
    if (!(await this.#jobs.drain(timeoutMs))) this.#log.warn({ pending: this.#jobs.size }, 'teams answers still pending at shutdown');
  }

  #schedule(appId: string, reference: Partial<ConversationReference>, work: (context: TurnContext) => Promise<void>): void {
    void this.#jobs.track(
      this.#adapter.continueConversationAsync(appId, reference, work).catch((error: unknown) => {
        this.#log.error({ err: describeError(error) }, 'teams background answer failed');
      }),
    );
  }
}

interface TeamsBotOptions {
  engine: TeamsEngine;
  log: Logger;
  authenticated: boolean;
  cards: boolean;
  stream: StreamOptions;
  maxRemembered: number;
  schedule(reference: Partial<ConversationReference>, work: (context: TurnContext) => Promise<void>): void;
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
      await this.#onMembersAdded(context);
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
    if (message === undefined) return;
    if (!this.#seen.add(message.eventId)) {
      this.#options.log.info({ platform: 'teams' }, 'redelivered teams activity ignored');
      return;
    }
    const reference = replyReference(activity, message);
    const incomingId = activity.id;
    this.#options.schedule(reference, async (proactive) => {
      // A continuation turn has a made-up activity id; replies must point at the user's message.
      proactive.onSendActivities(async (_ctx, activities, next) => {
        for (const outgoing of activities) outgoing.replyToId = incomingId;
        return next();
      });
      await this.#answer(proactive, message);
    });
  }

  async #answer(context: TurnContext, message: IncomingMessage): Promise<void> {
    const { log, engine, cards } = this.#options;
    try {
      await context.sendActivity({ type: 'typing' });
    } catch (error) {
      log.warn({ err: describeError(error) }, 'teams typing indicator failed');
    }
    // Teams streams only in one-to-one chats; elsewhere the answer is buffered into one message.
    const stream =
      message.conversationKind === 'dm'
        ? new TeamsStream((activity) => context.sendActivity(activity), log, this.#options.stream)
        : undefined;
    const reply = await engine.handle(message, stream === undefined ? undefined : { onProgress: (progress) => stream.progress(progress) });
    if (reply === null) return;
    const shown: Reply =
      message.conversationKind !== 'dm' && reply.visibility === 'private' ? { kind: 'notice', text: PRIVATE_IN_CHANNEL, sources: [], visibility: 'public' } : reply;
    const final = stream?.finalFields();
    const rendered = renderReply(shown, { cards, textOutsideCard: final !== undefined });
    if (final === undefined) {
      await context.sendActivity(rendered);
      return;
    }
    try {
      await context.sendActivity({ ...rendered, ...final });
    } catch (error) {
      // Teams refuses a final message for a stream it has closed (4xx); the answer still goes out, as a plain message.
      const status = (error as { statusCode?: unknown }).statusCode;
      if (typeof status !== 'number' || status < 400 || status >= 500 || status === 429) throw error;
      log.warn({ err: describeError(error) }, 'teams refused the stream final message; sending it as a new message');
      await context.sendActivity(rendered);
    }
  }

  async #onMembersAdded(context: TurnContext): Promise<void> {
    const activity = context.activity;
    const botAdded = (activity.membersAdded ?? []).some((member) => member.id === activity.recipient.id);
    const eventId = eventIdOf(activity);
    if (!botAdded || eventId === undefined || !this.#seen.add(eventId)) return;
    const personal = activity.conversation.conversationType === 'personal' || activity.conversation.conversationType === undefined;
    await context.sendActivity({ type: 'message', text: personal ? WELCOME_PERSONAL : WELCOME_CHANNEL, textFormat: 'markdown' });
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
}


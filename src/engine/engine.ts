import type { Answerer } from '../answer/answerer.ts';
import { HandbookExcerptAnswerer, renderSections } from '../answer/handbook-excerpts.ts';
import { sourceOf } from '../answer/answerer.ts';
import { BusyError, ForbiddenError, HrbotError, RateLimitedError, toError } from '../errors.ts';
import type { HandbookIndex, Holiday, HrContact } from '../handbook/handbook-index.ts';
import type { Logger } from '../log/logger.ts';
import type { ConversationMemoryOptions } from '../memory/conversation-memory.ts';
import { ConversationMemory } from '../memory/conversation-memory.ts';
import type { IncomingMessage, Progress, Reply, ReplyHooks, UserAction } from '../message.ts';
import { assertNever, historyText } from '../message.ts';
import { Metrics, REPLY_SECONDS_BUCKETS } from '../metrics.ts';
import type { Db } from '../store/database.ts';
import type { ErasureMark, ErasureStore } from '../store/erasure.ts';
import { SqliteErasureStore } from '../store/erasure.ts';
import type { EventLedger } from '../store/event-ledger.ts';
import { SqliteEventLedger } from '../store/event-ledger.ts';
import type { FeedbackNote } from '../store/history-store.ts';
import type { HistoryStore } from '../store/history-store.ts';
import { SqliteHistoryStore } from '../store/history-store.ts';
import { JournalPurge } from '../store/journal-purge.ts';
import type { Admission, UsageLimits, UsageStore } from '../store/usage-store.ts';
import { SqliteUsageStore } from '../store/usage-store.ts';
import type { CommandName } from './command-parser.ts';
import { parseCommand } from './command-parser.ts';
import type { ConversationLanesOptions } from './conversation-lanes.ts';
import { ConversationLanes } from './conversation-lanes.ts';
import { contactTopic } from './contact-intent.ts';
import { isFollowUp } from './follow-up.ts';
import { holidayQuestion } from './holiday-intent.ts';
import type { HolidayQuestion } from './holiday-intent.ts';
import { sensitiveTopic } from './sensitive-topics.ts';
import type { SensitiveMatch } from './sensitive-topics.ts';
import { cleanText } from './input-text.ts';
import type { Owner } from './ownership.ts';
import { conversationKey, ownerKey, tenantKey } from './ownership.ts';
import { DEFAULT_BOT_NAME, DROPPED_AFTER_ERASE_TEXT, erasedText, helpText, textReply, waitText } from './replies.ts';
import type { SuggestedTopic } from './suggested-topics.ts';
import { suggestedTopics } from './suggested-topics.ts';
import { quoteUserText } from './user-text.ts';
import type { UserSummary } from './user-summary.ts';
import { SUMMARY_DAYS, SUMMARY_QUESTIONS } from './user-summary.ts';

/** Engine limits; every one has a default in `.env.example`. */
export interface EngineOptions {
  /** Longest message accepted, in characters after cleaning. */
  maxMessageChars: number;
  limits: UsageLimits;
  lanes: ConversationLanesOptions;
  /** Owner keys (`platform:tenant:user`, see ownerKey) of the users allowed admin commands; parsed by parseAdmins. */
  admins: ReadonlySet<string>;
  /** Bounds of the in-memory conversation memory (earlier turns handed to the answerer); defaults in its options type. */
  memory?: Partial<ConversationMemoryOptions>;
  /**
   * False when RETENTION_DAYS=0: questions and answers are not stored at all (so no history, no
   * follow-up context and no feedback buttons); only today's quota counts are. Default true.
   */
  keepHistory?: boolean;
  /** The product name the bot introduces itself with (BOT_NAME); default {@link DEFAULT_BOT_NAME}. */
  botName?: string;
}

/** What the engine is built from. */
export interface EngineDependencies {
  db: Db;
  handbook: HandbookIndex;
  log: Logger;
  metrics?: Metrics;
  /** Writes answers; defaults to handbook excerpts (AI off). */
  answerer?: Answerer;
  /** Rate limits and quotas; default on `db` (SQLite) with `limits` from the options. */
  usage?: UsageStore;
  /** Conversation history and feedback; default on `db` (SQLite). */
  history?: HistoryStore;
  /** Event ids seen (dedupe of what does not come through the inbox); default on `db` (SQLite). */
  ledger?: EventLedger;
  /** `/hr forget` and the marks turns take, with any per-user tables added to the erase; default on `db` (SQLite). */
  erasure?: ErasureStore;
  /**
   * Empties the database journal after an erase; defaults to one of its own on `db`. `null` when no
   * local journal holds users' data (on PostgreSQL the SQLite file holds only the handbook index).
   */
  journal?: JournalPurge | null;
  /** The clock for "this year" and "the next holiday", in ms since the epoch; default `Date.now`. */
  now?: () => number;
}

/** How {@link Engine.handle} treats one message. */
export interface HandleOptions {
  /**
   * The durable inbox already guarantees this event is answered once (it is the dedupe), so the
   * event ledger is skipped: a crash's leftover claim must not silence the retry.
   */
  deduplicated?: boolean;
  /** Whether an earlier attempt at this message already counted it against the user's limits (the inbox keeps it). */
  admission?: Admission;
  /** When the inbox received the event, the same on every attempt (ms): the answer's id starts with it. */
  receivedAt?: number;
}

interface Turn {
  message: IncomingMessage;
  owner: string;
  /** The owner's erasure mark when the message arrived: every write of this turn is dropped if they were erased since. */
  mark: ErasureMark;
  tenant: string;
  conversation: string;
  text: string;
  hooks?: ReplyHooks;
  admission?: Admission;
  /** The platform event this turn answers, when the inbox answers it (again after a crash, maybe): its history is appended once. */
  exchangeKey?: string;
  /** When the inbox received that event (see HandleOptions.receivedAt). */
  exchangeAt?: number;
}

const HISTORY_LIST_LIMIT = 10;
/** Passages handed to the answerer: the model reads them all; the excerpt answerer shows the best few. */
const ANSWER_PASSAGES = 8;
/** What the channel sees of a sensitive question answered privately: nothing about the question or the answer. */
export const PRIVATE_ANSWER_NOTE = "I've answered that privately: only the person who asked can see the answer.";
/** Passages shown for `/hr policy`. */
const POLICY_PASSAGES = 3;
/** Most holidays listed for "the next holiday". */
const UPCOMING_HOLIDAYS = 3;
/** How long `/hr forget` waits for the journal to be emptied before replying (the purge goes on after). */
const FORGET_PURGE_WAIT_MS = 1_000;

/** Commands whose reply is about the asker alone; they run only where `privateReplies` holds. */
const PERSONAL_COMMANDS: ReadonlySet<CommandName> = new Set(['history', 'usage', 'forget']);

/**
 * The core: every platform's messages come through {@link Engine.handle} and leave as a Reply.
 * Order of work: dedupe → ownership → limits (counted before any work) → command → answer →
 * append to history. Failures become a clear reply and are logged once; nothing is swallowed.
 */
export class Engine {
  readonly metrics: Metrics;
  readonly #db: Db;
  readonly #handbook: HandbookIndex;
  readonly #log: Logger;
  readonly #answerer: Answerer;
  readonly #options: EngineOptions;
  readonly #ledger: EventLedger;
  readonly #erasure: ErasureStore;
  readonly #history: HistoryStore;
  readonly #usage: UsageStore;
  readonly #lanes: ConversationLanes;
  readonly #memory: ConversationMemory;
  readonly #journal: JournalPurge | null;
  readonly #now: () => number;
  /** Told after each erase (adapters refresh what they show about the user); a few at most, one per adapter. */
  readonly #erasedListeners = new Set<(owner: Owner) => void>();

  constructor(deps: EngineDependencies, options: EngineOptions) {
    this.#db = deps.db;
    this.#handbook = deps.handbook;
    this.#log = deps.log;
    this.metrics = deps.metrics ?? new Metrics();
    this.#answerer = deps.answerer ?? new HandbookExcerptAnswerer();
    this.#options = options;
    this.#ledger = deps.ledger ?? new SqliteEventLedger(deps.db);
    this.#erasure = deps.erasure ?? new SqliteErasureStore(deps.db);
    this.#history = deps.history ?? new SqliteHistoryStore(deps.db);
    this.#usage = deps.usage ?? new SqliteUsageStore(deps.db, options.limits);
    this.#lanes = new ConversationLanes(options.lanes);
    this.#memory = new ConversationMemory(this.#history, options.memory);
    this.#journal = deps.journal === undefined ? new JournalPurge(deps.db, { log: deps.log }) : deps.journal;
    this.#now = deps.now ?? Date.now;
    this.metrics.collect(() => this.metrics.set('hrbot_active_conversations', 'Conversations with work in flight', this.#lanes.active));
  }

  /** Conversations with work in flight right now (for readiness). */
  get activeConversations(): number {
    return this.#lanes.active;
  }

  /**
   * Answer one message. Returns null when the message is a redelivery of one already handled or
   * being handled, so the adapter sends nothing.
   */
  async handle(message: IncomingMessage, hooks?: ReplyHooks, options: HandleOptions = {}): Promise<Reply | null> {
    const eventKey = `${message.platform}:${message.eventId}`;
    const claim = options.deduplicated === true ? 'claimed' : await this.#ledger.claim(eventKey);
    if (claim !== 'claimed') {
      this.metrics.increment('hrbot_duplicate_events_total', 'Redelivered events not processed again', { platform: message.platform });
      this.#log.info({ platform: message.platform, claim }, 'duplicate event ignored');
      return null;
    }
    const owner = ownerKey(message);
    const turn: Turn = {
      message,
      owner,
      // Taken on arrival, before waiting in the lane: a message that arrived before an erase writes nothing after it.
      mark: await this.#erasure.mark(owner),
      tenant: tenantKey(message),
      conversation: conversationKey(message),
      text: '',
      // Answerers get hooks that never throw: a failed progress update is logged here, once.
      ...(hooks?.onProgress === undefined ? {} : { hooks: { onProgress: (progress: Progress) => this.#progress(hooks, progress) } }),
      ...(options.admission === undefined ? {} : { admission: options.admission }),
      // Inbox events are platform ids, unique per platform and tenant (Teams': per conversation too).
      ...(options.deduplicated === true ? { exchangeKey: `${message.platform}:${message.tenantId}:${message.eventId}` } : {}),
      ...(options.receivedAt === undefined ? {} : { exchangeAt: options.receivedAt }),
    };
    const started = performance.now();
    // The logger keeps `text` only at debug level, redacted and truncated.
    this.#log.debug({ platform: message.platform, ownerKey: turn.owner, text: message.text }, 'message received');
    let reply: Reply;
    try {
      reply = await this.#lanes.run(turn.conversation, () => this.#process(turn));
    } catch (error) {
      reply = this.#failureReply(error, message.platform, 'message');
    }
    // Marked done even when the reply reports a failure: the user has been answered, and a
    // platform retry must not produce a second reply.
    if (options.deduplicated !== true) await this.#ledger.finish(eventKey);
    this.metrics.increment('hrbot_replies_total', 'Replies sent, by kind', { platform: message.platform, kind: reply.kind });
    const ms = performance.now() - started;
    this.metrics.observe(
      'hrbot_handle_seconds',
      'Time from the engine taking a message to its reply (conversation queue included, delivery not), by platform and reply kind',
      ms / 1000,
      { platform: message.platform, kind: reply.kind },
      REPLY_SECONDS_BUCKETS,
    );
    this.#log.info(
      { platform: message.platform, ownerKey: turn.owner, kind: reply.kind, ms: Math.round(ms) },
      'message handled',
    );
    return reply;
  }

  /** Act on a button or card: feedback on an answer, or erasing the acting user's data. */
  /** Topics worth suggesting in a workspace or tenant: its most-asked handbook sections, never anyone's own words. */
  suggestions(tenant: Pick<Owner, 'platform' | 'tenantId'>): Promise<SuggestedTopic[]> {
    return suggestedTopics(this.#history, this.#db, tenant);
  }

  async act(action: UserAction): Promise<Reply> {
    const actor: Owner = action;
    const eventKey = `${action.platform}:${action.eventId}`;
    if ((await this.#ledger.claim(eventKey)) !== 'claimed') {
      return textReply('notice', 'Already done.', 'private');
    }
    let reply: Reply;
    try {
      switch (action.action.type) {
        case 'feedback': {
          const owner = await this.#history.answerOwner(action.action.answerId);
          if (owner === undefined) throw new ForbiddenError('No such answer');
          // Ownership comes from the verified actor, never from the payload's answer id alone.
          if (owner !== ownerKey(actor)) throw new ForbiddenError('That answer belongs to someone else');
          await this.#history.recordFeedback(action.action.answerId, owner, action.action.rating);
          this.metrics.increment('hrbot_feedback_total', 'Feedback ratings', { rating: action.action.rating });
          reply = textReply('notice', action.action.rating === 'up' ? 'Thanks for the feedback!' : 'Thanks, noted. HR reviews answers marked unhelpful.', 'private');
          break;
        }
        case 'forget':
          reply = await this.#forget(actor, 'your');
          break;
        default:
          assertNever(action.action);
      }
    } catch (error) {
      reply = this.#failureReply(error, action.platform, 'action');
    }
    await this.#ledger.finish(eventKey);
    return reply;
  }

  /** Whether `answerId` is an answer stored for `owner` (so a feedback form may be offered for it). */
  async ownsAnswer(owner: Owner, answerId: string): Promise<boolean> {
    return (await this.#history.answerOwner(answerId)) === ownerKey(owner);
  }

  /**
   * Store what the verified `actor` said was wrong with their answer (the answer then counts as
   * rated down). Refused, with nothing written, for an answer that is not theirs or no longer stored.
   * The note is never logged.
   */
  async commentOnFeedback(actor: Owner, answerId: string, note: FeedbackNote): Promise<'saved' | 'not_found' | 'forbidden'> {
    if (this.#options.keepHistory === false) return 'not_found';
    const outcome = await this.#history.recordFeedbackComment(answerId, ownerKey(actor), note);
    this.metrics.increment('hrbot_feedback_comments_total', 'Feedback forms submitted, by outcome', { outcome });
    return outcome;
  }

  /** What `owner` may see about themselves (and their workspace, for an admin): for a home page. */
  async summary(owner: Owner): Promise<UserSummary> {
    const key = ownerKey(owner);
    const keepsHistory = this.#options.keepHistory !== false;
    const summary: UserSummary = {
      keepsHistory,
      recentQuestions: keepsHistory ? await this.#history.recentQuestions(key, SUMMARY_QUESTIONS) : [],
      today: await this.#usage.userDay(key),
      recent: await this.#usage.userSince(key, SUMMARY_DAYS),
      limits: this.#usage.limits,
    };
    if (!this.#isAdmin(owner)) return summary;
    const tenant = tenantKey(owner);
    return { ...summary, admin: { today: await this.#usage.tenantDay(tenant), feedback: await this.#history.feedbackTotals(tenant, Date.now() - SUMMARY_DAYS * 24 * 60 * 60_000) } };
  }

  /** Call `listener` after every erase, with whose data went; returns a function that stops it. */
  onErased(listener: (owner: Owner) => void): () => void {
    this.#erasedListeners.add(listener);
    return () => this.#erasedListeners.delete(listener);
  }

  async #process(turn: Turn): Promise<Reply> {
    const { message } = turn;
    const limit = this.#options.maxMessageChars;
    // Cheap guard first, so a huge payload is not cleaned character by character.
    if (message.text.length > limit * 4) return tooLong(message.text.length, limit);
    turn.text = cleanText(message.text);
    if (turn.text.length > limit) return tooLong(turn.text.length, limit);

    const parsed = parseCommand(turn.text, message.command !== undefined);
    switch (parsed.type) {
      case 'empty':
        return textReply('help', "Hi! Ask me an HR question in your own words, or type `/hr help` to see what I can do.");
      case 'unknown':
        return textReply(
          'error',
          `I don't know the command _${quoteUserText(parsed.word, 40)}_. To ask a question, type \`/hr ask\` and the question, or see \`/hr help\`.`,
        );
      case 'command':
        break;
      default:
        assertNever(parsed);
    }
    const { name, args } = parsed;
    this.metrics.increment('hrbot_commands_total', 'Commands received', { platform: message.platform, command: name });
    // Nothing personal is done where its reply could not be shown to the asker alone (a Teams channel).
    if (PERSONAL_COMMANDS.has(name) && !message.privateReplies) return personalOnlyReply(name);
    // Erasing and help must always work, even for a user who is over their limits.
    if (name !== 'forget' && name !== 'help') {
      if (!(await this.#usage.admit(turn.owner, turn.tenant, { question: name === 'ask', mark: turn.mark, ...(turn.admission === undefined ? {} : { admission: turn.admission }) }))) {
        return textReply('notice', DROPPED_AFTER_ERASE_TEXT, 'private');
      }
    }
    return this.#run(name, args, turn);
  }

  async #run(name: CommandName, args: string, turn: Turn): Promise<Reply> {
    switch (name) {
      case 'help':
        return textReply('help', helpText(this.#isAdmin(turn.message), this.#options.botName ?? DEFAULT_BOT_NAME));
      case 'policy':
        return this.#policy(args, turn);
      case 'ask':
        return this.#ask(args, turn);
      case 'holidays':
        return this.#holidays(args);
      case 'contact':
        return this.#contact(args);
      case 'history':
        return this.#historyList(turn);
      case 'forget':
        return this.#forgetCommand(args, turn);
      case 'usage':
        return await this.#usageReport(turn);
      default:
        return assertNever(name);
    }
  }

  async #policy(args: string, turn: Turn): Promise<Reply> {
    if (args === '') return textReply('error', 'What should I look up? For example: `/hr policy parental leave`.');
    const sensitive = sensitiveTopic(args);
    const refusal = this.#privateOnly(sensitive, turn);
    if (refusal !== undefined) return refusal;
    const retrieval = this.#handbook.retrieve(args, { limit: POLICY_PASSAGES });
    // Below the confidence threshold the handbook does not cover it: say so and name who to ask,
    // instead of showing passages about something else.
    if (!retrieval.covered) return await this.#remember(turn, 'policy', args, this.#shown(this.#notFound(args, sensitive), sensitive, turn));
    const text = renderSections(retrieval.hits, `Handbook passages matching _${quoteUserText(args)}_:`);
    const reply: Reply = { kind: 'lookup', text, sources: retrieval.hits.map(sourceOf), visibility: 'public' };
    return await this.#remember(turn, 'policy', args, this.#shown(reply, sensitive, turn));
  }

  async #ask(question: string, turn: Turn): Promise<Reply> {
    if (question === '') return textReply('error', 'What would you like to know? For example: `/hr ask how many vacation days do I get?`');
    const sensitive = sensitiveTopic(question);
    const refusal = this.#privateOnly(sensitive, turn);
    if (refusal !== undefined) return refusal;

    // Questions with a structured answer: who to contact, the holiday calendar.
    const topic = contactTopic(question);
    const topicContacts = topic === undefined ? [] : this.#handbook.contacts(topic);
    if (topic !== undefined && topicContacts.length > 0) {
      return this.#remember(turn, 'ask', question, this.#shown(this.#contact(topic, topicContacts), sensitive, turn));
    }
    const holidays = holidayQuestion(question, this.#calendarTerms(), new Date(this.#now()));
    if (holidays !== undefined) return this.#remember(turn, 'ask', question, this.#shown(this.#holidayReply(holidays), sensitive, turn));

    // A sensitive question in a shared conversation gets no progress: a status line or a streamed
    // answer would show in public before the private reply replaces it.
    const hooks = sensitive !== undefined && turn.message.conversationKind !== 'dm' ? undefined : turn.hooks;
    await hooks?.onProgress?.({ type: 'status', text: 'Looking that up…' });
    // Earlier turns go into the prompt only for a follow-up; a question that stands alone keeps
    // its answer shareable. A follow-up also searches with the question it follows, at a lower weight.
    const earlier = isFollowUp(question) ? await this.#memory.recent(turn.conversation, turn.owner) : [];
    const previousQuestion = earlier.findLast((t) => t.role === 'user')?.text;
    // By words and, when AI is on, by meaning too (hybrid); /hr policy stays words alone, instant and without Bedrock.
    const retrieval = await this.#handbook.retrieveHybrid(question, { limit: ANSWER_PASSAGES, ...(previousQuestion === undefined ? {} : { antecedent: previousQuestion }) });
    if (!retrieval.covered) return this.#remember(turn, 'ask', question, this.#shown(this.#notFound(question, sensitive), sensitive, turn));
    const result = await this.#answerer.answer({
      question,
      sections: retrieval.hits,
      history: earlier,
      ownerKey: turn.owner,
      tenantKey: turn.tenant,
      erasureMark: turn.mark,
      ...(hooks === undefined ? {} : { hooks }),
    });
    if (result.usage !== undefined) await this.#usage.recordTokens(turn.owner, turn.tenant, result.usage, Date.now(), turn.mark);
    // The model read the passages and found they do not answer it: the reply is the one a search that
    // finds nothing gets, naming who in HR can help. An answer that cites a passage stands as written.
    if (result.notCovered === true) {
      return this.#remember(turn, 'ask', question, this.#shown(this.#notFound(question, sensitive, 'model'), sensitive, turn));
    }
    const reply: Reply = { kind: result.kind, text: result.text, sources: result.sources, visibility: 'public' };
    return this.#remember(turn, 'ask', question, this.#shown(reply, sensitive, turn));
  }

  /**
   * A sensitive question asked where a reply cannot be shown to the asker alone (a Teams channel):
   * nothing about it is answered there; the reply asks them to message the bot directly.
   */
  #privateOnly(sensitive: SensitiveMatch | undefined, turn: Turn): Reply | undefined {
    if (sensitive === undefined || turn.message.conversationKind === 'dm' || turn.message.privateReplies) return undefined;
    return textReply('notice', "That sounds like a personal matter, so I won't answer it here where others can read it. Message me directly and ask again, and I'll answer you privately.");
  }

  /**
   * A reply to a sensitive question: shown to the asker alone when asked in a channel or group (the
   * platform shows it privately; see IncomingMessage.privateReplies), with the HR contact for the topic.
   */
  #shown(reply: Reply, sensitive: SensitiveMatch | undefined, turn: Turn): Reply {
    if (sensitive === undefined) return reply;
    const contact = this.#contactFor(sensitive.contactQueries);
    const line = contact === undefined ? '' : `\n\n_For anything about your own situation, you can talk to ${contact.contact} in confidence: ${contactDetails(contact)}._`;
    const text = reply.text.includes(contact?.email ?? '\u0000') ? reply.text : `${reply.text}${line}`;
    if (turn.message.conversationKind === 'dm') return { ...reply, text };
    return { ...reply, text, visibility: 'private', publicNote: PRIVATE_ANSWER_NOTE };
  }

  /** The first contact matching any of `queries`, in order. */
  #contactFor(queries: readonly string[]): HrContact | undefined {
    for (const query of queries) {
      const found = this.#handbook.contacts(query)[0];
      if (found !== undefined) return found;
    }
    return undefined;
  }

  #calendarTerms(): { offices: string[]; names: string[] } {
    return { offices: this.#handbook.offices(), names: [...new Set(this.#handbook.calendar().map((holiday) => holiday.name))] };
  }

  #holidays(args: string): Reply {
    const years = this.#handbook.years();
    if (years.length === 0) return textReply('lookup', 'The holiday calendar is not in the handbook yet.');
    const offices = this.#handbook.offices();
    let year: number | undefined;
    let office: string | undefined;
    for (const word of args.split(/\s+/).filter((part) => part !== '')) {
      const named = offices.find((name) => name.toLowerCase() === word.toLowerCase());
      if (/^\d{4}$/.test(word) && year === undefined) year = Number(word);
      else if (named !== undefined && office === undefined) office = named;
      else {
        const where = offices.length === 0 ? '' : ` and optionally an office (${offices.join(', ')})`;
        return textReply('error', `Give the year as four digits${where}, e.g. \`/hr holidays ${years.at(-1) ?? 2027}\`.`);
      }
    }
    const thisYear = new Date(this.#now()).getUTCFullYear();
    return this.#holidayReply({ year: year ?? thisYear, upcoming: false, ...(office === undefined ? {} : { office }) });
  }

  /** The calendar's answer to a holiday question: a year's holidays, or the next ones, for one office or all. */
  #holidayReply(question: HolidayQuestion): Reply {
    const years = this.#handbook.years();
    if (years.length === 0) return textReply('lookup', 'The holiday calendar is not in the handbook yet.');
    const inOffice = (holiday: Holiday): boolean => question.office === undefined || holiday.offices === '' || holiday.offices.toLowerCase().split(/[,;/]|\band\b/).some((office) => office.trim() === question.office!.toLowerCase());
    const where = question.office === undefined ? '' : ` in ${question.office}`;
    const calendar = this.#handbook.calendar().filter(inOffice);
    if (question.upcoming) {
      const today = new Date(this.#now()).toISOString().slice(0, 10);
      const next = calendar.filter((holiday) => holiday.date >= today).slice(0, UPCOMING_HOLIDAYS);
      if (next.length === 0) {
        const last = calendar.at(-1)?.date;
        return textReply('lookup', `The holiday calendar in the handbook${where === '' ? '' : ` for${where.slice(3)}`} ends ${last === undefined ? 'before today' : `on ${formatDate(last)} ${last.slice(0, 4)}`}; the next dates are not published yet.`);
      }
      const span = [...new Set(next.map((holiday) => holiday.date.slice(0, 4)))].join('–');
      return textReply('lookup', [`**Next company holidays${where}** (${span})`, ...next.map(holidayLine)].join('\n'));
    }
    const year = question.year ?? new Date(this.#now()).getUTCFullYear();
    if (!years.includes(year)) {
      return textReply('lookup', `The ${year} holiday calendar is not published in the handbook yet. It has the holidays for ${years.join(' and ')}: try \`/hr holidays ${years.at(-1)!}\`.`);
    }
    const holidays = calendar.filter((holiday) => holiday.date.startsWith(`${year}-`));
    if (holidays.length === 0) return textReply('lookup', `The ${year} holiday calendar lists no holidays${where}.`);
    return textReply('lookup', [`**Company holidays ${year}${where}**`, ...holidays.map(holidayLine)].join('\n'));
  }

  #contact(topic: string, matches: readonly HrContact[] = this.#handbook.contacts(topic)): Reply {
    const contacts = matches.slice(0, topic === '' ? 20 : 3);
    if (contacts.length === 0) {
      const general = this.#handbook.contacts('general').slice(0, 1);
      const fallback = general.map((c) => ` Your general HR contact is ${c.contact} (${c.email}).`).join('');
      return textReply('lookup', `I don't have a specific HR contact for _${quoteUserText(topic)}_.${fallback}`);
    }
    const lines = contacts.map((c) => `- **${c.topic}**: ${c.contact}, ${c.email}${c.channel ? `, ${c.channel}` : ''}`);
    return textReply('lookup', [topic === '' ? '**HR contacts**' : `**Who to contact about ${quoteUserText(topic)}**`, ...lines].join('\n'));
  }

  async #historyList(turn: Turn): Promise<Reply> {
    if (this.#options.keepHistory === false) {
      return textReply('lookup', "I don't keep your questions: this bot is set to store nothing once it has answered.", 'private');
    }
    const questions = await this.#history.recentQuestions(turn.owner, HISTORY_LIST_LIMIT);
    if (questions.length === 0) return textReply('lookup', "You haven't asked me anything yet (or you erased it).", 'private');
    const lines = questions.map((q) => `- ${new Date(q.createdAt).toISOString().slice(0, 16).replace('T', ' ')} UTC: ${q.command === 'policy' ? '`policy` ' : ''}${quoteUserText(q.text, 200)}`);
    const text = [`**Your last ${questions.length} question${questions.length === 1 ? '' : 's'}** (only you can see this)`, ...lines].join('\n');
    return { ...textReply('lookup', text, 'private'), actions: ['forget'] };
  }

  async #forgetCommand(args: string, turn: Turn): Promise<Reply> {
    if (args === '') return this.#forget(turn.message, 'your');
    if (!this.#isAdmin(turn.message)) {
      return textReply('error', 'Only HR admins can erase another user. To erase your own data, type `/hr forget` alone.', 'private');
    }
    const target = args.replace(/^<@([^>|]+)(?:\|[^>]*)?>$/, '$1').trim();
    return this.#forget({ platform: turn.message.platform, tenantId: turn.message.tenantId, userId: target }, 'their', target);
  }

  async #forget(who: Owner, whose: 'your' | 'their', shownId?: string): Promise<Reply> {
    const owner = ownerKey(who);
    // The erase commits at once (readers never block it); only emptying the journal may have to wait.
    const report = await this.#erasure.erase(owner);
    this.#memory.forgetOwner(owner);
    this.metrics.increment('hrbot_erasures_total', 'Users erased', { by: whose === 'your' ? 'self' : 'admin' });
    const journal = this.#journal;
    const journalPending = journal !== null && !(await journal.purge(FORGET_PURGE_WAIT_MS)) ? { retryMs: journal.giveUpAfterMs } : undefined;
    this.#log.info({ ownerKey: owner, by: whose === 'your' ? 'self' : 'admin', rows: report.messages, journalPurged: journalPending === undefined }, 'user data erased');
    for (const listener of this.#erasedListeners) {
      try {
        listener({ platform: who.platform, tenantId: who.tenantId, userId: who.userId });
      } catch (error) {
        // A listener only refreshes a view; the erase itself is done and confirmed regardless.
        this.#log.warn({ err: toError(error) }, 'erase listener failed');
      }
    }
    return textReply('notice', erasedText(report, whose, journalPending, shownId), 'private');
  }

  async #usageReport(turn: Turn): Promise<Reply> {
    const today = await this.#usage.userDay(turn.owner);
    const month = await this.#usage.userSince(turn.owner, 30);
    const { dailyQuestions, perMinute } = this.#usage.limits;
    const lines = [
      '**Your usage**',
      `- Today: ${today.questions} of ${dailyQuestions} questions (resets at midnight UTC); at most ${perMinute} messages a minute`,
      `- AI tokens today: ${today.inputTokens + today.outputTokens} (${today.inputTokens} in, ${today.outputTokens} out)`,
      `- Last 30 days: ${month.questions} questions, ${month.inputTokens + month.outputTokens} AI tokens`,
    ];
    if (this.#isAdmin(turn.message)) {
      const totals = await this.#usage.tenantDay(turn.tenant);
      lines.push(
        '**Workspace totals today**',
        `- ${totals.users} user${totals.users === 1 ? '' : 's'}, ${totals.questions} questions, ${totals.inputTokens + totals.outputTokens} AI tokens (${totals.inputTokens} in, ${totals.outputTokens} out)`,
      );
    }
    return textReply('lookup', lines.join('\n'), 'private');
  }

  /** The handbook does not cover it: say so, and name who in HR can help (the topic's contact, else general HR). */
  #notFound(query: string, sensitive: SensitiveMatch | undefined, decidedBy: 'search' | 'model' = 'search'): Reply {
    // What the handbook lacks, for HR to see (never the question itself).
    this.metrics.increment('hrbot_not_covered_total', 'Questions answered "the handbook does not cover this", by what decided it: the search, or the model reading the passages', { by: decidedBy });
    const contact = this.#contactFor([...(sensitive?.contactQueries ?? []), query, 'general']);
    const who = contact === undefined ? ' Try other words, or `/hr contact <topic>` to find the right person in HR.' : ` ${contact.contact} can help: ${contactDetails(contact)}.`;
    return textReply('excerpts', `The handbook doesn't seem to cover _${quoteUserText(query)}_, so I won't guess.${who}`);
  }

  /**
   * Append the question and reply to the conversation's history; the reply gets an id for feedback.
   * With RETENTION_DAYS=0 nothing is stored (and so no feedback id). If the user was erased while the
   * reply was being written, nothing is stored and the reply is replaced by a notice saying so: the
   * erase was confirmed first, and the answer may repeat what they wanted gone.
   */
  async #remember(turn: Turn, command: CommandName, question: string, reply: Reply): Promise<Reply> {
    if (this.#options.keepHistory === false) return reply;
    const now = Date.now();
    const kept = historyText(reply);
    const stored = await this.#history.appendExchange(
      {
        conversationKey: turn.conversation,
        ownerKey: turn.owner,
        command,
        question,
        answer: { ...reply, text: kept },
        ...(turn.exchangeKey === undefined ? {} : { key: turn.exchangeKey }),
        ...(turn.exchangeAt === undefined ? {} : { keyAt: turn.exchangeAt }),
      },
      now,
      turn.mark,
    );
    if (stored === undefined) {
      this.#log.info({ platform: turn.message.platform, ownerKey: turn.owner }, 'reply not stored: the user was erased while it was written');
      return textReply('notice', DROPPED_AFTER_ERASE_TEXT, 'private');
    }
    const { answerId, seq, heads } = stored;
    // Worked out again (a retry): the history and what this process remembers of it already hold it.
    if (stored.repeated === true) return { ...reply, answerId };
    this.#memory.append(
      turn.conversation,
      [
        { seq, role: 'user', text: question, command, answerId: null, createdAt: now },
        { seq: seq + 1, role: 'assistant', text: kept, command, answerId, createdAt: now },
      ],
      heads,
    );
    return { ...reply, answerId };
  }

  async #progress(hooks: ReplyHooks | undefined, progress: Progress): Promise<void> {
    if (hooks?.onProgress === undefined) return;
    try {
      await hooks.onProgress(progress);
    } catch (error) {
      // Progress is decoration: a failed status update must not cost the user the answer.
      this.#log.warn({ err: toError(error) }, 'progress update failed');
    }
  }

  /** Admin rights are tied to one workspace or tenant: the whole verified owner key must match. */
  #isAdmin(owner: Owner): boolean {
    return this.#options.admins.has(ownerKey(owner));
  }

  #failureReply(error: unknown, platform: string, what: 'message' | 'action'): Reply {
    if (error instanceof RateLimitedError) {
      this.metrics.increment('hrbot_limited_total', 'Requests refused by a rate limit or quota', { limit: error.limit });
      const text =
        error.limit === 'rate'
          ? `You're sending messages faster than I can keep up with. Please wait ${waitText(error.retryAfterSeconds)} and try again.`
          : `You've used today's ${this.#usage.limits.dailyQuestions} questions. Your allowance resets in ${waitText(error.retryAfterSeconds)}; \`/hr policy <words>\` and \`/hr contact <topic>\` still work meanwhile.`;
      return textReply('error', text, 'private');
    }
    if (error instanceof BusyError) {
      this.metrics.increment('hrbot_busy_total', 'Requests refused because a queue was full', {});
      return textReply('error', "I'm very busy right now. Please try again in a minute.", 'private');
    }
    if (error instanceof ForbiddenError) {
      return textReply('error', "That isn't yours, so I can't do that. You can only act on your own answers.", 'private');
    }
    const code = error instanceof HrbotError ? error.code : 'unexpected';
    this.metrics.increment('hrbot_failures_total', 'Messages that failed unexpectedly', { code });
    this.#log.error({ err: toError(error), code, platform, what }, 'failed to handle');
    return textReply('error', 'Sorry, something went wrong on my side and I could not answer. Please try again in a minute.', 'private');
  }
}

function personalOnlyReply(name: CommandName): Reply {
  const refusal =
    name === 'forget'
      ? 'I only erase data in a personal chat, where the confirmation is shown to you alone, so I have not erased anything.'
      : `Your ${name} is only shown in a personal chat, so I have not shown it here.`;
  return textReply('notice', `${refusal} Message me directly and type \`${name}\` there.`);
}

function tooLong(length: number, limit: number): Reply {
  return textReply(
    'error',
    `That message is ${length.toLocaleString('en-US')} characters long; I can read up to ${limit.toLocaleString('en-US')}. Please shorten it or ask one question at a time.`,
  );
}

function contactDetails(contact: HrContact): string {
  return [contact.email, contact.channel].filter((part) => part !== '').join(', ');
}

function holidayLine(holiday: Holiday): string {
  return `- ${formatDate(holiday.date)}: ${holiday.name}${holiday.offices ? ` (${holiday.offices})` : ''}`;
}

function formatDate(isoDate: string): string {
  const date = new Date(`${isoDate}T00:00:00Z`);
  return date.toLocaleDateString('en-US', { weekday: 'short', month: 'short', day: 'numeric', timeZone: 'UTC' });
}

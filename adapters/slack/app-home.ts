import type { types } from '@slack/bolt';
import { BackgroundWork } from '../../src/background-work.ts';
import { toError } from '../../src/errors.ts';
import type { Owner } from '../../src/engine/ownership.ts';
import { ownerKey } from '../../src/engine/ownership.ts';
import type { UserSummary } from '../../src/engine/user-summary.ts';
import { SUMMARY_DAYS } from '../../src/engine/user-summary.ts';
import type { SlackClients } from './slack-tokens.ts';
import type { Logger } from '../../src/log/logger.ts';
import { eraseDataButton, escapeMrkdwn } from './render.ts';

/** A home tab view as views.publish takes it. */
export type HomeView = types.HomeView;

/** What the home tab reads from the engine. */
export interface HomeEngine {
  summary(owner: Owner): Promise<UserSummary>;
  onErased(listener: (owner: Owner) => void): () => void;
}

/** Characters of each listed question shown (a question can be thousands long). */
const QUESTION_PREVIEW_CHARS = 150;
/** Users whose home was published since start, remembered to refresh it after an erase. Default 10,000, oldest forgotten first. */
const MAX_REMEMBERED_HOMES = 10_000;
/** Publishes in flight at most; beyond it an open is skipped (the next open publishes). Default 64. */
const MAX_PUBLISHES_IN_FLIGHT = 64;

/** How the home tab is drawn. */
export interface HomeViewOptions {
  /** BOT_NAME: the product's name, in the header. */
  botName: string;
  /** RETENTION_DAYS, to say how long questions are kept. */
  retentionDays: number;
  /** A line shown at the top, e.g. after an erase. */
  notice?: string;
}

/**
 * The App Home tab for one user: what the bot can do, their own recent questions and usage, the
 * erase button, and for an admin the workspace's totals. Everything shown comes from
 * {@link UserSummary}, built from the verified user; user text is escaped so it cannot mention anyone.
 */
export function homeView(summary: UserSummary, options: HomeViewOptions): HomeView {
  const blocks: types.KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: options.botName } }];
  if (options.notice !== undefined) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `:white_check_mark: ${escapeMrkdwn(options.notice)}` }] });
  blocks.push(
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text:
          'I answer HR questions from the company handbook, with sources. Ask me in a direct message, mention me in a channel, ' +
          'or use *Ask HR about this message* from a message\'s ⋮ menu. Only you see answers to `/hr` and the shortcut.',
      },
    },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: [
          '`/hr ask <question>`: an answer from the handbook, with sources',
          '`/hr policy <words>`: the matching handbook sections',
          '`/hr holidays [year]`: the holiday calendar',
          '`/hr contact <topic>`: who in HR to talk to',
          '`/hr history`, `/hr usage`: your questions and usage',
          '`/hr forget`: erase everything stored about you',
        ].join('\n'),
      },
    },
    { type: 'divider' },
    { type: 'header', text: { type: 'plain_text', text: 'Your recent questions' } },
    { type: 'section', text: { type: 'mrkdwn', text: questionsText(summary, options.retentionDays) } },
    { type: 'header', text: { type: 'plain_text', text: 'Your usage' } },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: [
          `Today: *${summary.today.questions} of ${summary.limits.dailyQuestions}* questions (resets at midnight UTC); at most ${summary.limits.perMinute} messages a minute.`,
          `Last ${SUMMARY_DAYS} days: ${summary.recent.questions} question${plural(summary.recent.questions)}, ${summary.recent.inputTokens + summary.recent.outputTokens} AI tokens.`,
        ].join('\n'),
      },
    },
    {
      type: 'actions',
      block_id: 'hr_home_forget',
      elements: [eraseDataButton()],
    },
  );
  if (summary.admin !== undefined) {
    const { today, feedback } = summary.admin;
    blocks.push(
      { type: 'divider' },
      { type: 'header', text: { type: 'plain_text', text: 'This workspace (admins only)' } },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: [
            `Today: ${today.users} user${plural(today.users)}, ${today.questions} question${plural(today.questions)}, ${today.inputTokens + today.outputTokens} AI tokens (${today.inputTokens} in, ${today.outputTokens} out).`,
            `Feedback, last ${SUMMARY_DAYS} days: ${feedback.up} 👍, ${feedback.down} 👎 (${feedback.explained} with a note).`,
          ].join('\n'),
        },
      },
    );
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: retentionText(options.retentionDays) }] });
  return { type: 'home', callback_id: 'hr_home', blocks };
}

/**
 * Publishes the home tab when a user opens it, and again after their data is erased (from the tab's
 * button, `/hr forget`, a message's button or an admin), so the tab never shows what is gone.
 */
export class AppHome {
  readonly #clients: SlackClients;
  readonly #engine: HomeEngine;
  readonly #log: Logger;
  readonly #options: Omit<HomeViewOptions, 'notice'>;
  readonly #work = new BackgroundWork();
  /** Users (owner keys, insertion order = age) whose tab was published. */
  readonly #published = new Map<string, Owner>();
  readonly #unsubscribe: () => void;

  constructor(deps: { clients: SlackClients; engine: HomeEngine; log: Logger }, options: Omit<HomeViewOptions, 'notice'>) {
    this.#clients = deps.clients;
    this.#engine = deps.engine;
    this.#log = deps.log;
    this.#options = options;
    this.#unsubscribe = this.#engine.onErased((owner) => {
      if (owner.platform === 'slack' && this.#published.has(ownerKey(owner))) this.publishLater(owner, 'Your data was erased. Nothing about you is stored now.');
    });
  }

  /** Publish `owner`'s tab in the background (after the event's ack); failures are logged. */
  publishLater(owner: Owner, notice?: string): void {
    if (this.#work.size >= MAX_PUBLISHES_IN_FLIGHT) {
      this.#log.warn({ inFlight: this.#work.size }, 'slack: home tab not published, too many in flight');
      return;
    }
    void this.#work.track(this.publish(owner, notice));
  }

  /** Remember `owner` so an erase refreshes their tab even before it was published. */
  remember(owner: Owner): void {
    const key = ownerKey(owner);
    this.#published.delete(key);
    this.#published.set(key, owner);
    if (this.#published.size > MAX_REMEMBERED_HOMES) this.#published.delete(this.#published.keys().next().value!);
  }

  /** Publish `owner`'s tab now; resolves false (logged) when Slack refused or could not be reached. */
  async publish(owner: Owner, notice?: string): Promise<boolean> {
    this.remember(owner);
    try {
      const view = homeView(await this.#engine.summary(owner), { ...this.#options, ...(notice === undefined ? {} : { notice }) });
      // The workspace's own token (OAuth installs); none when the app was uninstalled there meanwhile.
      const client = await this.#clients.forTeam(owner.tenantId);
      if (client === undefined) return false;
      await client.views.publish({ user_id: owner.userId, view });
      return true;
    } catch (error) {
      const code = (error as { data?: { error?: unknown } }).data?.error;
      this.#log.warn({ err: toError(error), slackError: typeof code === 'string' ? code : undefined }, 'slack: could not publish the home tab');
      return false;
    }
  }

  /** Stop refreshing after erases and wait (bounded) for publishes in flight. */
  async stop(timeoutMs: number): Promise<void> {
    this.#unsubscribe();
    if (!(await this.#work.drain(timeoutMs))) this.#log.warn({ pending: this.#work.size }, 'slack: stopped with home tab publishes in flight');
  }
}

function questionsText(summary: UserSummary, retentionDays: number): string {
  if (!summary.keepsHistory) return "I don't keep your questions: this bot stores nothing once it has answered.";
  if (summary.recentQuestions.length === 0) return `Nothing yet (or you erased it). Questions are kept for ${retentionDays} day${plural(retentionDays)}.`;
  return summary.recentQuestions
    .map((question) => {
      const when = new Date(question.createdAt).toISOString().slice(0, 16).replace('T', ' ');
      const oneLine = question.text.replace(/\s+/g, ' ').trim();
      const shown = oneLine.length > QUESTION_PREVIEW_CHARS ? `${oneLine.slice(0, QUESTION_PREVIEW_CHARS - 1)}…` : oneLine;
      return `• ${when} UTC: ${question.command === 'policy' ? '`policy` ' : ''}${escapeMrkdwn(shown)}`;
    })
    .join('\n');
}

function retentionText(days: number): string {
  const kept = days === 0 ? 'Questions and answers are not stored.' : `Questions, answers and feedback are erased after ${days} day${plural(days)}.`;
  return `Only you can see this page. ${kept}`;
}

function plural(count: number): string {
  return count === 1 ? '' : 's';
}

import type { ReceiverEvent } from '@slack/bolt';
import type { Logger } from '../../src/log/logger.ts';
import type { Metrics } from '../../src/metrics.ts';
import { SecretBoxError } from '../../src/secret-box.ts';
import type { InstallationQuery, InstallationStore } from '../../src/store/installation-store.ts';
import type { SlackEventSink } from './inbox-gate.ts';
import type { BotIdentity } from './parse.ts';
import type { SlackTokens } from './slack-tokens.ts';

/** What a `/hr` typed in a workspace without an installation gets back (shown to that user only). */
export const NOT_INSTALLED_TEXT = "I'm not installed in this workspace any more. Ask a Slack admin to install me again.";

/**
 * In front of the inbox gate when the app is installed through OAuth: `app_uninstalled` and
 * `tokens_revoked` (bot tokens) delete that installation's row before the ack; an event from a
 * workspace with no installation (or one whose token cannot be read) is acknowledged and dropped with
 * a log line; every other event goes to an inbox gate that knows the bot's identity in that workspace.
 */
export class SlackInstallGate implements SlackEventSink {
  readonly #installations: InstallationStore;
  readonly #tokens: SlackTokens;
  readonly #gateFor: (bot: BotIdentity) => SlackEventSink;
  readonly #log: Logger;
  readonly #metrics: Metrics;

  constructor(deps: { installations: InstallationStore; tokens: SlackTokens; gateFor: (bot: BotIdentity) => SlackEventSink; log: Logger; metrics: Metrics }) {
    this.#installations = deps.installations;
    this.#tokens = deps.tokens;
    this.#gateFor = deps.gateFor;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
  }

  async processEvent(event: ReceiverEvent): Promise<void> {
    const body = event.body as Record<string, unknown>;
    const where = workspaceOf(body);
    const lifecycle = lifecycleEvent(body);
    if (lifecycle !== undefined) {
      // Deleted before the ack: if the store fails, the receiver answers 503 and Slack sends it again.
      const erased = where === undefined ? 0 : await this.#installations.delete(where);
      this.#log.info({ event: lifecycle, teamId: where?.teamId, enterpriseId: where?.enterpriseId, erased }, 'slack: installation erased');
      this.#metrics.increment('hrbot_slack_installations_erased_total', 'Slack installations deleted on app_uninstalled or tokens_revoked', { event: lifecycle }, erased);
      await event.ack();
      return;
    }
    if (where?.teamId === undefined && where?.enterpriseId === undefined) {
      await event.ack();
      return;
    }
    let bot: BotIdentity | undefined;
    try {
      bot = (await this.#tokens.forTeam(where.teamId, where.enterpriseId))?.bot;
    } catch (error) {
      if (!(error instanceof SecretBoxError)) throw error;
      // Acknowledged, so Slack does not retry what cannot succeed until the operator acts; said at each event.
      this.#log.error(
        { code: error.code, reason: error.message, teamId: where.teamId, enterpriseId: where.enterpriseId },
        'slack: event dropped: the stored token of its workspace cannot be read (see reason)',
      );
      await event.ack();
      return;
    }
    if (bot === undefined) {
      this.#log.warn({ teamId: where.teamId, enterpriseId: where.enterpriseId }, 'slack: event from a workspace with no installation ignored');
      this.#metrics.increment('hrbot_inbox_events_total', 'Verified platform events, by outcome', { platform: 'slack', outcome: 'not_installed' });
      await event.ack(typeof body.command === 'string' ? NOT_INSTALLED_TEXT : undefined);
      return;
    }
    await this.#gateFor(bot).processEvent(event);
  }
}

/** `app_uninstalled`, or `tokens_revoked` naming bot tokens (user tokens are never stored), else undefined. */
function lifecycleEvent(body: Record<string, unknown>): 'app_uninstalled' | 'tokens_revoked' | undefined {
  if (body.type !== 'event_callback') return undefined;
  const event = body.event as { type?: unknown; tokens?: { bot?: unknown } } | undefined;
  if (event?.type === 'app_uninstalled') return 'app_uninstalled';
  if (event?.type === 'tokens_revoked' && Array.isArray(event.tokens?.bot) && event.tokens.bot.length > 0) return 'tokens_revoked';
  return undefined;
}

/**
 * The workspace (and org) a signed payload comes from: the Events API envelope (`team_id`,
 * `enterprise_id`, `authorizations`), a slash command's form fields, or an interaction's `team` /
 * `enterprise` / `user.team_id`; `is_enterprise_install` as Bolt reads it.
 */
export function workspaceOf(body: Record<string, unknown>): InstallationQuery | undefined {
  const authorization = (Array.isArray(body.authorizations) ? body.authorizations[0] : undefined) as Record<string, unknown> | undefined;
  const team = body.team as Record<string, unknown> | null | undefined;
  const enterprise = body.enterprise as Record<string, unknown> | null | undefined;
  const user = body.user as Record<string, unknown> | undefined;
  const teamId = text(body.team_id) ?? text(team?.id) ?? text(authorization?.team_id) ?? text(user?.team_id);
  const enterpriseId = text(body.enterprise_id) ?? text(enterprise?.id) ?? text(authorization?.enterprise_id);
  if (teamId === undefined && enterpriseId === undefined) return undefined;
  const flag = authorization?.is_enterprise_install ?? body.is_enterprise_install;
  return { teamId, enterpriseId, isEnterpriseInstall: flag === true || flag === 'true' };
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

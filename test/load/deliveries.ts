/**
 * How each platform hands a user's message to the bot, as the platform itself does: Slack signs each
 * attempt, gives up on it after 3 s and redelivers (with `x-slack-retry-num`) what got no 2xx; Teams
 * waits up to 15 s and never resends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sign, SIGNING_SECRET } from '../support/slack-requests.ts';
import type { BotLink } from './bot-link.ts';

/** How long Slack waits for the HTTP response before it counts an attempt as failed. */
export const SLACK_ACK_DEADLINE_MS = 3_000;
/** How long the Bot Framework waits for the response to an activity. */
export const TEAMS_ACK_DEADLINE_MS = 15_000;
/** Slack redelivers three times: at once, after a minute and after five; here sixty times faster. */
const SLACK_RETRY_DELAYS_MS = [0, 1_000, 5_000] as const;

/** What delivering one message got. */
export interface DeliveryOutcome {
  attempts: number;
  /** An attempt got a 2xx within the platform's deadline. */
  acked: boolean;
  /** How long the acknowledging attempt took, ms. */
  ackMs?: number;
  /** The process was killed under the request and the platform does not resend (Teams). */
  undelivered: boolean;
  /** Each attempt's HTTP status; 0 when there was none (connection failed, or past the deadline). */
  statuses: number[];
  /** Why each failed attempt failed and after how long (ms), for a closer look (LOAD_DUMP_ACKS). */
  failures?: string[];
}

type Failure = 'http_error' | 'http_timeout' | 'connection_failed';

function failureOf(error: unknown): Failure {
  return error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError') ? 'http_timeout' : 'connection_failed';
}

/** POST a Slack Events API body to `/slack/events` until acknowledged or Slack's retries are spent. */
export async function deliverSlack(link: BotLink, body: string): Promise<DeliveryOutcome> {
  const statuses: number[] = [];
  const failures: string[] = [];
  let reason: Failure | undefined;
  for (;;) {
    const { base, generation } = link.current();
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': sign(SIGNING_SECRET, timestamp, body),
      ...(reason === undefined ? {} : { 'x-slack-retry-num': String(statuses.length), 'x-slack-retry-reason': reason }),
    };
    const started = performance.now();
    let failure: Failure;
    try {
      const response = await fetch(`${base}/slack/events`, { method: 'POST', headers, body, signal: AbortSignal.timeout(SLACK_ACK_DEADLINE_MS) });
      await response.arrayBuffer();
      statuses.push(response.status);
      if (response.ok) return { attempts: statuses.length, acked: true, ackMs: performance.now() - started, undelivered: false, statuses, failures };
      failure = 'http_error';
    } catch (error) {
      statuses.push(0);
      failure = failureOf(error);
      failures.push(`${failure} after ${Math.round(performance.now() - started)} ms${failure === 'connection_failed' ? ` (${String((error as { cause?: { code?: unknown } }).cause?.code)})` : ''}`);
      if (failure === 'connection_failed' && link.wasKilled(generation) && statuses.length <= SLACK_RETRY_DELAYS_MS.length) {
        // The process was gone: Slack's retry finds the restarted one.
        reason = failure;
        await link.after(generation);
        continue;
      }
    }
    const delay = SLACK_RETRY_DELAYS_MS[statuses.length - 1];
    if (delay === undefined) return { attempts: statuses.length, acked: false, undelivered: false, statuses, failures };
    reason = failure;
    await sleep(delay);
  }
}

/** POST a Bot Framework activity to `/api/messages` once, as Teams does. */
export async function deliverTeams(link: BotLink, activity: Record<string, unknown>): Promise<DeliveryOutcome> {
  const { base, generation } = link.current();
  const started = performance.now();
  try {
    const response = await fetch(`${base}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(activity),
      signal: AbortSignal.timeout(TEAMS_ACK_DEADLINE_MS),
    });
    await response.arrayBuffer();
    return { attempts: 1, acked: response.ok, ...(response.ok ? { ackMs: performance.now() - started } : {}), undelivered: false, statuses: [response.status] };
  } catch (error) {
    return { attempts: 1, acked: false, undelivered: failureOf(error) === 'connection_failed' && link.wasKilled(generation), statuses: [0] };
  }
}

import { createHmac, randomUUID } from 'node:crypto';
import { request } from 'node:http';

/** The signing secret every Slack test bot uses. */
export const SIGNING_SECRET = 'test-signing-secret-8f2a1c9d';
/** The bot token every Slack test bot uses (shaped like a real one, so the redactor must catch it). */
export const BOT_TOKEN = 'xoxb-1111111111-2222222222-abcdefghijklmnopqrstuvwx';

/** Options for {@link postSigned}. */
export interface SignOptions {
  /** Seconds since the epoch; default now. */
  timestamp?: number;
  /** Override the computed signature (or `null` to send none). */
  signature?: string | null;
  secret?: string;
  headers?: Record<string, string>;
}

/** Slack's `v0` signature of a raw body. */
export function sign(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/** POST a body to `/slack/events` signed as Slack signs it. */
export async function postSigned(baseUrl: string, body: string, contentType: string, options: SignOptions = {}): Promise<Response> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = options.signature === undefined ? sign(options.secret ?? SIGNING_SECRET, timestamp, body) : options.signature;
  const headers: Record<string, string> = {
    'content-type': contentType,
    'x-slack-request-timestamp': String(timestamp),
    ...(signature === null ? {} : { 'x-slack-signature': signature }),
    ...options.headers,
  };
  return fetch(`${baseUrl}/slack/events`, { method: 'POST', headers, body });
}

/**
 * {@link postSigned} on a connection of its own (closed after), resolving with the status: where
 * several processes share the port (WORKERS), the kernel hands each new connection to any of them.
 */
export function postSignedOnNewConnection(baseUrl: string, body: string, contentType: string): Promise<number> {
  const timestamp = Math.floor(Date.now() / 1000);
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}/slack/events`,
      {
        method: 'POST',
        agent: false,
        timeout: 10_000,
        headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': sign(SIGNING_SECRET, timestamp, body), connection: 'close' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** An Events API callback around `event`. */
export function eventBody(event: Record<string, unknown>, options: { eventId?: string; teamId?: string } = {}): string {
  const teamId = options.teamId ?? 'T1';
  return JSON.stringify({
    token: 'legacy-verification-token',
    team_id: teamId,
    api_app_id: 'A1',
    type: 'event_callback',
    event_id: options.eventId ?? `Ev${randomUUID().replace(/-/g, '').slice(0, 10).toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: teamId, user_id: 'UBOT', is_bot: true }],
    event,
  });
}

let tsCounter = 0;
/** A fresh Slack message timestamp. */
export function nextTs(): string {
  tsCounter += 1;
  return `1710000000.${String(tsCounter).padStart(6, '0')}`;
}

/** A `message.im` event from `user`. */
export function dmEvent(text: string, user = 'UALICE', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'message', channel: `D${user}`, channel_type: 'im', user, text, ts: nextTs(), event_ts: nextTs(), ...extra };
}

/** An `app_mention` event in channel C1 from `user`. */
export function mentionEvent(text: string, user = 'UALICE', extra: Record<string, unknown> = {}): Record<string, unknown> {
  const ts = nextTs();
  return { type: 'app_mention', channel: 'C1', user, text: `<@UBOT> ${text}`, ts, event_ts: ts, ...extra };
}

/** A `/hr` slash command as form fields. */
export function commandBody(text: string, responseUrl: string, user = 'UALICE', channel = 'C1'): string {
  return new URLSearchParams({
    token: 'legacy-verification-token',
    team_id: 'T1',
    team_domain: 'northwind',
    channel_id: channel,
    channel_name: channel.startsWith('D') ? 'directmessage' : 'general',
    user_id: user,
    user_name: user.toLowerCase(),
    command: '/hr',
    text,
    api_app_id: 'A1',
    response_url: responseUrl,
    trigger_id: `trig.${randomUUID()}`,
  }).toString();
}

/** A `block_actions` payload: `user` pressed the feedback button `actionId` carrying `answerId`. */
export function feedbackActionBody(answerId: string, actionId: 'hr_feedback_up' | 'hr_feedback_down' | 'hr_forget', responseUrl: string, user = 'UALICE'): string {
  const payload = {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), team_id: 'T1' },
    api_app_id: 'A1',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: '1710000000.000001', channel_id: 'C1', is_ephemeral: false },
    trigger_id: `trig.${randomUUID()}`,
    team: { id: 'T1', domain: 'northwind' },
    channel: { id: 'C1', name: 'general' },
    response_url: responseUrl,
    actions: [{ action_id: actionId, block_id: 'hr_feedback', value: answerId, type: 'button', action_ts: String(Date.now() / 1000) }],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/**
 * A `block_actions` payload as Slack sends it when `user` presses 👍 or 👎 of the `feedback_buttons`
 * element on an answer: the pressed button's value, and a trigger_id (from the fake, to open a form).
 */
export function feedbackButtonsBody(
  answerId: string,
  rating: 'up' | 'down',
  responseUrl: string,
  options: { user?: string; team?: string; triggerId?: string } = {},
): string {
  const user = options.user ?? 'UALICE';
  const team = options.team ?? 'T1';
  const payload = {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: team },
    api_app_id: 'A1',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: '1710000000.000001', channel_id: 'C1', is_ephemeral: false },
    trigger_id: options.triggerId ?? `trig.${randomUUID()}`,
    team: { id: team, domain: 'northwind' },
    channel: { id: 'C1', name: 'general' },
    response_url: responseUrl,
    actions: [
      {
        type: 'feedback_buttons',
        action_id: 'hr_feedback',
        block_id: `hr_feedback:${answerId}`,
        value: `${rating}:${answerId}`,
        text: { type: 'plain_text', text: rating === 'up' ? '👍' : '👎', emoji: true },
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** Any interactivity payload, form-encoded as Slack sends it. */
export function interactionBody(payload: Record<string, unknown>): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export const JSON_TYPE = 'application/json';
export const FORM_TYPE = 'application/x-www-form-urlencoded';

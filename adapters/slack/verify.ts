import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SlackSignatureError } from './slack-errors.ts';

/** How far a request timestamp may be from our clock, either way, before it is refused (Slack's own rule). */
export const MAX_REQUEST_AGE_SECONDS = 5 * 60;

/**
 * Check Slack's request signature: `v0=` + HMAC-SHA256 of `v0:{timestamp}:{raw body}` under the
 * signing secret, with a timestamp no more than five minutes off (replay protection). Throws
 * SlackSignatureError; the messages never include the secret or the signature.
 * @see https://docs.slack.dev/authentication/verifying-requests-from-slack
 */
export function verifySlackSignature(signingSecret: string, headers: IncomingHttpHeaders, rawBody: string, nowMs = Date.now()): void {
  const signature = header(headers, 'x-slack-signature');
  const timestamp = header(headers, 'x-slack-request-timestamp');
  if (signature === undefined || timestamp === undefined) {
    throw new SlackSignatureError('slack_signature_missing', 'Slack signature or timestamp header missing');
  }
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  if (!Number.isFinite(seconds) || Math.abs(nowMs / 1000 - seconds) > MAX_REQUEST_AGE_SECONDS) {
    throw new SlackSignatureError('slack_timestamp_stale', 'Slack request timestamp is missing, malformed or more than 5 minutes off');
  }
  const expected = Buffer.from(`v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`);
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new SlackSignatureError('slack_signature_mismatch', 'Slack signature does not match');
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

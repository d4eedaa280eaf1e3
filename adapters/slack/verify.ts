import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SlackSignatureError } from './slack-errors.ts';

/** How far a request timestamp may be from our clock, either way, before it is refused (Slack's own rule). */
export const MAX_REQUEST_AGE_SECONDS = 5 * 60;

/** The signature headers of a Slack request, checked for shape and age but not yet against the body. */
export interface SlackSignatureHeaders {
  signature: string;
  timestamp: string;
}

/**
 * What can be checked before the body is read: both signature headers present, the signature shaped
 * like `v0=` + 64 hex digits, and a timestamp no more than five minutes off (replay protection). A
 * request failing here is refused without reading its body. Throws SlackSignatureError.
 */
export function checkSlackSignatureHeaders(headers: IncomingHttpHeaders, nowMs = Date.now()): SlackSignatureHeaders {
  const signature = header(headers, 'x-slack-signature');
  const timestamp = header(headers, 'x-slack-request-timestamp');
  if (signature === undefined || timestamp === undefined) {
    throw new SlackSignatureError('slack_signature_missing', 'Slack signature or timestamp header missing');
  }
  if (!/^v0=[0-9a-f]{64}$/.test(signature)) {
    throw new SlackSignatureError('slack_signature_mismatch', 'Slack signature is not a v0 HMAC-SHA256');
  }
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  if (!Number.isFinite(seconds) || Math.abs(nowMs / 1000 - seconds) > MAX_REQUEST_AGE_SECONDS) {
    throw new SlackSignatureError('slack_timestamp_stale', 'Slack request timestamp is missing, malformed or more than 5 minutes off');
  }
  return { signature, timestamp };
}

/**
 * Check Slack's request signature: `v0=` + HMAC-SHA256 of `v0:{timestamp}:{raw body}` under the
 * signing secret, after {@link checkSlackSignatureHeaders}. Throws SlackSignatureError; the
 * messages never include the secret or the signature.
 * @see https://docs.slack.dev/authentication/verifying-requests-from-slack
 */
export function verifySlackSignature(signingSecret: string, headers: IncomingHttpHeaders, rawBody: string, nowMs = Date.now()): void {
  const { signature, timestamp } = checkSlackSignatureHeaders(headers, nowMs);
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

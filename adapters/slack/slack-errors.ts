import { HrbotError } from '../../src/errors.ts';

/** A request to `/slack/events` failed verification (bad or missing signature, stale timestamp): answer 401. */
export class SlackSignatureError extends HrbotError {
  constructor(code: 'slack_signature_missing' | 'slack_signature_mismatch' | 'slack_timestamp_stale', message: string) {
    super(code, message);
  }
}

/** The Slack adapter could not start (auth.test refused the token, Socket Mode did not connect). */
export class SlackStartError extends HrbotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('slack_start_failed', message, options);
  }
}

/** A reply could not be delivered to Slack after the Web API client's own retries. */
export class SlackDeliveryError extends HrbotError {
  /** The HTTP status Slack answered, when it answered. */
  readonly status: number | undefined;

  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super('slack_delivery_failed', message, options);
    this.status = options?.status;
  }
}

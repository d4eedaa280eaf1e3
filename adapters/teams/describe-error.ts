import { summarizeError } from '../../src/log/redact.ts';
import type { ErrorSummary } from '../../src/log/redact.ts';

/**
 * What may be logged about a failed connector or botbuilder call: its class, code, HTTP status and
 * message (redacted, bounded). The full error can carry the request (with its Authorization header
 * and the activity, with the user's text) or the parsed response body (`details`), so none of
 * that is passed to the logger.
 */
export function describeError(error: unknown): ErrorSummary | string {
  return summarizeError(error);
}

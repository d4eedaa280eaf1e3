/**
 * One error base class for the whole project: a stable `code` callers switch on, and the
 * underlying `cause` kept for the log. Subclasses say what failed; catch them by class.
 */
export class HrbotError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An environment variable or option is missing or malformed; the message names it. */
export class ConfigError extends HrbotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('config_invalid', message, options);
  }
}

/** The input cannot be processed as given (empty, oversized, malformed); safe to show the user. */
export class InputError extends HrbotError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The acting user may not see or act on what they asked for. */
export class ForbiddenError extends HrbotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('forbidden', message, options);
  }
}

/** A per-user rate limit or daily quota refused the request before any work was done. */
export class RateLimitedError extends HrbotError {
  readonly retryAfterSeconds: number;
  readonly limit: 'rate' | 'daily_quota';

  constructor(limit: 'rate' | 'daily_quota', retryAfterSeconds: number, message: string) {
    super(limit === 'rate' ? 'rate_limited' : 'quota_exceeded', message);
    this.limit = limit;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The database could not complete an operation. */
export class StoreError extends HrbotError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The LLM could not produce an answer (breaker open, retries spent, timeout, refused). */
export class LlmUnavailableError extends HrbotError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A bounded queue is full: the caller should tell the user to try again shortly. */
export class BusyError extends HrbotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('busy', message, options);
  }
}

/** Narrow an unknown thrown value to an Error without losing what it was. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

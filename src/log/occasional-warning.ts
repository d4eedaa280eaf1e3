/** The logger shape an {@link OccasionalWarning} needs (pino's fits). */
export interface WarningLogger {
  warn(obj: object, msg: string): void;
}

/**
 * A warning for something that, once it starts, happens to every request (a model that is down):
 * logged at most once per interval, with how many times it happened since the last line.
 */
export class OccasionalWarning {
  readonly #log: WarningLogger | undefined;
  readonly #message: string;
  readonly #intervalMs: number;
  readonly #countField: string;
  #at = Number.NEGATIVE_INFINITY;
  #since = 0;

  /** `countField`: the field the count since the last line goes in (e.g. `questions`). */
  constructor(log: WarningLogger | undefined, message: string, intervalMs: number, countField: string) {
    this.#log = log;
    this.#message = message;
    this.#intervalMs = intervalMs;
    this.#countField = countField;
  }

  /** Count one occurrence; log it (with `fields` and the count) unless the last line is recent. */
  warn(fields: object, now = Date.now()): void {
    this.#since += 1;
    if (now - this.#at < this.#intervalMs) return;
    this.#log?.warn({ ...fields, [this.#countField]: this.#since }, this.#message);
    this.#at = now;
    this.#since = 0;
  }
}

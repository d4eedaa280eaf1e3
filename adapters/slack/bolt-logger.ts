import { LogLevel } from '@slack/bolt';
import type { Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from '../../src/log/logger.ts';
import { redactText, truncateTo } from '../../src/log/redact.ts';

/** Longest SDK line kept. The SDK's own sentences are shorter; anything longer is a payload. */
export const SDK_LINE_LIMIT = 160;
/** Where a payload embedded in an SDK line starts: a JSON object or array, or a quoted string. */
const PAYLOAD_START = /[{[]\s*["{[\]}]|"/;
const PAYLOAD_OMITTED = '[payload omitted]';

/**
 * Bolt's, the Web API client's and Socket Mode's logging, routed through the project's redacting
 * logger. At debug level these SDKs print whole request bodies, API results and raw Socket Mode
 * envelopes, which carry message text; so every line keeps only the SDK's own words: embedded
 * payloads are cut off, objects are named by type, never dumped, and the line is redacted and
 * then cut to {@link SDK_LINE_LIMIT} characters.
 */
export function boltLogger(log: Logger): BoltLogger {
  let level: LogLevel = log.isLevelEnabled('debug') ? LogLevel.DEBUG : LogLevel.INFO;
  let child = log.child({ component: 'slack-sdk' });
  // The Web API client logs several debug lines per call whatever the level: build a line only when it is kept.
  const line =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (...parts: unknown[]): void => {
      if (child.isLevelEnabled(method)) child[method](sdkLine(parts));
    };
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: (name: string) => {
      child = log.child({ component: 'slack-sdk', sdk: name });
    },
  };
}

/** One SDK log call as a short, payload-free, redacted line. */
export function sdkLine(parts: readonly unknown[]): string {
  // Redact before cutting: a cut could split an address or token into pieces no rule recognises.
  return truncateTo(redactText(parts.map(describePart).join(' ')), SDK_LINE_LIMIT);
}

function describePart(part: unknown): string {
  if (typeof part === 'string') return withoutPayload(part);
  if (part instanceof Error) return `${part.name}: ${withoutPayload(part.message)}`;
  if (part === null || typeof part !== 'object') return typeof part === 'function' || typeof part === 'symbol' ? `[${typeof part}]` : String(part);
  if (Array.isArray(part)) return `[array of ${part.length}]`;
  const name = (part as { constructor?: { name?: unknown } }).constructor?.name;
  return `[${typeof name === 'string' && name !== '' ? name : 'object'}]`;
}

function withoutPayload(text: string): string {
  const at = text.search(PAYLOAD_START);
  return at === -1 ? text : text.slice(0, at) + PAYLOAD_OMITTED;
}

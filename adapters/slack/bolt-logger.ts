import { LogLevel } from '@slack/bolt';
import type { Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from '../../src/log/logger.ts';

/**
 * Bolt's and the Web API client's logging, routed through the project's redacting logger so
 * nothing they print (request URLs, payload fragments) bypasses the redactor.
 */
export function boltLogger(log: Logger): BoltLogger {
  let level: LogLevel = log.isLevelEnabled('debug') ? LogLevel.DEBUG : LogLevel.INFO;
  let child = log.child({ component: 'slack-sdk' });
  const text = (parts: unknown[]) => parts.map((part) => (typeof part === 'string' ? part : part instanceof Error ? part.message : JSON.stringify(part))).join(' ');
  return {
    debug: (...parts: unknown[]) => child.debug(text(parts)),
    info: (...parts: unknown[]) => child.info(text(parts)),
    warn: (...parts: unknown[]) => child.warn(text(parts)),
    error: (...parts: unknown[]) => child.error(text(parts)),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: (name: string) => {
      child = log.child({ component: 'slack-sdk', sdk: name });
    },
  };
}

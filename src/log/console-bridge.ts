/**
 * Routes the global `console` into the redacting logger. Libraries write there on their own
 * (botbuilder's CloudAdapter prints the raw error and stack of every refused token with
 * console.error); without this those lines would reach stderr unredacted.
 */
import { format, inspect } from 'node:util';
import type { Logger } from './logger.ts';

/** A console line longer than this is cut: one library call cannot flood the log. */
export const CONSOLE_LINE_MAX_CHARS = 4_000;

type Level = 'debug' | 'info' | 'warn' | 'error';
type Method = 'log' | 'info' | 'warn' | 'error' | 'debug' | 'dir';

// console.trace, console.assert and console.table call these methods in turn, so they follow.
const LEVELS: Readonly<Record<Method, Level>> = { log: 'info', info: 'info', warn: 'warn', error: 'error', debug: 'debug', dir: 'info' };

/**
 * Replace console.log/info/warn/error/debug/dir with calls to `log`: each console call becomes
 * one log line at the matching level, its text passed through the logger (so it is redacted like
 * any other line). Returns a function that puts the previous methods back.
 */
export function routeConsoleTo(log: Logger): () => void {
  const previous = new Map<Method, (...args: unknown[]) => void>();
  const installed = new Map<Method, (...args: unknown[]) => void>();
  // A console call made while logging (a failing destination, say) is dropped instead of recursing.
  let writing = false;
  for (const [method, level] of Object.entries(LEVELS) as Array<[Method, Level]>) {
    // Kept as the very function object it is, to be put back as-is; never called through this map.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- restored onto console, where `this` is console again
    previous.set(method, console[method] as (...args: unknown[]) => void);
    const route = (...args: unknown[]): void => {
      if (writing || !log.isLevelEnabled(level)) return;
      writing = true;
      try {
        const text = method === 'dir' ? inspect(args[0], args[1] as Parameters<typeof inspect>[1]) : format(...args);
        const line = text.length > CONSOLE_LINE_MAX_CHARS ? `${text.slice(0, CONSOLE_LINE_MAX_CHARS)}… [cut]` : text;
        log[level]({ source: `console.${method}` }, '%s', line);
      } finally {
        writing = false;
      }
    };
    installed.set(method, route);
    console[method] = route;
  }
  return () => {
    for (const [method, original] of previous) {
      // Only undo what is still ours: a later bridge may have been installed over this one.
      if (console[method] === installed.get(method)) console[method] = original;
    }
  };
}

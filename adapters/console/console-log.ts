import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { DestinationStream, LevelWithSilentOrString } from 'pino';
import { LogFileError, openLogFile } from '../../src/log/logger.ts';

/** The terminal chat's log file name, in the database's folder. */
export const CONSOLE_LOG_FILE = 'hrbot.log';

/** Where the terminal chat logs, at what level, and the path to tell the person at the terminal. */
export interface ConsoleLog {
  destination: NodeJS.WritableStream | DestinationStream;
  level: LevelWithSilentOrString;
  /** Shown in the greeting; undefined when the file could not be opened. */
  shownPath?: string;
}

const SEVERITY = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * Logs of the terminal chat go to `hrbot.log` next to the database, at LOG_LEVEL, so the screen
 * holds the conversation only; a fatal line (the process is ending) is echoed to standard error
 * too. If the file cannot be written, warnings and worse go to standard error instead, and `warn`
 * (one plain line) says so.
 */
export function consoleLog(databasePath: string, level: LevelWithSilentOrString, warn: (message: string) => void, cwd = process.cwd()): ConsoleLog {
  const path = join(dirname(databasePath), CONSOLE_LOG_FILE);
  try {
    const destination = openLogFile(path, { echo: { stream: process.stderr, level: 'fatal' } });
    return { destination, level, shownPath: displayPath(path, cwd) };
  } catch (error) {
    if (!(error instanceof LogFileError)) throw error;
    warn(`${error.message}; logging warnings and errors to standard error instead`);
    const atLeastWarn = SEVERITY.indexOf(level) >= SEVERITY.indexOf('warn') ? level : 'warn';
    return { destination: process.stderr, level: atLeastWarn };
  }
}

/** A path as short as it can be said: relative to the working directory when it is inside it. */
function displayPath(path: string, cwd: string): string {
  const absolute = resolve(cwd, path);
  const inside = relative(cwd, absolute);
  return inside !== '' && !inside.startsWith('..') && !isAbsolute(inside) ? inside : absolute;
}

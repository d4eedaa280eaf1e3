/**
 * The project's JSON logger: pino, with the redactor in two places. The log-method hook redacts
 * what the caller passes (merge object, errors, interpolation arguments) while it still has
 * structure; the stream-write hook re-parses the finished line and redacts it again, so child
 * bindings, the message string and anything pino adds can never reach the stream unredacted.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino } from 'pino';
import type { DestinationStream, Level, LevelWithSilentOrString, LogFn, Logger as PinoLogger } from 'pino';
import { HrbotError, toError } from '../errors.ts';
import { createPseudonymizer, redactText, redactValue, summarizeError } from './redact.ts';
import type { RedactOptions } from './redact.ts';

/** The logger type the rest of the project depends on. */
export type Logger = PinoLogger;

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** pino level name; default 'info'. At 'debug' or 'trace' message text is kept, redacted and truncated. */
  level?: LevelWithSilentOrString;
  /** Where JSON lines go; default standard output. Console mode passes process.stderr. */
  destination?: NodeJS.WritableStream | DestinationStream;
  /** HMAC key for user-id pseudonyms; default a random key per process. */
  pseudonymKey?: string | Buffer;
  /** Logger name, written as "name" on every line. */
  name?: string;
}

// One random key per process, so every logger in the process pseudonymizes an id the same way.
let processKey: Buffer | undefined;
function defaultPseudonymKey(): Buffer {
  processKey ??= randomBytes(32);
  return processKey;
}

/** A line that could not be parsed is replaced, never passed through: it might hold anything. */
const UNPARSEABLE_LINE = JSON.stringify({ level: 50, msg: 'log line dropped: redactor could not parse it' }) + '\n';

/** Create the redacting JSON logger; every line passes the redactor before the destination sees it. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const pseudonymize = createPseudonymizer(options.pseudonymKey ?? defaultPseudonymKey());
  // pino writes synchronously inside the log call, so the hook can hand the calling logger's
  // text policy to the stream hook through this variable.
  let allowTextForLine = false;

  const logMethod = function (this: PinoLogger, args: Parameters<LogFn>, method: LogFn): void {
    // Text is kept only when the logger that is logging runs at debug or trace.
    const redact: RedactOptions = { pseudonymize, allowText: this.isLevelEnabled('debug') };
    const previous = allowTextForLine;
    allowTextForLine = redact.allowText === true;
    try {
      method.apply(this, redactArgs(args, redact) as Parameters<LogFn>);
    } finally {
      allowTextForLine = previous;
    }
  };

  const streamWrite = (line: string): string => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      // The parse error quotes the line, so neither it nor the line may be written.
      return UNPARSEABLE_LINE;
    }
    // Two levels of headroom: the first pass already capped depth, and a bare error logged as
    // log.error(err) sits one level deeper once pino wraps it as { err }.
    return JSON.stringify(redactValue(parsed, { pseudonymize, allowText: allowTextForLine, maxDepth: 10 })) + '\n';
  };

  const pinoOptions = {
    level: options.level ?? 'info',
    ...(options.name === undefined ? {} : { name: options.name }),
    hooks: { logMethod, streamWrite },
    // Errors from log calls are already summaries (src/log/redact.ts summarizeError); pino's own
    // serializer would re-wrap them as type "Object" and fold causes into the message.
    serializers: { err: (value: unknown) => (value instanceof Error ? summarizeError(value, { pseudonymize }) : value) },
  };
  const destination = options.destination;
  const logger = destination === undefined ? pino(pinoOptions) : pino(pinoOptions, destination);
  // Child bindings never pass the log-method hook, and pino would JSON.stringify an error in them
  // (its enumerable fields only: an axios error's config and response, but no message). Redact
  // them while they still have their structure; children inherit this method from the root.
  // Text is never kept in bindings: they outlive the call that chose the level.
  const proto = Object.getPrototypeOf(logger) as Pick<PinoLogger, 'child'>;
  logger.child = function (this: PinoLogger, bindings: Record<string, unknown>, childOptions?: Parameters<PinoLogger['child']>[1]) {
    return proto.child.call(this, redactValue(bindings, { pseudonymize }) as Record<string, unknown>, childOptions);
  } as PinoLogger['child'];
  return logger;
}

/** The log file cannot be created or opened for appending; the message names the path and the reason. */
export class LogFileError extends HrbotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('log_file_unwritable', message, options);
  }
}

/** Options for {@link openLogFile}. */
export interface LogFileOptions {
  /** A file larger than this when opened is moved to `<path>.1` (replacing the one there) and a new one begun; default 10 MiB. */
  maxBytes?: number;
  /** Lines at or above `level` are also written to `stream` (a dying process' last line where its operator looks). */
  echo?: { stream: NodeJS.WritableStream; level: Level };
}

const DEFAULT_LOG_FILE_MAX_BYTES = 10 * 1024 * 1024;

/**
 * A file to log to, appended to (created with its folder, readable by its owner only). Writes are
 * synchronous, so the last line before an exit is never lost; fine for the terminal chat's volume.
 * Bounded by a rotation at open: at most two files of about `maxBytes` each.
 */
export function openLogFile(path: string, options: LogFileOptions = {}): DestinationStream {
  let fd: number;
  try {
    mkdirSync(dirname(path), { recursive: true });
    const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
    if (size > (options.maxBytes ?? DEFAULT_LOG_FILE_MAX_BYTES)) renameSync(path, `${path}.1`);
    fd = openSync(path, 'a', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? toError(error).message;
    throw new LogFileError(`cannot write the log file ${path} (${code})`, { cause: error });
  }
  const file = pino.destination({ fd, sync: true });
  if (options.echo === undefined) return file;
  // The file takes every level the logger lets through; the echo only the severe ones.
  return pino.multistream([
    { stream: file, level: 'trace' },
    { stream: options.echo.stream, level: options.echo.level },
  ]);
}

/** A logger that writes nothing, for tests and tools that need one but not its output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Redact the arguments of one log call the way pino will read them: an Error or object first
 * (merge object), then a message template and its interpolation values.
 */
function redactArgs(args: unknown[], options: RedactOptions): unknown[] {
  return args.map((arg, index) => {
    if (index === 0 && arg instanceof Error) {
      // Same shape pino builds for a bare error, so msg still defaults to the (redacted) message.
      return { err: redactValue(arg, options) };
    }
    if (typeof arg === 'string') return redactText(arg, options);
    if (typeof arg === 'object' && arg !== null) return redactValue(arg, options);
    return arg;
  });
}

/**
 * How the server process stops when a supervisor (systemd, a container runtime, Ctrl-C) asks it to:
 * the first SIGTERM or SIGINT starts a drain, and from then on the stop is bounded. A second signal
 * stops at once, and a stop that has not let the process exit within the limit ends it. Both exit 1
 * with a log line, after handing the answers in progress back to the inbox for the next start.
 */
import { toError } from '../src/errors.ts';
import type { Logger } from '../src/log/logger.ts';

/** The signals that ask the server to stop. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * A signal this soon after the first is the same request delivered twice, not a second one:
 * Ctrl-C on `npm start` reaches the bot from the terminal and again relayed by npm.
 */
export const REPEAT_WINDOW_MS = 1_000;

/**
 * How long a stop may take in all, from the signal to the exit, before the process ends itself with
 * exit code 1: under the 30 s a supervisor is told to wait before it sends SIGKILL (compose.yaml's
 * stop_grace_period and deploy/hrbot.service's TimeoutStopSec, held to it by a test; Kubernetes'
 * default grace period).
 */
export const STOP_LIMIT_MS = 25_000;

/** How long a stop cut short waits for the hand-back before it exits anyway. */
export const HAND_BACK_LIMIT_MS = 1_000;

/** Options for {@link StopSignals.bound}. */
export interface BoundStopOptions {
  /** How long, from now, the process may take to stop and exit before it is ended. */
  limitMs: number;
  /**
   * Hands the answers still in progress back to the inbox before a stop cut short, so the next start
   * takes them at once instead of after their lease; waited for at most {@link HAND_BACK_LIMIT_MS}.
   */
  handBack?: () => Promise<number>;
}

/** A stop in progress. */
export interface BoundedStop {
  /** The stop completed: the limit no longer keeps the process alive, but still ends it if something else does. */
  completed(): void;
}

/** The stop signals, listened to from {@link listenForStop} until the process exits. */
export interface StopSignals {
  /** Resolves with the first SIGTERM or SIGINT. */
  readonly first: Promise<NodeJS.Signals>;
  /** Bound the stop that the first signal began (see the module comment). */
  bound(options: BoundStopOptions): BoundedStop;
}

/** Options for {@link listenForStop}. */
export interface ListenForStopOptions {
  log: Logger;
}

/**
 * Take over SIGTERM and SIGINT for the rest of the process. The listeners are never removed: between
 * removing one and adding the next, a signal would meet its default action and end the process.
 */
export function listenForStop(options: ListenForStopOptions): StopSignals {
  const { log } = options;
  let firstAt: number | undefined;
  let resolveFirst: (signal: NodeJS.Signals) => void = () => undefined;
  const first = new Promise<NodeJS.Signals>((resolve) => (resolveFirst = resolve));
  let handBack: () => Promise<number> = () => Promise.resolve(0);
  let limit: NodeJS.Timeout | undefined;
  let ended = false;

  const end = (reason: Record<string, unknown>, message: string) => {
    if (ended) return;
    ended = true;
    clearTimeout(limit);
    log.fatal(reason, message);
    let waited: NodeJS.Timeout | undefined;
    const bound = new Promise<undefined>((resolve) => (waited = setTimeout(() => resolve(undefined), HAND_BACK_LIMIT_MS)));
    void Promise.race([Promise.resolve().then(handBack), bound])
      .then(
        (handedBack) => log.info({ handedBack: handedBack ?? 'unknown (the hand-back did not finish in time)' }, 'exiting'),
        (error: unknown) => log.error({ err: toError(error) }, 'could not hand answers back; their leases will expire'),
      )
      .finally(() => {
        clearTimeout(waited);
        process.exit(1);
      });
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = Date.now();
      resolveFirst(signal);
      return;
    }
    if (Date.now() - firstAt < REPEAT_WINDOW_MS) {
      log.info({ signal }, 'the stop signal again, at once: the same stop');
      return;
    }
    end({ signal }, 'stopping now on a second signal; answers not yet sent stay in the inbox for the next start');
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);

  return {
    first,
    bound(bounds) {
      if (bounds.handBack !== undefined) handBack = bounds.handBack;
      // Kept referenced while the stop runs: a drain waiting on a promise that never settles would
      // otherwise let the event loop empty and the process exit 0 as if the stop had been clean.
      limit = setTimeout(() => end({ limitMs: bounds.limitMs }, `not stopped within ${bounds.limitMs} ms of the signal; exiting`), bounds.limitMs);
      return {
        completed() {
          limit?.unref();
        },
      };
    },
  };
}

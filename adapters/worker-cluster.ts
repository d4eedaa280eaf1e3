/**
 * WORKERS=n: this process becomes a supervisor of n server processes (node:cluster) sharing one
 * port. It reserves the ports, starts the workers (the first alone, so the database migrates and the
 * handbook is indexed once), starts again one that crashes, and on SIGTERM asks every worker to drain
 * and waits for them. It serves nothing itself and never opens the database.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { HrbotError, toError } from '../src/errors.ts';
import type { Logger } from '../src/log/logger.ts';
import { describeListenError } from './listen-error.ts';
import { superviseMetrics } from './worker-metrics.ts';
import { HAND_BACK_LIMIT_MS, listenForStop, STOP_LIMIT_MS } from './stop-signals.ts';

/** What a worker reads from its environment: the ports its supervisor reserved for all workers. */
export const WORKER_PORT_ENV = 'HRBOT_WORKER_PORT';
export const WORKER_METRICS_PORT_ENV = 'HRBOT_WORKER_METRICS_PORT';

/** The message a worker sends its supervisor once it listens and takes work. */
export interface WorkerListening {
  hrbot: 'listening';
  port: number;
}

export function isWorkerListening(message: unknown): message is WorkerListening {
  return typeof message === 'object' && message !== null && (message as { hrbot?: unknown }).hrbot === 'listening';
}

/** Options of {@link runWorkerCluster}; every bound has its default here. */
export interface WorkerClusterOptions {
  workers: number;
  port: number;
  host: string | undefined;
  metricsPort: number | undefined;
  log: Logger;
  /** One line for whoever is at the terminal (already redacted by the caller). */
  tellOperator: (message: string) => void;
  /** Set for every worker when the configuration has none, so their log pseudonyms agree. */
  pseudonymKey: string | undefined;
  /** Crashed workers started again within {@link restartWindowMs} before the supervisor gives up and stops. Default 5. */
  maxRestarts?: number;
  /** Default 60 s. */
  restartWindowMs?: number;
  /** Wait before starting a crashed worker again; doubled for each recent crash, up to 10 s. Default 250 ms. */
  restartDelayMs?: number;
  /** How long a worker may take to listen once started. Default 120 s (a first start indexes the handbook). */
  startLimitMs?: number;
}

const DEFAULTS = { maxRestarts: 5, restartWindowMs: 60_000, restartDelayMs: 250, startLimitMs: 120_000 } as const;
const MAX_RESTART_DELAY_MS = 10_000;

class WorkerStartError extends HrbotError {
  constructor(message: string, readonly exitCode: number) {
    super('worker_start_failed', message);
  }
}

/** Supervise the workers until a stop signal, or until they cannot be kept running; resolves with the exit code. */
export async function runWorkerCluster(options: WorkerClusterOptions): Promise<number> {
  const settings = { ...DEFAULTS, ...options };
  const { log } = options;
  const stopSignals = listenForStop({ log });
  let ports: { port: number; metricsPort: number | undefined };
  try {
    ports = await reservePorts(options.port, options.metricsPort, options.host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    log.fatal({ err: toError(error), code }, 'could not listen');
    options.tellOperator(error instanceof PortReservationError ? error.describe(options.host) : describeListenError(code, options.port, options.host));
    return 1;
  }
  const env: Record<string, string> = {
    [WORKER_PORT_ENV]: String(ports.port),
    ...(ports.metricsPort === undefined ? {} : { [WORKER_METRICS_PORT_ENV]: String(ports.metricsPort) }),
    ...(options.pseudonymKey === undefined ? { LOG_PSEUDONYM_KEY: randomBytes(32).toString('base64url') } : {}),
  };

  const live = new Set<Worker>();
  superviseMetrics(() => live, log);
  let stopping = false;
  let failing: number | undefined;
  const crashes: number[] = [];
  let restartTimer: NodeJS.Timeout | undefined;
  let resolveGaveUp: () => void = () => undefined;
  const gaveUp = new Promise<void>((resolve) => (resolveGaveUp = resolve));

  /** Start one worker; resolves when it listens, rejects with a {@link WorkerStartError} when it exits or hangs first. */
  const start = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork(env);
      live.add(worker);
      let listening = false;
      const limit = setTimeout(() => {
        worker.process.kill('SIGKILL');
        reject(new WorkerStartError(`a worker did not listen within ${settings.startLimitMs} ms`, 1));
      }, settings.startLimitMs);
      worker.on('message', (message: unknown) => {
        if (!isWorkerListening(message) || listening) return;
        listening = true;
        clearTimeout(limit);
        resolve(worker);
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker);
        clearTimeout(limit);
        if (!listening) {
          reject(new WorkerStartError(`a worker exited before it listened (${signal ?? `exit code ${code}`})`, code === 0 || code === null ? 1 : code));
          return;
        }
        if (!stopping) onCrash(worker, code, signal);
      });
    });

  const onCrash = (worker: Worker, code: number | null, signal: string | null) => {
    const now = Date.now();
    crashes.push(now);
    while (crashes.length > 0 && crashes[0]! < now - settings.restartWindowMs) crashes.shift();
    if (crashes.length > settings.maxRestarts) {
      log.fatal({ workerPid: worker.process.pid, code, signal, crashes: crashes.length, windowMs: settings.restartWindowMs }, 'workers keep crashing; stopping');
      options.tellOperator(`workers crashed ${crashes.length} times within ${settings.restartWindowMs / 1000} s; stopping (see the log for why)`);
      failing = 1;
      resolveGaveUp();
      return;
    }
    const delayMs = Math.min(MAX_RESTART_DELAY_MS, settings.restartDelayMs * 2 ** (crashes.length - 1));
    // Its unfinished items are taken up by the other workers (their pid check), or by the new one at its start.
    log.error({ workerPid: worker.process.pid, code, signal, restartInMs: delayMs }, 'worker exited; starting another');
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopping) return;
      start().then(
        (next) => log.info({ workerPid: next.process.pid }, 'worker started again'),
        (error: unknown) => {
          // A worker that cannot start again counts as one more crash.
          log.error({ err: toError(error) }, 'a worker could not start again');
          onCrash(worker, error instanceof WorkerStartError ? error.exitCode : 1, null);
        },
      );
    }, delayMs);
  };

  /** Ask every worker to drain (SIGTERM) and wait until all have exited; true when all exited cleanly. */
  const stopAll = async (): Promise<boolean> => {
    stopping = true;
    clearTimeout(restartTimer);
    const exits = [...live].map(
      (worker) =>
        new Promise<boolean>((resolve) => {
          if (worker.isDead()) return resolve(worker.process.exitCode === 0);
          worker.once('exit', (code) => resolve(code === 0));
          worker.process.kill('SIGTERM');
        }),
    );
    return (await Promise.all(exits)).every(Boolean);
  };

  try {
    // The first alone: it migrates the database and indexes the handbook; the others find both done.
    const first = await Promise.race([start(), stopSignals.first.then(() => undefined)]);
    const rest = first === undefined ? [] : await Promise.race([Promise.all(Array.from({ length: options.workers - 1 }, start)), stopSignals.first.then(() => [])]);
    if (first !== undefined) {
      log.info(
        {
          host: options.host ?? 'all interfaces',
          port: ports.port,
          metricsPort: ports.metricsPort,
          workers: options.workers,
          pids: [first, ...rest].map((worker) => worker.process.pid),
        },
        'hrbot listening',
      );
    }
  } catch (error) {
    if (!(error instanceof WorkerStartError)) throw error;
    log.fatal({ err: error }, 'could not start the workers');
    await stopAll();
    return error.exitCode;
  }

  const reason = await Promise.race([stopSignals.first.then((signal) => ({ signal })), gaveUp.then(() => ({ signal: undefined }))]);
  if (reason.signal !== undefined) log.info({ signal: reason.signal, workers: live.size, limitMs: STOP_LIMIT_MS }, 'shutting down');
  // Each worker bounds its own stop (STOP_LIMIT_MS); this bound is a little longer, so theirs ends first.
  const stop = stopSignals.bound({
    limitMs: STOP_LIMIT_MS + HAND_BACK_LIMIT_MS,
    // A second signal, or the limit: pass it on, so each worker stops at once and hands its answers back.
    // Waited for (at most HAND_BACK_LIMIT_MS): the supervisor exiting first would end the workers at once.
    handBack: () => {
      const exits = [...live].map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
      for (const worker of live) worker.process.kill('SIGTERM');
      return Promise.all(exits).then(() => 0);
    },
  });
  const clean = await stopAll();
  log.info({ clean }, 'stopped');
  stop.completed();
  return failing ?? (clean ? 0 : 1);
}

/** The port (or the metrics port) is taken: said with the variable that names it. */
class PortReservationError extends HrbotError {
  constructor(
    readonly variable: 'PORT' | 'METRICS_PORT',
    readonly port: number,
    cause: unknown,
  ) {
    super('port_unavailable', `cannot reserve ${variable} ${port}`, { cause });
  }

  describe(host: string | undefined): string {
    const code = (this.cause as NodeJS.ErrnoException).code ?? 'unknown error';
    if (this.variable === 'PORT') return describeListenError(code, this.port, host);
    return `cannot listen on ${host ?? 'all interfaces'} port ${this.port} (${code}): check METRICS_PORT and HOST`;
  }
}

/**
 * Check that the ports are free with a plain bind (0: take a free one), then let them go for the
 * workers to bind together: a port already held fails here, before any worker starts.
 */
async function reservePorts(port: number, metricsPort: number | undefined, host: string | undefined): Promise<{ port: number; metricsPort: number | undefined }> {
  const main = await bindFree('PORT', port, host);
  try {
    // Bound while the main port is still held, so port 0 for both cannot hand out the same one.
    const metrics = metricsPort === undefined ? undefined : await bindFree('METRICS_PORT', metricsPort, host);
    await metrics?.close();
    return { port: main.port, metricsPort: metrics?.port };
  } finally {
    await main.close();
  }
}

async function bindFree(variable: 'PORT' | 'METRICS_PORT', port: number, host: string | undefined): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, ...(host === undefined ? {} : { host }), exclusive: true }, () => resolve());
    });
  } catch (error) {
    throw new PortReservationError(variable, port, error);
  }
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

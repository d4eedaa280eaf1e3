// First: on a Node.js too old for better-sqlite3 this stops the process with one line, before anything native loads.
import './node-version-check.ts';
import cluster from 'node:cluster';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { checkStartup, loadConfig } from '../src/config.ts';
import type { Config } from '../src/config.ts';
import { createCore } from '../src/core.ts';
import type { Core } from '../src/core.ts';
import { loadEnvFile } from '../src/env-file.ts';
import { ConfigError, HrbotError, toError } from '../src/errors.ts';
import { HttpServer, MetricsPortError } from '../src/http/http-server.ts';
import { routeConsoleTo } from '../src/log/console-bridge.ts';
import type { SecretBox } from '../src/secret-box.ts';
import { PgInstallationStore } from '../src/store/postgres/pg-installation-store.ts';
import type { PostgresStores } from '../src/store/postgres/pg-stores.ts';
import { openPostgresStores } from '../src/store/postgres/pg-stores.ts';
import { createLogger } from '../src/log/logger.ts';
import type { Logger } from '../src/log/logger.ts';
import { redactText } from '../src/log/redact.ts';
import { runConsole } from './console/console-adapter.ts';
import { consoleLog } from './console/console-log.ts';
import { describeListenError } from './listen-error.ts';
import type { SlackAdapter } from './slack/slack-adapter.ts';
import { startSlack } from './slack/slack-adapter.ts';
import { listenForStop, STOP_LIMIT_MS } from './stop-signals.ts';
import { mountTeams } from './teams/mount-teams.ts';
import type { TeamsAdapter } from './teams/teams-adapter.ts';
import type { WorkerListening } from './worker-cluster.ts';
import { runWorkerCluster, WORKER_METRICS_PORT_ENV, WORKER_PORT_ENV } from './worker-cluster.ts';
import { workerMetrics } from './worker-metrics.ts';

/** Which way the bot runs: the terminal chat, or the HTTP server for Slack and Teams. */
export function chooseMode(config: Config): 'console' | 'server' {
  if (config.env.HRBOT_MODE !== 'auto') return config.env.HRBOT_MODE;
  return config.slack.mode !== 'off' || config.teams.mode !== 'off' ? 'server' : 'console';
}

// Every line this process writes goes through the redacting logger. Until the configuration is
// known it runs on defaults and writes to standard error, which never mixes with the terminal chat.
let log: Logger = createLogger({ destination: process.stderr });
let restoreConsole = routeConsoleTo(log);

/** Swap in the configured logger, and move the console bridge over to it. */
function useLogger(next: Logger): void {
  restoreConsole();
  log = next;
  restoreConsole = routeConsoleTo(log);
}

/** A plain line on standard error for whoever is at the terminal, redacted like a log line. */
function tellOperator(message: string): void {
  process.stderr.write(`hrbot: ${redactText(message)}\n`);
}

// Node would print an uncaught error's stack straight to stderr, past the redactor.
process.on('uncaughtException', (error: unknown) => {
  log.fatal({ err: toError(error) }, 'uncaught exception');
  tellOperator(`unexpected failure: ${toError(error).message}`);
  process.exit(1);
});

/** How long a stop waits for answers in flight before handing them back to the inbox. */
const SHUTDOWN_DRAIN_MS = 10_000;

async function main(): Promise<number> {
  let config: Config;
  let fromEnvFile: string[] | undefined;
  let warnings: string[];
  try {
    // The real environment wins over .env: loadEnvFile leaves every name already set alone.
    fromEnvFile = loadEnvFile(join(process.cwd(), '.env'));
    config = loadConfig();
    warnings = checkStartup(config);
  } catch (error) {
    if (error instanceof ConfigError) {
      log.fatal({ err: error, code: error.code }, 'invalid configuration');
      tellOperator(error.message);
      return 2;
    }
    throw error;
  }
  const mode = chooseMode(config);
  // In the terminal chat, logs go to a file next to the database, so the screen holds the conversation only.
  // A log file that cannot be written is said once the store opened: when the store's folder is the
  // cause, the store's own message says it all, and one line is what an operator should get.
  const logFileWarnings: string[] = [];
  const chatLog = mode === 'console' ? consoleLog(config.env.DATABASE_PATH, config.env.LOG_LEVEL, (message) => logFileWarnings.push(message)) : undefined;
  useLogger(
    createLogger({
      level: chatLog?.level ?? config.env.LOG_LEVEL,
      destination: chatLog?.destination ?? process.stdout,
      ...(config.env.LOG_PSEUDONYM_KEY === undefined ? {} : { pseudonymKey: config.env.LOG_PSEUDONYM_KEY }),
    }),
  );
  // A worker of WORKERS > 1 names itself on every line; what its supervisor already said it does not repeat.
  const workerId = cluster.worker?.id;
  if (workerId !== undefined) {
    useLogger(log.child({ worker: workerId }));
  } else {
    if (fromEnvFile !== undefined) log.info({ variables: fromEnvFile }, 'read .env from the working directory');
    for (const warning of warnings) log.warn(warning);
  }
  if (mode === 'server' && config.env.WORKERS > 1 && cluster.isPrimary) {
    return runWorkerCluster({
      workers: config.env.WORKERS,
      port: config.env.PORT,
      host: config.env.HOST,
      metricsPort: config.env.METRICS_PORT,
      log,
      tellOperator,
      pseudonymKey: config.env.LOG_PSEUDONYM_KEY,
    });
  }
  // DATABASE_URL: users' data on PostgreSQL, shared by every replica (the handbook index stays in DATABASE_PATH).
  let postgres: PostgresStores | undefined;
  if (config.env.DATABASE_URL !== undefined) {
    try {
      postgres = await openPostgresStores(config.env.DATABASE_URL, {
        limits: { perMinute: config.env.RATE_LIMIT_PER_MINUTE, dailyQuestions: config.env.DAILY_QUESTION_QUOTA },
        log,
      });
    } catch (error) {
      if (!(error instanceof HrbotError)) throw error;
      log.fatal({ err: error, code: error.code }, 'could not open the store');
      tellOperator(error.message);
      return 1;
    }
  }
  let core: Core;
  try {
    core = createCore(config, log, postgres === undefined ? {} : { shared: postgres });
  } catch (error) {
    await postgres?.close();
    if (error instanceof HrbotError) {
      log.fatal({ err: error, code: error.code }, 'could not start');
      tellOperator(error.message);
      return 1;
    }
    throw error;
  }
  for (const warning of logFileWarnings) tellOperator(warning);

  if (mode === 'console') {
    log.info({ mode, ai: config.bedrock.enabled ? 'on' : 'off' }, 'hrbot terminal chat');
    try {
      await runConsole({
        engine: core.engine,
        input: process.stdin,
        output: process.stdout,
        user: config.env.CONSOLE_USER ?? userInfo().username,
        interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
        ...(chatLog?.shownPath === undefined ? {} : { logFile: chatLog.shownPath }),
      });
    } finally {
      core.close();
    }
    return 0;
  }

  // From here SIGTERM and SIGINT are the server's: one during start-up stops it as soon as it listens.
  const stopSignals = listenForStop({ log });
  const server = new HttpServer({
    log,
    metrics: core.metrics,
    ready: () => core.ready(),
    metricsPort: workerId === undefined ? config.env.METRICS_PORT : workerPort(WORKER_METRICS_PORT_ENV),
    metricsToken: config.env.METRICS_TOKEN,
    joinPort: workerId !== undefined,
    // A worker's scrape answers for every worker of the machine.
    ...(workerId === undefined ? {} : { renderMetrics: workerMetrics(core.metrics, log) }),
  });
  // --- Slack (adapters/slack): POST /slack/events on this server, or Socket Mode ---
  let slack: SlackAdapter | undefined;
  if (config.slack.mode !== 'off') {
    try {
      const pool = postgres?.pool;
      slack = await startSlack({
        config,
        engine: core.engine,
        inbox: core.inbox,
        metrics: core.metrics,
        server,
        db: core.db,
        log,
        ...(pool === undefined ? {} : { installationStore: (box: SecretBox) => new PgInstallationStore(pool, box, 'slack') }),
      });
    } catch (error) {
      if (!(error instanceof HrbotError)) throw error;
      log.fatal({ err: error, code: error.code }, 'could not start Slack');
      tellOperator(error.message);
      core.close();
      return 1;
    }
  }
  // --- end Slack ---
  // --- Teams: POST /api/messages only when authenticated (MICROSOFT_APP_ID) or in emulator mode ---
  const teams: TeamsAdapter | undefined =
    config.teams.mode === 'off' ? undefined : mountTeams({ server, config, engine: core.engine, inbox: core.inbox, metrics: core.metrics, log });
  // --- end Teams ---
  const host = config.env.HOST;
  let port: number;
  try {
    port = await server.listen(workerId === undefined ? config.env.PORT : (workerPort(WORKER_PORT_ENV) ?? config.env.PORT), host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    log.fatal({ err: toError(error), code, port: config.env.PORT }, 'could not listen');
    tellOperator(error instanceof MetricsPortError ? error.message : describeListenError(code, config.env.PORT, host));
    await teams?.close();
    await slack?.stop();
    core.close();
    return 1;
  }
  // Taken up now: what an earlier run acknowledged and did not finish (a crash, or a stop past its drain).
  const resumed = await core.inbox.worker.start();
  log.info(
    { host: host ?? 'all interfaces', port, metricsPort: server.metricsPort, slack: config.slack.mode, teams: config.teams.mode, ai: config.bedrock.enabled ? 'on' : 'off', resumed },
    // A worker's supervisor says 'hrbot listening' once every worker does.
    workerId === undefined ? 'hrbot listening' : 'worker listening',
  );
  if (workerId !== undefined) process.send?.({ hrbot: 'listening', port } satisfies WorkerListening);
  const signal = await stopSignals.first;
  log.info({ signal, drainMs: SHUTDOWN_DRAIN_MS, limitMs: STOP_LIMIT_MS }, 'shutting down');
  // A second signal stops at once; a stop that hangs is ended at the limit (both exit 1).
  const stopping = stopSignals.bound({ limitMs: STOP_LIMIT_MS, handBack: () => core.inbox.worker.stop(0) });
  // Stop taking events first, then let answers in flight finish within the platforms' patience;
  // what is not finished by then stays in the inbox for the next start.
  await server.close();
  await slack?.stop();
  const handedBack = await core.inbox.worker.stop(SHUTDOWN_DRAIN_MS);
  await teams?.close(); // Teams: notices still being sent (answers are the inbox worker's)
  log.info({ handedBack }, 'stopped');
  core.close();
  stopping.completed();
  return 0;
}

/** A port the supervisor reserved for its workers, from the environment it gave them. */
function workerPort(name: string): number | undefined {
  const value = process.env[name];
  return value === undefined ? undefined : Number(value);
}

main().then(
  (code) => {
    process.exitCode = code;
    // A worker's channel to its supervisor would keep it alive; closed, the process ends as any other.
    cluster.worker?.disconnect();
  },
  (error: unknown) => {
    log.fatal({ err: toError(error) }, 'unexpected failure');
    tellOperator(`unexpected failure: ${toError(error).message}`);
    process.exitCode = 1;
    cluster.worker?.disconnect();
  },
);

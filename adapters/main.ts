import { userInfo } from 'node:os';
import { loadConfig } from '../src/config.ts';
import type { Config } from '../src/config.ts';
import { createCore } from '../src/core.ts';
import type { Core } from '../src/core.ts';
import { ConfigError, HrbotError, toError } from '../src/errors.ts';
import { HttpServer } from '../src/http/http-server.ts';
import { createLogger } from '../src/log/logger.ts';
import { runConsole } from './console/console-adapter.ts';
import type { SlackAdapter } from './slack/slack-adapter.ts';
import { startSlack } from './slack/slack-adapter.ts';
import { mountTeams } from './teams/mount-teams.ts';

/** Which way the bot runs: the terminal chat, or the HTTP server for Slack and Teams. */
export function chooseMode(config: Config): 'console' | 'server' {
  if (config.env.HRBOT_MODE !== 'auto') return config.env.HRBOT_MODE;
  return config.slack.mode !== 'off' || config.teams.enabled ? 'server' : 'console';
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`hrbot: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const mode = chooseMode(config);
  // In the terminal chat, logs go to standard error so the conversation on standard output stays clean.
  const log = createLogger({
    level: config.env.LOG_LEVEL,
    destination: mode === 'console' ? process.stderr : process.stdout,
    ...(config.env.LOG_PSEUDONYM_KEY === undefined ? {} : { pseudonymKey: config.env.LOG_PSEUDONYM_KEY }),
  });
  let core: Core;
  try {
    core = createCore(config, log);
  } catch (error) {
    if (error instanceof HrbotError) {
      log.fatal({ err: error, code: error.code }, 'could not start');
      process.stderr.write(`hrbot: ${error.message}\n`);
      return 1;
    }
    throw error;
  }

  if (mode === 'console') {
    try {
      await runConsole({
        engine: core.engine,
        input: process.stdin,
        output: process.stdout,
        user: config.env.CONSOLE_USER ?? userInfo().username,
        interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
      });
    } finally {
      core.close();
    }
    return 0;
  }

  const server = new HttpServer({ log, metrics: core.metrics, ready: () => core.ready() });
  // --- Slack (adapters/slack): POST /slack/events on this server, or Socket Mode ---
  let slack: SlackAdapter | undefined;
  if (config.slack.mode !== 'off') {
    try {
      slack = await startSlack({ config, engine: core.engine, server, log });
    } catch (error) {
      if (!(error instanceof HrbotError)) throw error;
      log.fatal({ err: error, code: error.code }, 'could not start Slack');
      process.stderr.write(`hrbot: ${error.message}\n`);
      core.close();
      return 1;
    }
  }
  // --- end Slack ---
  // --- Teams: POST /api/messages (authenticated with MICROSOFT_APP_ID, else emulator-only) ---
  const teams = mountTeams(server, config, core.engine, log);
  // --- end Teams ---
  const port = await server.listen(config.env.PORT);
  log.info({ port, slack: config.slack.mode, teams: config.teams.enabled, ai: config.bedrock.enabled }, 'hrbot listening');
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await teams.close(); // Teams: drain answers still being sent
  await server.close();
  await slack?.stop(); // Slack: drain events acknowledged but still being answered
  core.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`hrbot: unexpected failure: ${toError(error).message}\n`);
    process.exitCode = 1;
  },
);

import type { Config } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';
import type { HttpServer } from '../../src/http/http-server.ts';
import type { InboxStore } from '../../src/inbox/inbox-store.ts';
import type { InboxWorker } from '../../src/inbox/inbox-worker.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { Metrics } from '../../src/metrics.ts';
import type { TeamsAdapterOptions, TeamsEngine } from './teams-adapter.ts';
import { TeamsAdapter } from './teams-adapter.ts';

/** Test and tuning knobs that have no environment variable. */
export type TeamsTuning = Omit<TeamsAdapterOptions, 'engine' | 'inbox' | 'metrics' | 'log' | 'credentials' | 'botName' | 'knowledgeBaseUrl'>;

/** What {@link mountTeams} needs. */
export interface MountTeamsOptions {
  /** The shared HTTP server; `POST /api/messages` is registered on it. */
  server: HttpServer;
  config: Config;
  engine: TeamsEngine;
  /** The durable inbox: messages are stored here before their 200 and answered by its worker. */
  inbox: { store: InboxStore; worker: InboxWorker };
  metrics: Metrics;
  log: Logger;
}

/**
 * Serve Teams on `POST /api/messages` of the shared server. With MICROSOFT_APP_ID every request
 * must carry a Bot Framework token. In emulator mode (TEAMS_EMULATOR=true, which the config only
 * accepts on a loopback HOST) the endpoint takes unauthenticated requests whose serviceUrl is this
 * machine, and says so in a warning. With neither, there is nothing to mount: the caller must not
 * call this, and it refuses rather than serve an open endpoint. The inbox worker gets the handler
 * that answers stored Teams messages; the caller starts and stops the worker.
 */
export function mountTeams(options: MountTeamsOptions, tuning: TeamsTuning = {}): TeamsAdapter {
  const { server, config, engine, inbox, metrics, log } = options;
  const { env } = config;
  if (config.teams.mode === 'off') {
    throw new ConfigError('Teams is off: set MICROSOFT_APP_ID (authenticated) or TEAMS_EMULATOR=true with a loopback HOST to serve /api/messages');
  }
  const teamsLog = log.child({ adapter: 'teams' });
  const adapter = new TeamsAdapter({
    engine,
    inbox,
    metrics,
    log: teamsLog,
    credentials: {
      appId: env.MICROSOFT_APP_ID,
      appPassword: env.MICROSOFT_APP_PASSWORD,
      appType: env.MICROSOFT_APP_TYPE,
      tenantId: env.MICROSOFT_APP_TENANT_ID,
    },
    botName: env.BOT_NAME,
    knowledgeBaseUrl: env.KNOWLEDGE_BASE_URL,
    ...tuning,
  });
  if (!adapter.authenticated) {
    teamsLog.warn(
      'TEAMS_EMULATOR=true: /api/messages is UNAUTHENTICATED, for the local Bot Framework Emulator only; it listens on a loopback HOST and accepts only activities whose serviceUrl is this machine',
    );
  }
  inbox.worker.handle('teams', adapter.inboxHandler);
  server.route('POST', '/api/messages', adapter.handleRequest);
  return adapter;
}

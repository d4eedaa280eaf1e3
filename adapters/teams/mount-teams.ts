import type { Config } from '../../src/config.ts';
import type { HttpServer } from '../../src/http/http-server.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { TeamsAdapterOptions, TeamsEngine } from './teams-adapter.ts';
import { TeamsAdapter } from './teams-adapter.ts';

/** Test and tuning knobs that have no environment variable. */
export type TeamsTuning = Omit<TeamsAdapterOptions, 'engine' | 'log' | 'credentials'>;

/**
 * Serve Teams on `POST /api/messages` of the shared server. With no MICROSOFT_APP_ID the endpoint
 * takes unauthenticated requests (for the Bot Framework Emulator) whose serviceUrl is this machine,
 * and says so in a warning.
 */
export function mountTeams(server: HttpServer, config: Config, engine: TeamsEngine, log: Logger, tuning: TeamsTuning = {}): TeamsAdapter {
  const { env } = config;
  const teamsLog = log.child({ adapter: 'teams' });
  const adapter = new TeamsAdapter({
    engine,
    log: teamsLog,
    credentials: {
      appId: env.MICROSOFT_APP_ID,
      appPassword: env.MICROSOFT_APP_PASSWORD,
      appType: env.MICROSOFT_APP_TYPE,
      tenantId: env.MICROSOFT_APP_TENANT_ID,
    },
    ...tuning,
  });
  if (!adapter.authenticated) {
    teamsLog.warn(
      'MICROSOFT_APP_ID is not set: /api/messages is UNAUTHENTICATED, for the local Bot Framework Emulator only; it accepts only activities whose serviceUrl is this machine',
    );
  }
  server.route('POST', '/api/messages', adapter.handleRequest);
  return adapter;
}

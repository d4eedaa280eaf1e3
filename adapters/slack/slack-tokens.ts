import type { webApi } from '@slack/bolt';
import { LRUCache } from 'lru-cache';
import type { InstallationStore } from '../../src/store/installation-store.ts';
import type { BotIdentity } from './parse.ts';
import { SlackWebClient } from './web-api-client.ts';

type WebClient = webApi.WebClient;

/** The bot's token and identity in one workspace. */
export interface SlackAuthorization {
  token: string;
  bot: BotIdentity;
}

/**
 * Where the token of a Web API call comes from. Single-token mode: SLACK_BOT_TOKEN for every
 * workspace. OAuth installs: the workspace's installation, or its org's for an org-wide install.
 */
export interface SlackTokens {
  /**
   * The bot's authorization in workspace `teamId` (of Enterprise Grid org `enterpriseId`), or
   * undefined when the app is not installed there. Throws SecretBoxError when the stored token was
   * sealed under another HRBOT_ENCRYPTION_KEY.
   */
  forTeam(teamId: string | undefined, enterpriseId?: string): Promise<SlackAuthorization | undefined>;
}

/** A Web API client carrying the right token, per workspace. */
export interface SlackClients {
  /** A client for workspace `teamId` (see {@link SlackTokens.forTeam}), or undefined when the app is not installed there. */
  forTeam(teamId: string | undefined, enterpriseId?: string): Promise<WebClient | undefined>;
}

/** Single-token mode: one client (SLACK_BOT_TOKEN's) for every workspace, as before OAuth installs existed. */
export function oneClient(client: WebClient): SlackClients {
  return { forTeam: () => Promise.resolve(client) };
}

/** OAuth installs: each workspace's token from its stored installation. */
export function installedTokens(installations: InstallationStore): SlackTokens {
  return {
    async forTeam(teamId, enterpriseId) {
      const found = await installations.find({ teamId, enterpriseId });
      if (found === undefined) return undefined;
      return { token: found.botToken, bot: { userId: found.botUserId, ...(found.botId === undefined ? {} : { botId: found.botId }) } };
    },
  };
}

/** Web API clients kept at once, one per installed token, least recently used dropped first. */
export const MAX_CACHED_CLIENTS = 500;

/**
 * One Web API client per token, built on first use with the adapter's client options and kept in a
 * bounded cache (default {@link MAX_CACHED_CLIENTS}); the token is looked up on every call, so a
 * workspace that uninstalled gets undefined at once, whatever the cache still holds.
 */
export function installedClients(tokens: SlackTokens, clientOptions: webApi.WebClientOptions, maxClients = MAX_CACHED_CLIENTS): SlackClients {
  const clients = new LRUCache<string, WebClient>({ max: maxClients });
  return {
    async forTeam(teamId, enterpriseId) {
      const authorization = await tokens.forTeam(teamId, enterpriseId);
      if (authorization === undefined) return undefined;
      let client = clients.get(authorization.token);
      if (client === undefined) {
        client = new SlackWebClient(authorization.token, clientOptions);
        clients.set(authorization.token, client);
      }
      return client;
    },
  };
}

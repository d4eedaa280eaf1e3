import type { ConfigurationBotFrameworkAuthentication } from 'botbuilder';
import { LRUCache } from 'lru-cache';

// The SDK's own types, reached through the class botbuilder exports (botframework-connector is its dependency, not ours).
type Auth = ConfigurationBotFrameworkAuthentication;
type ConnectorFactory = ReturnType<Auth['createConnectorFactory']>;
type ConnectorClient = Awaited<ReturnType<ConnectorFactory['create']>>;
type UserTokenClient = Awaited<ReturnType<Auth['createUserTokenClient']>>;
type ClaimsIdentity = Parameters<Auth['createConnectorFactory']>[0];

/** Connector clients kept at once, one per (app, service URL, audience): a deployment talks to a few. Default 100. */
export const MAX_CACHED_CONNECTORS = 100;

/**
 * botbuilder builds a new connector client (a whole HTTP pipeline, with its credentials) for every
 * turn, incoming or proactive, and a user-token client for every incoming one, which this bot never
 * uses. In a burst that is a good part of what each acknowledgement costs. The clients hold no
 * per-conversation state (the credentials refresh their own tokens), so one per (app, service URL,
 * audience) is kept and reused, in a bounded cache; `configure` runs once on each new client.
 */
export function reuseConnectorClients(auth: Auth, configure: (client: ConnectorClient) => void, max = MAX_CACHED_CONNECTORS): void {
  const clients = new LRUCache<string, Promise<ConnectorClient>>({ max });
  const userTokenClients = new LRUCache<string, Promise<UserTokenClient>>({ max });
  const cached = (appId: string, inner: ConnectorFactory): ConnectorFactory => ({
      create(serviceUrl: string, audience?: string): Promise<ConnectorClient> {
        const key = JSON.stringify([appId, serviceUrl, audience ?? null]);
        let client = clients.get(key);
        if (client === undefined) {
          client = inner.create(serviceUrl, audience).then((created) => {
            configure(created);
            return created;
          });
          // A failed creation is not kept: the next turn tries again.
          client.catch(() => clients.delete(key));
          clients.set(key, client);
        }
        return client;
      },
    });
  // The bot's app id as botbuilder reads it for the factory (empty in the emulator, which has no claims).
  const appIdOf = (identity: ClaimsIdentity): string =>
    identity.claims.find((claim) => claim.type === 'aud' || claim.type === 'appid' || claim.type === 'azp')?.value ?? '';

  const createConnectorFactory = auth.createConnectorFactory.bind(auth);
  auth.createConnectorFactory = (claimsIdentity) => cached(appIdOf(claimsIdentity), createConnectorFactory(claimsIdentity));
  const authenticateRequest = auth.authenticateRequest.bind(auth);
  auth.authenticateRequest = async (activity, authHeader) => {
    const result = await authenticateRequest(activity, authHeader);
    return result.connectorFactory === undefined ? result : { ...result, connectorFactory: cached(appIdOf(result.claimsIdentity), result.connectorFactory) };
  };
  const createUserTokenClient = auth.createUserTokenClient.bind(auth);
  auth.createUserTokenClient = (claimsIdentity) => {
    const key = appIdOf(claimsIdentity);
    let client = userTokenClients.get(key);
    if (client === undefined) {
      client = createUserTokenClient(claimsIdentity);
      client.catch(() => userTokenClients.delete(key));
      userTokenClients.set(key, client);
    }
    return client;
  };
}

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

// botbuilder 4.23.3 (its last release) declares @azure/msal-node ^2.13.1; package.json `overrides`
// moves it to a patched line. These tests read the copy botbuilder itself loads, and drive
// botframework-connector's own token code through it, because no Teams test acquires a token.
const fromBotbuilder = createRequire(createRequire(import.meta.url).resolve('botbuilder'));
const fromConnector = createRequire(fromBotbuilder.resolve('botframework-connector'));

interface MsalNode {
  ConfidentialClientApplication: new (config: unknown) => unknown;
}
interface ConnectorAuth {
  MsalAppCredentials: new (client: unknown, appId: string, authority: string, scope: string) => { getToken(force?: boolean): Promise<string> };
}

/** The oldest @azure/msal-node accepted: 5.1.5 dropped the vulnerable uuid@8 (GHSA-w5hq-g745-h8pq), 5.6.0 is the last 5.x. */
const PATCHED = [5, 6, 0];

function versionOf(load: NodeJS.Require): number[] {
  const pkg = load('@azure/msal-node/package.json') as { version: string };
  return pkg.version.split('.').map((part) => Number.parseInt(part, 10));
}

function atLeast(version: number[], minimum: number[]): boolean {
  for (let i = 0; i < minimum.length; i++) {
    const a = version[i] ?? 0;
    const b = minimum[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

const TENANT = 'botframework.com';
const AUTHORITY = `https://login.microsoftonline.com/${TENANT}`;
const TOKEN_ENDPOINT = `${AUTHORITY}/oauth2/v2.0/token`;

/** A Microsoft identity platform stand-in as MSAL's own network interface: no socket is opened. */
function fakeIdentityPlatform() {
  const posts: Array<{ url: string; body: URLSearchParams }> = [];
  return {
    posts,
    sendGetRequestAsync(url: string): Promise<never> {
      return Promise.reject(new Error(`unexpected GET ${url}`));
    },
    sendPostRequestAsync(url: string, options?: { body?: string }) {
      posts.push({ url, body: new URLSearchParams(options?.body ?? '') });
      return Promise.resolve({
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: { token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: 'fake-access-token-for-bot' },
      });
    },
  };
}

describe('Teams: the MSAL botbuilder loads', () => {
  it('is a patched version, for botbuilder and botframework-connector alike', () => {
    for (const [name, load] of [
      ['botbuilder', fromBotbuilder],
      ['botframework-connector', fromConnector],
    ] as const) {
      const version = versionOf(load);
      assert.ok(atLeast(version, PATCHED), `${name} loads @azure/msal-node ${version.join('.')}, older than ${PATCHED.join('.')}`);
    }
  });

  it('acquires the bot token the way botframework-connector asks for it', async () => {
    const msal = fromConnector('@azure/msal-node') as MsalNode;
    const { MsalAppCredentials } = fromBotbuilder('botframework-connector') as ConnectorAuth;
    const network = fakeIdentityPlatform();
    const client = new msal.ConfidentialClientApplication({
      auth: {
        clientId: 'hrbot-app-id',
        clientSecret: 'hrbot-app-password',
        authority: AUTHORITY,
        // Given up front so MSAL makes no discovery call.
        cloudDiscoveryMetadata: JSON.stringify({
          tenant_discovery_endpoint: `${AUTHORITY}/v2.0/.well-known/openid-configuration`,
          'api-version': '1.1',
          metadata: [{ preferred_network: 'login.microsoftonline.com', preferred_cache: 'login.windows.net', aliases: ['login.microsoftonline.com'] }],
        }),
        authorityMetadata: JSON.stringify({
          token_endpoint: TOKEN_ENDPOINT,
          authorization_endpoint: `${AUTHORITY}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${AUTHORITY}/oauth2/v2.0/logout`,
          issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
          jwks_uri: `${AUTHORITY}/discovery/v2.0/keys`,
        }),
      },
      system: { networkClient: network },
    });
    const credentials = new MsalAppCredentials(client, 'hrbot-app-id', AUTHORITY, 'https://api.botframework.com');
    const token = await credentials.getToken(true);
    assert.equal(token, 'fake-access-token-for-bot');
    assert.equal(network.posts.length, 1);
    const [post] = network.posts;
    assert.ok(post!.url.startsWith(TOKEN_ENDPOINT), post!.url);
    assert.equal(post!.body.get('grant_type'), 'client_credentials');
    assert.equal(post!.body.get('client_id'), 'hrbot-app-id');
    assert.equal(post!.body.get('client_secret'), 'hrbot-app-password');
    assert.equal(post!.body.get('scope'), 'https://api.botframework.com/.default');
  });
});

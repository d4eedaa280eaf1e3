import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClaimsIdentity } from 'botframework-connector';
import { ConfigurationBotFrameworkAuthentication } from 'botbuilder';
import { reuseConnectorClients } from '../adapters/teams/cached-connectors.ts';

describe('Teams: connector clients reused across turns', () => {
  it('makes one client per service URL and audience, configures it once, and does not keep a failed one', async () => {
    const auth = new ConfigurationBotFrameworkAuthentication({});
    const configured: unknown[] = [];
    reuseConnectorClients(auth, (client) => configured.push(client));
    const claims = new ClaimsIdentity([], true);
    const turnA = auth.createConnectorFactory(claims);
    const turnB = auth.createConnectorFactory(claims);
    const first = await turnA.create('http://127.0.0.1:1/a/', undefined);
    const again = await turnB.create('http://127.0.0.1:1/a/', undefined);
    const other = await turnB.create('http://127.0.0.1:1/b/', undefined);
    assert.equal(first, again, 'the second turn reuses the first turn\'s client');
    assert.notEqual(first, other, 'another service URL gets its own');
    assert.deepEqual(configured, [first, other], 'each configured once, when made');
    const tokenA = await auth.createUserTokenClient(claims);
    const tokenB = await auth.createUserTokenClient(claims);
    assert.equal(tokenA, tokenB);
  });
});

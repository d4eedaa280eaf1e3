import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { webApi } from '@slack/bolt';
import { webApiAgent } from '../adapters/slack/web-api-agent.ts';
import { closeServer, listenOnLoopback } from './support/loopback-server.ts';

// A Web API stand-in on loopback: every call answers ok, and each new connection is counted.
let base = '';
let connections = 0;
const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.setHeader('content-type', 'application/json');
    response.end('{"ok":true}');
  });
});
server.on('connection', () => {
  connections += 1;
});

before(async () => {
  base = `http://127.0.0.1:${await listenOnLoopback(server)}/api/`;
});
after(() => closeServer(server));

/** The keep-alive delays asked of sockets while `calls` Web API calls are made with `options`. */
async function keepAliveDelays(options: webApi.WebClientOptions, calls: number): Promise<number[]> {
  const client = new webApi.WebClient('xoxb-test', { slackApiUrl: base, retryConfig: { retries: 0 }, ...options });
  const delays: number[] = [];
  const descriptor = Object.getOwnPropertyDescriptor(Socket.prototype, 'setKeepAlive')!;
  const original = descriptor.value as (this: Socket, enable?: boolean, delay?: number) => Socket;
  Socket.prototype.setKeepAlive = function (this: Socket, enable?: boolean, delay?: number) {
    if (enable === true) delays.push(delay ?? 0);
    return original.call(this, enable, delay);
  };
  try {
    for (let i = 0; i < calls; i += 1) await client.chat.postMessage({ channel: 'D1', text: `reply ${i}` });
  } finally {
    Object.defineProperty(Socket.prototype, 'setKeepAlive', descriptor);
  }
  return delays;
}

test('the Web API agent asks every socket for the keep-alive delay axios asks for, so the setting is made once per connection', async () => {
  // Node's own agent and axios ask for different delays on every call: each call changes the socket's setting twice.
  const withGlobalAgent = await keepAliveDelays({}, 4);
  assert.ok(new Set(withGlobalAgent).size > 1, `the premise: the global agent and axios disagree (${withGlobalAgent.join(', ')})`);

  connections = 0;
  const agent = webApiAgent(base);
  try {
    const delays = await keepAliveDelays({ agent }, 4);
    assert.ok(delays.length >= 4, 'each call asked for keep-alive');
    assert.deepEqual([...new Set(delays)], [60_000], 'one delay on every call: Node skips the system calls after the first');
    assert.equal(connections, 1, 'the calls share one kept-alive connection');
  } finally {
    agent.destroy();
  }
});

test('the Web API agent speaks the protocol of the API URL', () => {
  const plain = webApiAgent('http://127.0.0.1:3000/api/');
  const tls = webApiAgent('https://slack.com/api/');
  try {
    assert.equal((plain as unknown as { protocol: string }).protocol, 'http:');
    assert.equal((tls as unknown as { protocol: string }).protocol, 'https:');
  } finally {
    plain.destroy();
    tls.destroy();
  }
});

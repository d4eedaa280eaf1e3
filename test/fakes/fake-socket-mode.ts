import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';

/** An acknowledgement the client sent: `{ envelope_id, payload? }`. */
export interface SocketAck {
  envelope_id: string;
  payload?: unknown;
}

/**
 * A local Socket Mode endpoint speaking Slack's envelope protocol: `hello` on connect, then
 * envelopes (`events_api`, `slash_commands`, `interactive`) pushed by the test, each expected
 * to be acknowledged with its `envelope_id`.
 * @see https://docs.slack.dev/apis/events-api/using-socket-mode
 */
export class FakeSocketMode {
  readonly acks: SocketAck[] = [];
  readonly #server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  readonly #sockets = new Set<WebSocket>();
  connections = 0;

  async start(): Promise<this> {
    await new Promise<void>((resolve) => {
      if (this.#server.address() !== null) resolve();
      else this.#server.once('listening', () => resolve());
    });
    this.#server.on('connection', (socket) => {
      this.connections += 1;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString('utf8')) as SocketAck;
        if (typeof message.envelope_id === 'string') this.acks.push(message);
      });
      socket.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A1' }, debug_info: { host: 'fake' } }));
    });
    return this;
  }

  /** The URL apps.connections.open hands out. */
  get url(): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}/link`;
  }

  /** Push an envelope to every connected client; returns its envelope id. */
  send(type: 'events_api' | 'slash_commands' | 'interactive', payload: unknown, retryAttempt = 0): string {
    const envelopeId = randomUUID();
    const envelope = { envelope_id: envelopeId, type, payload, accepts_response_payload: type !== 'events_api', retry_attempt: retryAttempt, retry_reason: retryAttempt > 0 ? 'timeout' : '' };
    for (const socket of this.#sockets) socket.send(JSON.stringify(envelope));
    return envelopeId;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

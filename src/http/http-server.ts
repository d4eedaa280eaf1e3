import type { IncomingMessage as HttpRequest, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics.ts';

/** A route handler; adapters register theirs (Slack, Teams) beside the built-in probes. */
export type RouteHandler = (request: HttpRequest, response: ServerResponse) => Promise<void> | void;

/** Options for {@link HttpServer}. */
export interface HttpServerOptions {
  log: Logger;
  metrics: Metrics;
  /** Readiness: store writable, queues not saturated. */
  ready: () => { ready: boolean; reason?: string };
  /** Requests in flight before new ones get 503. Default 1000. */
  maxConcurrentRequests?: number;
}

/** One HTTP server for every platform plus `/healthz`, `/readyz` and `/metrics`. */
export class HttpServer {
  readonly #routes = new Map<string, RouteHandler>();
  readonly #server: Server;
  readonly #options: HttpServerOptions;
  #inFlight = 0;

  constructor(options: HttpServerOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      this.#dispatch(request, response).catch((error: unknown) => {
        options.log.error({ err: toError(error), path: request.url }, 'request handler failed');
        if (!response.headersSent) sendText(response, 500, 'internal error');
        else response.end();
      });
    });
    // Slow clients must not pin a socket forever.
    this.#server.requestTimeout = 30_000;
    this.#server.headersTimeout = 15_000;
    this.#server.keepAliveTimeout = 5_000;
    this.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    this.route('GET', '/readyz', (_req, res) => {
      const state = options.ready();
      sendJson(res, state.ready ? 200 : 503, state.ready ? { status: 'ready' } : { status: 'not ready', reason: state.reason });
    });
    this.route('GET', '/metrics', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(options.metrics.render());
    });
  }

  /** Register a handler for one method and path. */
  route(method: string, path: string, handler: RouteHandler): void {
    this.#routes.set(`${method} ${path}`, handler);
  }

  /** Start listening; resolves with the bound port. */
  listen(port: number, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  /** Stop accepting connections and wait for open requests to finish. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      this.#server.closeIdleConnections();
    });
  }

  async #dispatch(request: HttpRequest, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const handler = this.#routes.get(`${request.method ?? 'GET'} ${path}`);
    if (handler === undefined) {
      const allowed = [...this.#routes.keys()].filter((key) => key.endsWith(` ${path}`));
      if (allowed.length > 0) {
        response.setHeader('allow', allowed.map((key) => key.split(' ')[0]).join(', '));
        sendText(response, 405, 'method not allowed');
      } else {
        sendText(response, 404, 'not found');
      }
      return;
    }
    const max = this.#options.maxConcurrentRequests ?? 1000;
    if (this.#inFlight >= max) {
      response.setHeader('retry-after', '1');
      sendText(response, 503, 'busy');
      return;
    }
    this.#inFlight += 1;
    try {
      await handler(request, response);
    } finally {
      this.#inFlight -= 1;
    }
  }
}

/** Reply with a JSON body. */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

/** Reply with a short text body. */
export function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(text);
}

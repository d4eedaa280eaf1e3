import type { IncomingMessage as HttpRequest, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics.ts';
import { RequestBodyError } from './read-body.ts';

/**
 * A route handler; adapters register theirs (Slack, Teams) beside the built-in probes. A handler
 * checks what it can from the headers before reading the body (see {@link refuseUnread}), and
 * reads it with its own BodyReader (read-body.ts); a RequestBodyError it lets through is answered here.
 */
export type RouteHandler = (request: HttpRequest, response: ServerResponse) => Promise<void> | void;

/** Options for one route. */
export interface RouteOptions {
  /** A cheap probe (`/healthz`, `/readyz`, `/metrics`): always served, never counted against `maxConcurrentRequests`. */
  probe?: boolean;
}

/** Options for {@link HttpServer}. */
export interface HttpServerOptions {
  log: Logger;
  metrics: Metrics;
  /** Readiness: store writable, queues not saturated. */
  ready: () => { ready: boolean; reason?: string };
  /** Requests in flight (probes not counted) before new ones get 503. Default 1000. */
  maxConcurrentRequests?: number;
}

/** One HTTP server for every platform plus `/healthz`, `/readyz` and `/metrics`. */
export class HttpServer {
  readonly #routes = new Map<string, { handler: RouteHandler; probe: boolean }>();
  readonly #server: Server;
  readonly #options: HttpServerOptions;
  #inFlight = 0;

  constructor(options: HttpServerOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      this.#dispatch(request, response).catch((error: unknown) => {
        if (error instanceof RequestBodyError) {
          options.log.warn({ code: error.code, status: error.status, path: pathOf(request) }, 'request body refused');
          if (error.status === 503) response.setHeader('retry-after', '1');
          if (!response.headersSent) refuseUnread(response, error.status, BODY_REFUSALS[error.status]);
          else response.end();
          return;
        }
        options.log.error({ err: toError(error), path: pathOf(request) }, 'request handler failed');
        if (!response.headersSent) sendText(response, 500, 'internal error');
        else response.end();
      });
    });
    // Slow clients must not pin a socket forever.
    this.#server.requestTimeout = 30_000;
    this.#server.headersTimeout = 15_000;
    this.#server.keepAliveTimeout = 5_000;
    // Probes answer even when the request cap is reached: an orchestrator must not restart a busy
    // process, nor take a flood of unauthenticated requests for a dead one.
    const probe = { probe: true };
    this.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }), probe);
    this.route(
      'GET',
      '/readyz',
      (_req, res) => {
        const state = options.ready();
        sendJson(res, state.ready ? 200 : 503, state.ready ? { status: 'ready' } : { status: 'not ready', reason: state.reason });
      },
      probe,
    );
    this.route(
      'GET',
      '/metrics',
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(options.metrics.render());
      },
      probe,
    );
  }

  /** Register a handler for one method and path. */
  route(method: string, path: string, handler: RouteHandler, options: RouteOptions = {}): void {
    this.#routes.set(`${method} ${path}`, { handler, probe: options.probe ?? false });
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
    const path = pathOf(request);
    const route = this.#routes.get(`${request.method ?? 'GET'} ${path}`);
    if (route === undefined) {
      const allowed = [...this.#routes.keys()].filter((key) => key.endsWith(` ${path}`));
      if (allowed.length > 0) {
        response.setHeader('allow', allowed.map((key) => key.split(' ')[0]).join(', '));
        sendText(response, 405, 'method not allowed');
      } else {
        sendText(response, 404, 'not found');
      }
      return;
    }
    if (route.probe) {
      await route.handler(request, response);
      return;
    }
    const max = this.#options.maxConcurrentRequests ?? 1000;
    if (this.#inFlight >= max) {
      response.setHeader('retry-after', '1');
      refuseUnread(response, 503, 'busy');
      return;
    }
    this.#inFlight += 1;
    try {
      await route.handler(request, response);
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

/**
 * Refuse a request whose body is not (or no longer) being read: answer, and close the connection
 * once the answer is out, so the client cannot keep streaming a body nobody reads.
 */
export function refuseUnread(response: ServerResponse, status: number, text: string): void {
  response.setHeader('connection', 'close');
  sendText(response, status, text);
}

const BODY_REFUSALS: Record<RequestBodyError['status'], string> = {
  400: 'request body incomplete',
  408: 'request body too slow',
  413: 'request body too large',
  503: 'busy',
};

function pathOf(request: HttpRequest): string {
  return (request.url ?? '/').split('?')[0] ?? '/';
}

/** Reply with a short text body. */
export function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(text);
}

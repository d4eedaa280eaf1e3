import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage as HttpRequest, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HrbotError, toError } from '../errors.ts';
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
  ready: () => { ready: boolean; reason?: string } | Promise<{ ready: boolean; reason?: string }>;
  /** Requests in flight (probes not counted) before new ones get 503. Default 1000. */
  maxConcurrentRequests?: number;
  /**
   * Serve `/metrics` on a port of its own (METRICS_PORT; 0 = any free port), on the same host, and
   * not on the main port. Unset: `/metrics` is served on the main port.
   */
  metricsPort?: number | undefined;
  /** `/metrics` answers 401 unless the request carries `Authorization: Bearer <this>` (METRICS_TOKEN). */
  metricsToken?: string | undefined;
  /** What `/metrics` serves; default this process's `metrics` (a worker of WORKERS serves every worker's, added up). */
  renderMetrics?: () => Promise<string>;
  /**
   * Listening sockets sharing the main port (SO_REUSEPORT; Linux only, elsewhere always 1). Node
   * takes one new connection per listening socket per turn of the event loop, so with the loop busy
   * (a burst) a single socket lets new connections wait in the kernel's queue for seconds, past
   * Slack's 3 s. Default {@link DEFAULT_LISTENERS} on Linux.
   */
  listeners?: number;
  /**
   * The ports were reserved by a supervisor (WORKERS > 1) and are shared with the other worker
   * processes: bind them without the free-port probe, each socket on its own (`exclusive`, so a
   * cluster worker does not route accepts through the primary) with SO_REUSEPORT. Default false.
   */
  joinPort?: boolean;
}

/** Listening sockets on the main port by default (Linux): 16 new connections per turn of a busy loop. */
export const DEFAULT_LISTENERS = 16;

type Routes = Map<string, { handler: RouteHandler; probe: boolean }>;

/** The metrics port could not be bound; the message names METRICS_PORT. */
export class MetricsPortError extends HrbotError {
  constructor(message: string, options: { cause: unknown }) {
    super('metrics_port_unavailable', message, options);
  }
}

/**
 * One HTTP server for every platform plus `/healthz`, `/readyz` and `/metrics`; `/metrics` may
 * instead have a port of its own ({@link HttpServerOptions.metricsPort}), and a bearer token.
 */
export class HttpServer {
  readonly #routes: Routes = new Map();
  /** The main port's listening servers: one, or several sharing the port (see {@link HttpServerOptions.listeners}). */
  readonly #servers: Server[];
  /** The `/metrics` listener, when it has its own port. */
  readonly #metricsServer: Server | undefined;
  readonly #options: HttpServerOptions;
  #inFlight = 0;

  constructor(options: HttpServerOptions) {
    this.#options = options;
    const listeners = process.platform === 'linux' ? (options.listeners ?? DEFAULT_LISTENERS) : 1;
    if (!Number.isInteger(listeners) || listeners < 1) throw new RangeError(`Expected \`listeners\` to be an integer >= 1, got ${listeners}`);
    this.#servers = Array.from({ length: listeners }, () => this.#createServer(this.#routes));
    // Probes answer even when the request cap is reached: an orchestrator must not restart a busy
    // process, nor take a flood of unauthenticated requests for a dead one.
    const probe = { probe: true };
    this.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }), probe);
    this.route(
      'GET',
      '/readyz',
      async (_req, res) => {
        const state = await options.ready();
        sendJson(res, state.ready ? 200 : 503, state.ready ? { status: 'ready' } : { status: 'not ready', reason: state.reason });
      },
      probe,
    );
    const metrics = { handler: metricsHandler(options), probe: true };
    if (options.metricsPort === undefined) {
      this.#routes.set('GET /metrics', metrics);
    } else {
      this.#metricsServer = this.#createServer(new Map([['GET /metrics', metrics]]));
    }
  }

  #createServer(routes: Routes): Server {
    const options = this.#options;
    const server = createServer((request, response) => {
      this.#dispatch(routes, request, response).catch((error: unknown) => {
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
    server.requestTimeout = 30_000;
    server.headersTimeout = 15_000;
    server.keepAliveTimeout = 5_000;
    return server;
  }

  /** Register a handler for one method and path. */
  route(method: string, path: string, handler: RouteHandler, options: RouteOptions = {}): void {
    this.#routes.set(`${method} ${path}`, { handler, probe: options.probe ?? false });
  }

  /**
   * Start listening (and on the metrics port, when it has one); resolves with the bound main port.
   * A metrics port that cannot be bound rejects with a {@link MetricsPortError}, the main port closed again.
   */
  async listen(port: number, host?: string): Promise<number> {
    const [first, ...more] = this.#servers as [Server, ...Server[]];
    const join = this.#options.joinPort === true && process.platform === 'linux';
    const shared = more.length > 0 || join;
    // A socket with SO_REUSEPORT may join one already bound the same way: a second bot started on a
    // taken port would share its traffic instead of failing. A plain bind first fails as it should
    // (a worker's supervisor made that check for all its workers).
    if (shared && !join && port !== 0) await closeServer(await probeFree(port, host));
    const bound = await listenOn(first, port, host, shared);
    for (const [index, server] of more.entries()) {
      try {
        await listenOn(server, bound, host, true);
      } catch (error) {
        // Without SO_REUSEPORT (an older kernel or Node) the port is served by the sockets bound so far.
        this.#options.log.warn({ err: toError(error), listeners: index + 1 }, 'could not share the port with more listening sockets');
        this.#servers.splice(index + 1);
        break;
      }
    }
    if (this.#metricsServer !== undefined) {
      const metricsPort = this.#options.metricsPort ?? 0;
      try {
        await listenOn(this.#metricsServer, metricsPort, host, join);
      } catch (error) {
        await Promise.all(this.#servers.map((server) => closeServer(server)));
        const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
        throw new MetricsPortError(`cannot listen on ${host ?? 'all interfaces'} port ${metricsPort} (${code}): check METRICS_PORT and HOST`, { cause: error });
      }
    }
    return bound;
  }

  /** The bound port of `/metrics` when it has its own (after {@link listen}), else undefined. */
  get metricsPort(): number | undefined {
    const address = this.#metricsServer?.address();
    return address === null || address === undefined || typeof address === 'string' ? undefined : address.port;
  }

  /** Stop accepting connections and wait for open requests to finish. */
  async close(): Promise<void> {
    const open = [...this.#servers, ...(this.#metricsServer === undefined ? [] : [this.#metricsServer])].filter((server) => server.listening);
    await Promise.all(open.map((server) => closeServer(server)));
  }

  async #dispatch(routes: Routes, request: HttpRequest, response: ServerResponse): Promise<void> {
    const path = pathOf(request);
    const route = routes.get(`${request.method ?? 'GET'} ${path}`);
    if (route === undefined) {
      const allowed = [...routes.keys()].filter((key) => key.endsWith(` ${path}`));
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

/**
 * Connections the kernel holds for the server before it accepts them. Node's default, 511, overflows
 * when a burst (every user's first message after a restart) arrives while the loop is busy: the
 * kernel drops the handshake and the client tries again only after 1 s, then 3 s, past Slack's
 * deadline. The kernel caps it at net.core.somaxconn (4096 on current Linux).
 */
const LISTEN_BACKLOG = 4096;

function listenOn(server: Server, port: number, host: string | undefined, reusePort = false): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // exclusive: in a cluster worker, bind this socket here rather than share the primary's.
    server.listen({ port, ...(host === undefined ? {} : { host }), backlog: LISTEN_BACKLOG, ...(reusePort ? { reusePort, exclusive: true } : {}) }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** A plain listener on `port`, which fails with EADDRINUSE when any socket holds it. */
async function probeFree(port: number, host: string | undefined): Promise<Server> {
  const probe = createServer();
  await listenOn(probe, port, host);
  return probe;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeIdleConnections();
  });
}

/**
 * `GET /metrics`: the Prometheus text, after the bearer token when one is set. The token is compared
 * in constant time (as SHA-256 digests, so its length does not show either).
 */
function metricsHandler(options: HttpServerOptions): RouteHandler {
  const expected = options.metricsToken === undefined ? undefined : digest(options.metricsToken);
  return async (request, response) => {
    if (expected !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
      if (match?.[1] === undefined || !timingSafeEqual(digest(match[1]), expected)) {
        response.setHeader('www-authenticate', 'Bearer realm="metrics"');
        sendText(response, 401, 'unauthorized');
        return;
      }
    }
    const text = await (options.renderMetrics ?? (() => options.metrics.render()))();
    response.writeHead(200, { 'content-type': options.metrics.contentType });
    response.end(text);
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
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

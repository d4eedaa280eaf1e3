import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

/**
 * The request shape CloudAdapter.process reads (express/restify style): a parsed body, headers and
 * the method. Built from our node:http request after we read and parsed the body ourselves.
 */
export interface BotRequest {
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  method: string;
}

/** Build the request view CloudAdapter expects. */
export function botRequest(method: string, headers: IncomingHttpHeaders, body: Record<string, unknown>): BotRequest {
  return { method, headers: { ...headers }, body };
}

/**
 * The response shape CloudAdapter.process writes (status, header, send, end), mapped onto a
 * node:http ServerResponse. CloudAdapter calls status, then send with an optional body (an
 * invoke response object, or a string), then end.
 */
export class BotResponse {
  readonly socket: unknown;
  readonly #response: ServerResponse;
  #status = 200;
  #body: unknown;
  #headers: Record<string, string> = {};

  constructor(response: ServerResponse) {
    this.#response = response;
    this.socket = response.socket;
  }

  /** Has the HTTP response been written? */
  get ended(): boolean {
    return this.#response.writableEnded;
  }

  status(code: number): this {
    this.#status = code;
    return this;
  }

  header(name: string, value: unknown): this {
    this.#headers[name.toLowerCase()] = String(value);
    return this;
  }

  send(body?: unknown): this {
    this.#body = body;
    return this;
  }

  end(): void {
    if (this.#response.writableEnded) return;
    const body = this.#body;
    if (body === undefined || body === null || body === '') {
      this.#response.writeHead(this.#status, this.#headers);
      this.#response.end();
      return;
    }
    const isText = typeof body === 'string';
    // botbuilder puts error text (even stack traces) in 4xx/5xx string bodies; the caller gets the
    // status only. Object bodies are invoke responses meant for Teams, whatever their status.
    const text = isText ? (this.#status >= 400 ? statusText(this.#status) : body) : JSON.stringify(body);
    this.#response.writeHead(this.#status, {
      ...this.#headers,
      'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    });
    this.#response.end(text);
  }
}

function statusText(status: number): string {
  switch (status) {
    case 400:
      return 'bad request';
    case 401:
      return 'unauthorized';
    case 405:
      return 'method not allowed';
    default:
      return status >= 500 ? 'internal error' : 'request refused';
  }
}

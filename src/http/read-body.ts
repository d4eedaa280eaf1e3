import type { IncomingMessage } from 'node:http';
import { InputError } from '../errors.ts';

/** How one route reads request bodies. Each route picks numbers that fit what its platform sends. */
export interface BodyLimits {
  /** Largest body accepted, in bytes; a larger one gets 413 without being buffered. */
  maxBytes: number;
  /** Bodies being read at once on the route; past it a new request gets 503 at once, its body unread. */
  maxConcurrentReads: number;
  /** Longest a body may take to arrive, in ms, counted from the first read; a trickling client gets 408. */
  timeoutMs: number;
}

/** The HTTP status a refused body is answered with. */
export type BodyRefusal = 400 | 408 | 413 | 503;

/**
 * A request body was refused: too large (413), too slow (408), too many being read at once (503),
 * or cut off by the client (400). The HTTP server answers with `status` and closes the connection.
 */
export class RequestBodyError extends InputError {
  readonly status: BodyRefusal;

  constructor(code: 'body_too_large' | 'body_timeout' | 'body_busy' | 'body_aborted', status: BodyRefusal, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/**
 * Reads one route's request bodies within its {@link BodyLimits}. At most `maxConcurrentReads × maxBytes`
 * bytes are ever buffered for the route, however many clients send at once.
 */
export class BodyReader {
  readonly limits: Readonly<BodyLimits>;
  #reading = 0;

  constructor(limits: BodyLimits) {
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || (value as number) < 1) throw new RangeError(`Expected body limit \`${name}\` to be an integer >= 1, got ${String(value)}`);
    }
    this.limits = { ...limits };
  }

  /** Bodies being read right now. */
  get reading(): number {
    return this.#reading;
  }

  /** Read the body as UTF-8, or reject with a {@link RequestBodyError}. */
  read(request: IncomingMessage): Promise<string> {
    const { maxBytes, maxConcurrentReads, timeoutMs } = this.limits;
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      return Promise.reject(new RequestBodyError('body_too_large', 413, `Request body of ${declared} bytes exceeds ${maxBytes}`));
    }
    if (this.#reading >= maxConcurrentReads) {
      return Promise.reject(new RequestBodyError('body_busy', 503, `${maxConcurrentReads} request bodies are already being read`));
    }
    this.#reading += 1;
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const settle = (error: RequestBodyError | undefined) => {
        clearTimeout(timer);
        request.off('data', onData);
        request.off('end', onEnd);
        request.off('error', onError);
        request.off('close', onClose);
        this.#reading -= 1;
        if (error === undefined) {
          resolve(Buffer.concat(chunks, size).toString('utf8'));
          return;
        }
        // Stop pulling bytes off the wire; the server answers and closes the connection.
        request.pause();
        chunks.length = 0;
        reject(error);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) settle(new RequestBodyError('body_too_large', 413, `Request body exceeds ${maxBytes} bytes`));
        else chunks.push(chunk);
      };
      const onEnd = () => settle(undefined);
      const onError = (error: Error) => settle(new RequestBodyError('body_aborted', 400, 'Request body could not be read', { cause: error }));
      const onClose = () => settle(new RequestBodyError('body_aborted', 400, 'Client closed the connection before the body ended'));
      const timer = setTimeout(() => settle(new RequestBodyError('body_timeout', 408, `Request body did not arrive within ${timeoutMs} ms`)), timeoutMs);
      request.on('data', onData);
      request.once('end', onEnd);
      request.once('error', onError);
      request.once('close', onClose);
    });
  }
}

import type { IncomingMessage } from 'node:http';
import { InputError } from '../errors.ts';

/** Largest request body any route accepts, in bytes (Slack and Teams payloads are far smaller). */
export const MAX_BODY_BYTES = 1_000_000;

/** Read a request body as UTF-8, refusing (InputError `body_too_large`) past `maxBytes`. */
export async function readBody(request: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new InputError('body_too_large', `Request body of ${declared} bytes exceeds ${maxBytes}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      request.resume();
      throw new InputError('body_too_large', `Request body exceeds ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

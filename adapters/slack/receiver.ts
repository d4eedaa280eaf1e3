import type { IncomingMessage as HttpRequest, ServerResponse } from 'node:http';
import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import { BackgroundWork } from '../../src/background-work.ts';
import { toError } from '../../src/errors.ts';
import type { BodyLimits } from '../../src/http/read-body.ts';
import { BodyReader } from '../../src/http/read-body.ts';
import { refuseUnread, sendJson, sendText } from '../../src/http/http-server.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { SlackEventSink } from './inbox-gate.ts';
import { SlackSignatureError } from './slack-errors.ts';
import { checkSlackSignatureHeaders, verifySlackSignature } from './verify.ts';

/**
 * How `POST /slack/events` reads bodies. Every body is unauthenticated until its HMAC is checked,
 * so at most 32 × 512 KiB = 16 MiB is ever buffered for this route.
 * - maxBytes 512 KiB: the largest thing Slack sends is a message event for a 40,000-character
 *   message (Slack's limit), carried twice (`text` and its rich_text blocks), at up to 3 bytes a
 *   character in UTF-8, plus JSON escaping and the envelope: about 300 KB. Commands and button
 *   payloads of our own messages are a few KB.
 * - maxConcurrentReads 32: Slack sends a body in one go, so a read takes milliseconds; 32 at once
 *   is thousands of events a second.
 * - timeoutMs 3 s: Slack gives up on a request after 3 s, so a body still arriving then is not Slack's.
 */
const SLACK_BODY_LIMITS: BodyLimits = { maxBytes: 512 * 1024, maxConcurrentReads: 32, timeoutMs: 3_000 };

/** Options for {@link SlackHttpReceiver}. */
export interface SlackHttpReceiverOptions {
  signingSecret: string;
  log: Logger;
  /** Where verified events go (the inbox gate); default the Bolt App that calls init. */
  sink?: SlackEventSink;
  /** Ack anyway after this long if no listener has (Slack's deadline is 3 s). Default 2500 ms. */
  ackDeadlineMs?: number;
  /** How long {@link SlackHttpReceiver.stop} waits for in-flight work. Default 10 s. */
  drainMs?: number;
  /** How request bodies are read; defaults (and why) at SLACK_BODY_LIMITS: 512 KiB, 32 at once, 3 s. */
  bodyLimits?: Partial<BodyLimits>;
}

/**
 * A Bolt receiver on our own HTTP server's `POST /slack/events` route: verify the signature,
 * answer url_verification, then hand the payload to the sink (the inbox gate), whose `ack` sends
 * the HTTP 200 once the event is stored. Answering happens later, from the inbox; Slack's
 * 3-second deadline never waits on the engine.
 */
export class SlackHttpReceiver implements Receiver {
  readonly #options: Required<Omit<SlackHttpReceiverOptions, 'bodyLimits' | 'sink'>>;
  readonly #inFlight = new BackgroundWork();
  readonly #bodies: BodyReader;
  #sink: SlackEventSink | undefined;

  constructor(options: SlackHttpReceiverOptions) {
    const { bodyLimits, sink, ...rest } = options;
    this.#options = { ackDeadlineMs: 2500, drainMs: 10_000, ...rest };
    this.#sink = sink;
    this.#bodies = new BodyReader({ ...SLACK_BODY_LIMITS, ...bodyLimits });
  }

  /** Send verified events to `sink` (the inbox gate) instead of the Bolt App. */
  setSink(sink: SlackEventSink): void {
    this.#sink = sink;
  }

  /** Bolt hands itself over here; a sink given in the options (the inbox gate) takes precedence. */
  init(app: App): void {
    this.#sink ??= app;
  }

  /** Nothing to start: the route lives on the shared HttpServer. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  /** Wait (bounded by `drainMs`) for events acknowledged but still being processed. */
  async stop(): Promise<void> {
    if (!(await this.#inFlight.drain(this.#options.drainMs))) this.#options.log.warn({ pending: this.#inFlight.size }, 'slack: stopped with events still in flight');
  }

  /** Events acknowledged and still being processed. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** The route handler for `POST /slack/events`. */
  readonly handle = async (request: HttpRequest, response: ServerResponse): Promise<void> => {
    const { log } = this.#options;
    // Refuse what cannot be from Slack before reading a byte of the body: no signature, or a stale timestamp.
    try {
      checkSlackSignatureHeaders(request.headers);
    } catch (error) {
      if (error instanceof SlackSignatureError) {
        log.warn({ code: error.code }, 'slack: request refused before reading its body');
        refuseUnread(response, 401, 'invalid signature');
        return;
      }
      throw error;
    }
    // Too large, too slow or too many at once: RequestBodyError, answered by the HTTP server.
    const raw = await this.#bodies.read(request);
    try {
      verifySlackSignature(this.#options.signingSecret, request.headers, raw);
    } catch (error) {
      if (error instanceof SlackSignatureError) {
        log.warn({ code: error.code }, 'slack: request refused');
        sendText(response, 401, 'invalid signature');
        return;
      }
      throw error;
    }
    const body = parseBody(raw, String(request.headers['content-type'] ?? ''));
    if (body === undefined) {
      sendText(response, 400, 'malformed body');
      return;
    }
    if (body.type === 'url_verification') {
      sendJson(response, 200, { challenge: body.challenge });
      return;
    }
    if (body.ssl_check !== undefined) {
      sendText(response, 200, '');
      return;
    }
    const sink = this.#sink;
    if (sink === undefined) {
      response.setHeader('retry-after', '1');
      sendText(response, 503, 'not started');
      return;
    }
    let acked = false;
    const ack = (reply?: unknown): Promise<void> => {
      if (acked) return Promise.resolve();
      acked = true;
      clearTimeout(deadline);
      if (reply === undefined || reply === '') sendText(response, 200, '');
      else if (typeof reply === 'string') sendText(response, 200, reply);
      else sendJson(response, 200, reply);
      return Promise.resolve();
    };
    // Storing an event takes milliseconds; this only guards against a store stuck on a lock.
    const deadline = setTimeout(() => {
      log.warn('slack: event not stored within the ack deadline; acknowledging anyway');
      void ack();
    }, this.#options.ackDeadlineMs);
    const retryNum = Number(request.headers['x-slack-retry-num'] ?? Number.NaN);
    const retryReason = request.headers['x-slack-retry-reason'];
    const event: ReceiverEvent = {
      body,
      ack,
      ...(Number.isInteger(retryNum) ? { retryNum } : {}),
      ...(typeof retryReason === 'string' ? { retryReason } : {}),
    };
    try {
      await this.#inFlight.track(sink.processEvent(event));
    } catch (error) {
      clearTimeout(deadline);
      log.error({ err: toError(error) }, 'slack: event processing failed');
      if (!acked) {
        // Not stored: an error status makes Slack deliver it again.
        acked = true;
        response.setHeader('retry-after', '1');
        sendText(response, 503, 'could not store the event');
      }
      return;
    }
    // Payloads nobody handles get a plain 200 so Slack does not keep retrying them.
    await ack();
  };
}

type SlackBody = Record<string, unknown> & { type?: unknown; challenge?: unknown; ssl_check?: unknown };

/** Events come as JSON; commands as form fields; interactivity as a form field `payload` holding JSON. */
function parseBody(raw: string, contentType: string): SlackBody | undefined {
  try {
    if (contentType.includes('application/json')) {
      const parsed: unknown = JSON.parse(raw);
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as SlackBody) : undefined;
    }
    const form = new URLSearchParams(raw);
    const payload = form.get('payload');
    if (payload !== null) {
      const parsed: unknown = JSON.parse(payload);
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as SlackBody) : undefined;
    }
    return Object.fromEntries(form);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

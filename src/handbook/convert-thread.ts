import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { HandbookError } from './handbook-errors.ts';
import type { ConvertResponse, ConvertedFormat } from './convert-worker.ts';

/** Limits of the converter thread; the defaults are {@link CONVERTER_DEFAULTS}. */
export interface ConverterLimits {
  /** Longest one file may take to convert, in ms, before the thread is stopped and the file reported. */
  fileTimeoutMs: number;
  /** Longest the thread may take to load the converters, in ms. */
  startTimeoutMs: number;
  /** The thread is stopped after this long without work, in ms. */
  idleMs: number;
  /** Heap limit of the thread, in MB: a document that needs more fails alone. */
  heapMb: number;
}

export const CONVERTER_DEFAULTS: ConverterLimits = { fileTimeoutMs: 60_000, startTimeoutMs: 30_000, idleMs: 10_000, heapMb: 512 };

/** A document could not be converted; `reason` says why, in words for the log. */
export class DocumentConversionError extends HandbookError {
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super('handbook_conversion_failed', reason, options);
    this.reason = reason;
  }
}

/** tsx's API, resolved from here: an eval'd worker would resolve bare names from the working directory. */
function tsxApi(): string {
  return import.meta.resolve('tsx/esm/api');
}

const WORKER_URL = new URL(`./convert-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * Converts PDF, Word and HTML files to markdown in a worker thread, synchronously for the caller.
 *
 * The converters (pdf.js, mammoth) are asynchronous, but the handbook index refreshes in one
 * synchronous pass; the caller blocks on a shared signal until the thread answers. The thread also
 * keeps a hostile or broken file from taking the process with it: it has its own heap limit, a
 * file that takes too long has the thread stopped and is reported, and the next file gets a new
 * thread. It stops itself when idle, and never keeps the process alive.
 */
export class ConverterThread {
  readonly #limits: ConverterLimits;
  #running: { worker: Worker; port: MessagePort; signal: Int32Array } | undefined;
  #idle: NodeJS.Timeout | undefined;
  #nextId = 1;

  constructor(limits: Partial<ConverterLimits> = {}) {
    this.#limits = { ...CONVERTER_DEFAULTS, ...limits };
  }

  /** The file as markdown; throws {@link DocumentConversionError} with the reason when it cannot be read. */
  convert(format: ConvertedFormat, bytes: Uint8Array): string {
    const running = this.#start();
    const id = this.#nextId++;
    // A copy the thread can own: a Buffer may share its memory with other small Buffers.
    const copy = new Uint8Array(bytes);
    Atomics.store(running.signal, 0, 0);
    running.port.postMessage({ id, format, bytes: copy }, [copy.buffer]);
    const response = this.#await(running, this.#limits.fileTimeoutMs, (message): message is ConvertResponse => (message as ConvertResponse).id === id);
    this.#scheduleIdleStop();
    if (response === undefined) {
      this.stop();
      throw new DocumentConversionError(`converting it took longer than ${this.#limits.fileTimeoutMs / 1000} s (or ran out of memory), so it was stopped`);
    }
    if ('error' in response) throw new DocumentConversionError(response.error);
    return response.markdown;
  }

  /** Stop the thread now (it is started again when needed). */
  stop(): void {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    const running = this.#running;
    this.#running = undefined;
    if (running === undefined) return;
    running.port.close();
    // terminate() resolves with the exit code; there is nothing to wait for.
    running.worker.terminate().catch(() => undefined);
  }

  #start(): { worker: Worker; port: MessagePort; signal: Int32Array } {
    clearTimeout(this.#idle);
    if (this.#running !== undefined) return this.#running;
    const { port1, port2 } = new MessageChannel();
    const signal = new Int32Array(new SharedArrayBuffer(4));
    // An eval'd bootstrap, because a worker does not inherit tsx's loader: it imports the entry
    // through tsx when running from source, and reports a failure to load instead of hanging.
    const entry = JSON.stringify(WORKER_URL.href);
    const bootstrap = `
      const { workerData } = require('node:worker_threads');
      const load = ${JSON.stringify(WORKER_URL.pathname.endsWith('.ts'))}
        ? import(${JSON.stringify(tsxApi())}).then(({ tsImport }) => tsImport(${entry}, ${JSON.stringify(import.meta.url)}))
        : import(${entry});
      load.catch((error) => {
        workerData.port.postMessage({ ready: false, error: String(error && error.message || error) });
        Atomics.store(workerData.signal, 0, 1);
        Atomics.notify(workerData.signal, 0);
      });`;
    const worker = new Worker(bootstrap, {
      eval: true,
      workerData: { port: port2, signal },
      transferList: [port2],
      // Documents are data: the thread gets no environment (no tokens or keys) and no say over stdout.
      env: {},
      resourceLimits: { maxOldGenerationSizeMb: this.#limits.heapMb },
    });
    // Errors surface as a missing answer (the caller is blocked and cannot see events); the handler
    // only keeps an uncaught worker error from becoming the process's.
    worker.on('error', () => undefined);
    worker.unref();
    port1.unref();
    const running = { worker, port: port1, signal };
    this.#running = running;
    const ready = this.#await(running, this.#limits.startTimeoutMs, (message): message is { ready: boolean; error?: string } => 'ready' in (message as object));
    if (ready?.ready !== true) {
      this.stop();
      throw new DocumentConversionError(`the document converter could not start: ${ready?.error ?? 'it did not answer in time'}`);
    }
    return running;
  }

  /** Block until a message matching `wanted` arrives, or `timeoutMs` passes (undefined). */
  #await<T>(running: { port: MessagePort; signal: Int32Array }, timeoutMs: number, wanted: (message: unknown) => message is T): T | undefined {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const received = receiveMessageOnPort(running.port);
      if (received !== undefined) {
        if (wanted(received.message)) return received.message;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      Atomics.wait(running.signal, 0, 0, left);
      Atomics.store(running.signal, 0, 0);
    }
  }

  #scheduleIdleStop(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.stop(), this.#limits.idleMs);
    this.#idle.unref();
  }
}

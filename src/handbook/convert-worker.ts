/**
 * The converter thread's entry (see convert-thread.ts): converts one document per request and
 * wakes the waiting caller through the shared signal. Runs in a worker thread only.
 */
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { docxToMarkdown } from './convert-docx.ts';
import { decodeHtml, htmlToMarkdown } from './convert-html.ts';
import { pdfToMarkdown } from './convert-pdf.ts';

/** What the caller sends: one file's bytes and its format. */
export interface ConvertRequest { id: number; format: ConvertedFormat; bytes: Uint8Array }
/** What comes back: markdown, or why the file could not be read. */
export type ConvertResponse = { id: number; markdown: string } | { id: number; error: string };
/** Formats converted to markdown before indexing. */
export type ConvertedFormat = 'pdf' | 'docx' | 'html';

const MAX_REASON_CHARS = 300;

async function convert(format: ConvertedFormat, bytes: Uint8Array): Promise<string> {
  switch (format) {
    case 'pdf':
      return pdfToMarkdown(bytes);
    case 'docx':
      return docxToMarkdown(bytes);
    case 'html':
      return htmlToMarkdown(decodeHtml(bytes));
  }
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = message.replace(/\s+/g, ' ').trim() || (error instanceof Error ? error.name : 'unknown error');
  return reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason;
}

const { port, signal } = workerData as { port: MessagePort; signal: Int32Array };

function reply(message: ConvertResponse | { ready: true }): void {
  port.postMessage(message);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

// Libraries' console output would reach the process's stdout past the redacting logger.
for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) console[method] = () => undefined;

port.on('message', (request: ConvertRequest) => {
  convert(request.format, request.bytes).then(
    (markdown) => reply({ id: request.id, markdown }),
    (error: unknown) => reply({ id: request.id, error: reasonOf(error) }),
  );
});
reply({ ready: true });

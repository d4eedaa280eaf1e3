/**
 * `/metrics` with WORKERS=n: a scrape reaches one worker (the kernel picks), so that worker asks the
 * supervisor, which asks every worker for its series and adds them up (src/metrics.ts,
 * aggregateSnapshots): each scrape sees the whole machine, whichever worker answered it.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { toError } from '../src/errors.ts';
import type { Logger } from '../src/log/logger.ts';
import type { Metrics, MetricsSnapshot } from '../src/metrics.ts';
import { aggregateSnapshots } from '../src/metrics.ts';

/** How long a scrape waits for the machine's figures (then a worker serves its own), and the supervisor for each worker's. */
export const CLUSTER_METRICS_TIMEOUT_MS = 3_000;
const WORKER_ANSWER_MS = 2_000;
/** Scrapes waiting for the supervisor at most, per worker; past it a scrape gets this worker's own figures. */
const MAX_WAITING_SCRAPES = 16;

type MetricsMessage =
  | { hrbot: 'metrics-request'; id: string }
  | { hrbot: 'metrics-collect'; id: string }
  | { hrbot: 'metrics-part'; id: string; snapshot: MetricsSnapshot }
  | { hrbot: 'metrics-text'; id: string; text: string };

function isMetricsMessage(message: unknown): message is MetricsMessage {
  const kind = (message as { hrbot?: unknown } | null)?.hrbot;
  return typeof message === 'object' && message !== null && typeof kind === 'string' && kind.startsWith('metrics-');
}

/**
 * In a worker: answer the supervisor's requests for this worker's series, and give `/metrics` a
 * renderer that returns every worker's, added up (this worker's own if the supervisor does not answer).
 */
export function workerMetrics(metrics: Metrics, log: Logger): () => Promise<string> {
  const waiting = new Map<string, (text: string) => void>();
  process.on('message', (message: unknown) => {
    if (!isMetricsMessage(message)) return;
    if (message.hrbot === 'metrics-collect') {
      metrics.snapshot().then(
        (snapshot) => process.send?.({ hrbot: 'metrics-part', id: message.id, snapshot } satisfies MetricsMessage),
        (error: unknown) => log.warn({ err: toError(error) }, 'could not collect metrics for the supervisor'),
      );
    } else if (message.hrbot === 'metrics-text') {
      waiting.get(message.id)?.(message.text);
    }
  });
  return async () => {
    if (process.send === undefined || waiting.size >= MAX_WAITING_SCRAPES) return metrics.render();
    const id = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const text = await new Promise<string | undefined>((resolve) => {
      waiting.set(id, resolve);
      timer = setTimeout(() => resolve(undefined), CLUSTER_METRICS_TIMEOUT_MS);
      process.send!({ hrbot: 'metrics-request', id } satisfies MetricsMessage);
    });
    clearTimeout(timer);
    waiting.delete(id);
    if (text !== undefined) return text;
    log.warn('the supervisor did not answer for metrics in time: serving this worker\'s own');
    return metrics.render();
  };
}

/** In the supervisor: answer each worker's request with every live worker's series, added up. */
export function superviseMetrics(workers: () => Iterable<Worker>, log: Logger): void {
  const collecting = new Map<string, { parts: MetricsSnapshot[]; expected: number; done: () => void }>();
  cluster.on('message', (from: Worker, message: unknown) => {
    if (!isMetricsMessage(message)) return;
    if (message.hrbot === 'metrics-part') {
      const gathering = collecting.get(message.id);
      if (gathering === undefined) return;
      gathering.parts.push(message.snapshot);
      if (gathering.parts.length >= gathering.expected) gathering.done();
      return;
    }
    if (message.hrbot !== 'metrics-request') return;
    const live = [...workers()].filter((worker) => worker.isConnected());
    const id = randomUUID();
    const parts: MetricsSnapshot[] = [];
    void new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, WORKER_ANSWER_MS);
      collecting.set(id, {
        parts,
        expected: live.length,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const worker of live) worker.send({ hrbot: 'metrics-collect', id } satisfies MetricsMessage);
    })
      .then(() => aggregateSnapshots(parts))
      .then(
        (text) => {
          if (from.isConnected()) from.send({ hrbot: 'metrics-text', id: message.id, text } satisfies MetricsMessage);
        },
        (error: unknown) => log.warn({ err: toError(error) }, 'could not add up the workers\' metrics'),
      )
      .finally(() => collecting.delete(id));
  });
}

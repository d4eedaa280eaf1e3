import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One process's series as JSON (prom-client's), for a supervisor to add up with its workers'. */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * How a gauge adds up across the processes of one machine (WORKERS): `sum` for what each process
 * holds (its own conversations in flight), `max` for what every process reads from the shared store
 * (the inbox's backlog), which summed would count the same items once per process.
 */
export type Aggregation = 'sum' | 'max';

/** Label values; keep their sets small (platform, command, outcome), never user ids. */
export type Labels = Readonly<Record<string, string>>;

/** Upper bound on label combinations per metric, so a bug can never grow this without limit. */
const MAX_SERIES_PER_METRIC = 200;

/**
 * Buckets (seconds) of the time to reply, shared by `hrbot_handle_seconds` and `hrbot_reply_seconds`
 * so the two compare bucket by bucket. A handbook lookup answers in milliseconds; an AI answer takes
 * 2 to 15 s (one Bedrock call, up to LLM_TIMEOUT_MS = 30 s, and retries); 3 s is where Slack users
 * start to notice; past 2 minutes only the count matters.
 */
export const REPLY_SECONDS_BUCKETS: readonly number[] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120];

/** prom-client's general-purpose buckets (5 ms to 10 s), for a histogram whose caller names none. */
const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Options for {@link Metrics}. */
export interface MetricsOptions {
  /** Render the process metrics (event-loop lag, heap, GC, handles, CPU) too. Default true. */
  processMetrics?: boolean;
}

type Kind = 'counter' | 'gauge' | 'histogram';

interface Family {
  kind: Kind;
  /** Label names, sorted: fixed at first use (Prometheus needs one label set per metric). */
  labelNames: readonly string[];
  metric: Counter | Gauge | Histogram;
  /** Per label set: a counter's or gauge's value, a histogram's observation count (for {@link Metrics.value}). */
  values: Map<string, number>;
}

/**
 * The bot's Prometheus metrics, on a prom-client Registry of its own (two instances never share a
 * series, so tests do not collide): counters, gauges and histograms created on first use, each with
 * at most {@link MAX_SERIES_PER_METRIC} label combinations (others are dropped and counted in
 * `hrbot_metric_series_dropped_total`), plus the process metrics, rendered for `GET /metrics`.
 */
export class Metrics {
  readonly #registry = new Registry();
  readonly #families = new Map<string, Family>();
  readonly #collectors: Array<() => void | Promise<void>> = [];
  readonly #processMetrics: boolean;

  constructor(options: MetricsOptions = {}) {
    this.#processMetrics = options.processMetrics ?? true;
    // Started at once, so the event-loop lag and GC histograms cover the time before the first scrape.
    if (this.#processMetrics) processRegistry();
  }

  /** The content type of {@link render}'s text. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Add `by` to a counter. */
  increment(name: string, help: string, labels: Labels = {}, by = 1): void {
    const series = this.#series(name, help, 'counter', labels);
    if (series === undefined) return;
    (series.family.metric as Counter).inc(series.labels, by);
    series.family.values.set(series.key, (series.family.values.get(series.key) ?? 0) + by);
  }

  /** Set a gauge (`across` fixes at first use how it adds up across worker processes). */
  set(name: string, help: string, value: number, labels: Labels = {}, across: Aggregation = 'sum'): void {
    const series = this.#series(name, help, 'gauge', labels, undefined, across);
    if (series === undefined) return;
    (series.family.metric as Gauge).set(series.labels, value);
    series.family.values.set(series.key, value);
  }

  /**
   * Record one observation in a histogram, in seconds. `buckets` (upper bounds, ascending) count
   * only at the metric's first use: give every call site of one metric the same constant.
   */
  observe(name: string, help: string, value: number, labels: Labels = {}, buckets: readonly number[] = DEFAULT_BUCKETS): void {
    const series = this.#series(name, help, 'histogram', labels, buckets);
    if (series === undefined) return;
    (series.family.metric as Histogram).observe(series.labels, value);
    series.family.values.set(series.key, (series.family.values.get(series.key) ?? 0) + 1);
  }

  /** Register a function run before each render, to refresh gauges from live state (it may read the store). */
  collect(fn: () => void | Promise<void>): void {
    this.#collectors.push(fn);
  }

  /**
   * Current value of one series, for tests and readiness: a counter's or gauge's value, or how many
   * observations a histogram has had; 0 for a series never written.
   */
  value(name: string, labels: Labels = {}): number {
    return this.#families.get(name)?.values.get(labelKey(labels)) ?? 0;
  }

  /** The Prometheus text exposition of every series, then the process metrics, once every collector has run. */
  async render(): Promise<string> {
    await Promise.all(this.#collectors.map((fn) => Promise.resolve(fn())));
    return this.#text();
  }

  /** Every series as JSON, once every collector has run, for {@link aggregateSnapshots}. */
  async snapshot(): Promise<MetricsSnapshot> {
    await Promise.all(this.#collectors.map((fn) => Promise.resolve(fn())));
    const own = await this.#registry.getMetricsAsJSON();
    return this.#processMetrics ? [...own, ...(await processRegistry().getMetricsAsJSON())] : own;
  }

  async #text(): Promise<string> {
    const own = await this.#registry.metrics();
    return this.#processMetrics ? `${own}\n${await processRegistry().metrics()}` : own;
  }

  #series(name: string, help: string, kind: Kind, labels: Labels, buckets?: readonly number[], across: Aggregation = 'sum'): { family: Family; key: string; labels: Record<string, string> } | undefined {
    const labelNames = Object.keys(labels).sort();
    let family = this.#families.get(name);
    if (family === undefined) {
      family = { kind, labelNames, metric: this.#create(name, help, kind, labelNames, buckets, across), values: new Map() };
      this.#families.set(name, family);
    } else if (family.kind !== kind) {
      throw new TypeError(`Metric ${name} is a ${family.kind}, not a ${kind}`);
    } else if (family.labelNames.join(',') !== labelNames.join(',')) {
      throw new TypeError(`Metric ${name} has labels [${family.labelNames.join(', ')}], not [${labelNames.join(', ')}]`);
    }
    const key = labelKey(labels);
    if (!family.values.has(key) && family.values.size >= MAX_SERIES_PER_METRIC) {
      if (name !== DROPPED) this.increment(DROPPED, 'Samples dropped because their metric had too many label sets (a bug: a label that is not bounded)', { metric: name });
      return undefined;
    }
    // Sorted, so a series prints its labels in one order whatever order the caller wrote them in.
    const sorted: Record<string, string> = {};
    for (const label of labelNames) sorted[label] = labels[label] ?? '';
    return { family, key, labels: sorted };
  }

  #create(name: string, help: string, kind: Kind, labelNames: readonly string[], buckets: readonly number[] | undefined, across: Aggregation): Family['metric'] {
    const config = { name, help, labelNames: [...labelNames], registers: [this.#registry], aggregator: across };
    switch (kind) {
      case 'counter':
        return new Counter(config);
      case 'gauge':
        return new Gauge(config);
      case 'histogram':
        return new Histogram({ ...config, buckets: [...(buckets ?? DEFAULT_BUCKETS)] });
    }
  }
}

const DROPPED = 'hrbot_metric_series_dropped_total';

/**
 * Heap, GC, event-loop lag, handles and CPU belong to the process, not to one Metrics instance: one
 * registry per process collects them (prom-client's collectors start an event-loop monitor and a GC
 * observer that are never stopped, so one set, however many instances tests create).
 */
let processMetrics: Registry | undefined;

function processRegistry(): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics, prefix: 'hrbot_' });
  }
  return processMetrics;
}

function labelKey(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
}

/**
 * The series of several processes (WORKERS) added up into one exposition: counters and histograms
 * summed, each gauge as it says (see {@link Aggregation}; the process metrics by prom-client's rules).
 */
export function aggregateSnapshots(snapshots: readonly MetricsSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate([...snapshots]).metrics();
}

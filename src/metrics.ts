/** Label values; keep their sets small (platform, command, outcome), never user ids. */
export type Labels = Readonly<Record<string, string>>;

interface Series {
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, number>;
}

/** Upper bound on label combinations per metric, so a bug can never grow this without limit. */
const MAX_SERIES_PER_METRIC = 200;

/**
 * A small Prometheus registry: counters and gauges with bounded label sets, rendered in the text
 * exposition format for `GET /metrics`.
 */
export class Metrics {
  readonly #series = new Map<string, Series>();
  readonly #collectors: Array<() => void> = [];

  /** Add `by` to a counter. */
  increment(name: string, help: string, labels: Labels = {}, by = 1): void {
    const series = this.#get(name, help, 'counter');
    const key = labelKey(labels);
    if (!series.values.has(key) && series.values.size >= MAX_SERIES_PER_METRIC) return;
    series.values.set(key, (series.values.get(key) ?? 0) + by);
  }

  /** Set a gauge. */
  set(name: string, help: string, value: number, labels: Labels = {}): void {
    const series = this.#get(name, help, 'gauge');
    const key = labelKey(labels);
    if (!series.values.has(key) && series.values.size >= MAX_SERIES_PER_METRIC) return;
    series.values.set(key, value);
  }

  /** Register a function run before each render, to refresh gauges from live state. */
  collect(fn: () => void): void {
    this.#collectors.push(fn);
  }

  /** Current value of one series (for tests and readiness). */
  value(name: string, labels: Labels = {}): number {
    return this.#series.get(name)?.values.get(labelKey(labels)) ?? 0;
  }

  /** The Prometheus text exposition of every series. */
  render(): string {
    for (const fn of this.#collectors) fn();
    const lines: string[] = [];
    for (const [name, series] of this.#series) {
      lines.push(`# HELP ${name} ${series.help}`, `# TYPE ${name} ${series.type}`);
      for (const [key, value] of series.values) lines.push(`${name}${key} ${value}`);
    }
    return `${lines.join('\n')}\n`;
  }

  #get(name: string, help: string, type: Series['type']): Series {
    let series = this.#series.get(name);
    if (series === undefined) {
      series = { help, type, values: new Map() };
      this.#series.set(name, series);
    }
    return series;
  }
}

function labelKey(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  const body = entries
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
  return `{${body}}`;
}

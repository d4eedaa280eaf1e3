import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import { HttpServer } from '../src/http/http-server.ts';
import { Metrics } from '../src/metrics.ts';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import { startMain } from './support/main-process.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { dmEvent, eventBody, JSON_TYPE, postSigned } from './support/slack-requests.ts';
import { ask, dm, KNOWLEDGE_DIR, startTempBot, tempDir } from './support/temp-bot.ts';

const TOKEN = 'metrics-token-0123456789abcdef';

/** The process metrics every scrape must carry (prom-client's defaults, prefixed). */
const PROCESS_METRICS = [
  'hrbot_nodejs_eventloop_lag_seconds gauge',
  'hrbot_nodejs_eventloop_lag_p99_seconds gauge',
  'hrbot_nodejs_heap_size_used_bytes gauge',
  'hrbot_nodejs_gc_duration_seconds histogram',
  'hrbot_nodejs_active_handles gauge',
  'hrbot_process_cpu_seconds_total counter',
  'hrbot_process_resident_memory_bytes gauge',
];

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, line: RegExp): number | undefined {
  const found = text.split('\n').find((l) => line.test(l));
  return found === undefined ? undefined : Number(found.slice(found.lastIndexOf(' ') + 1));
}

describe('Metrics registry', () => {
  it('renders counters, gauges and histograms in the Prometheus text format, labels in one order', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.increment('hrbot_things_total', 'Things', { platform: 'slack', kind: 'answer' });
    metrics.increment('hrbot_things_total', 'Things', { kind: 'answer', platform: 'slack' }, 2);
    metrics.set('hrbot_level', 'Level', 7);
    metrics.observe('hrbot_wait_seconds', 'Wait', 0.3, { platform: 'slack' }, [0.1, 1]);
    metrics.observe('hrbot_wait_seconds', 'Wait', 5, { platform: 'slack' }, [0.1, 1]);
    const text = await metrics.render();
    assert.match(text, /# TYPE hrbot_things_total counter\nhrbot_things_total\{kind="answer",platform="slack"\} 3\n/);
    assert.match(text, /# TYPE hrbot_level gauge\nhrbot_level 7\n/);
    assert.match(text, /# TYPE hrbot_wait_seconds histogram/);
    assert.match(text, /hrbot_wait_seconds_bucket\{le="0.1",platform="slack"\} 0\n/);
    assert.match(text, /hrbot_wait_seconds_bucket\{le="1",platform="slack"\} 1\n/);
    assert.match(text, /hrbot_wait_seconds_bucket\{le="\+Inf",platform="slack"\} 2\n/);
    assert.match(text, /hrbot_wait_seconds_sum\{platform="slack"\} 5.3\n/);
    assert.match(text, /hrbot_wait_seconds_count\{platform="slack"\} 2\n/);
    assert.equal(metrics.value('hrbot_things_total', { platform: 'slack', kind: 'answer' }), 3);
    assert.equal(metrics.value('hrbot_wait_seconds', { platform: 'slack' }), 2);
    assert.doesNotMatch(text, /hrbot_nodejs_/, 'process metrics only when asked for');
  });

  it('keeps instances apart: the same metric in two registries counts separately', async () => {
    const a = new Metrics({ processMetrics: false });
    const b = new Metrics({ processMetrics: false });
    a.increment('hrbot_x_total', 'X');
    a.increment('hrbot_x_total', 'X');
    b.increment('hrbot_x_total', 'X');
    assert.match(await a.render(), /^hrbot_x_total 2$/m);
    assert.match(await b.render(), /^hrbot_x_total 1$/m);
  });

  it('runs the collectors before each render', async () => {
    const metrics = new Metrics({ processMetrics: false });
    let live = 1;
    metrics.collect(() => metrics.set('hrbot_live', 'Live', live));
    assert.match(await metrics.render(), /^hrbot_live 1$/m);
    live = 5;
    assert.match(await metrics.render(), /^hrbot_live 5$/m);
  });

  it('bounds the label sets of one metric and counts what it drops', async () => {
    const metrics = new Metrics({ processMetrics: false });
    for (let i = 0; i < 250; i++) metrics.increment('hrbot_unbounded_total', 'A label that grows', { user: `u${i}` });
    const text = await metrics.render();
    assert.equal(text.split('\n').filter((line) => line.startsWith('hrbot_unbounded_total{')).length, 200);
    assert.equal(sample(text, /^hrbot_metric_series_dropped_total\{metric="hrbot_unbounded_total"\}/), 50);
    // A series already kept still counts.
    metrics.increment('hrbot_unbounded_total', 'A label that grows', { user: 'u0' });
    assert.equal(metrics.value('hrbot_unbounded_total', { user: 'u0' }), 2);
  });

  it('refuses a metric used with another type or other label names (a programming error)', () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.increment('hrbot_y_total', 'Y', { platform: 'slack' });
    assert.throws(() => metrics.set('hrbot_y_total', 'Y', 1, { platform: 'slack' }), TypeError);
    assert.throws(() => metrics.increment('hrbot_y_total', 'Y', { outcome: 'ok' }), /has labels \[platform\], not \[outcome\]/);
  });

  it('renders the process metrics: event-loop lag, heap, GC, handles, CPU and memory', async () => {
    const text = await new Metrics().render();
    for (const metric of PROCESS_METRICS) assert.match(text, new RegExp(`^# TYPE ${metric}$`, 'm'), metric);
    assert.ok((sample(text, /^hrbot_nodejs_heap_size_used_bytes /) ?? 0) > 0, 'heap in use is measured');
  });
});

describe('/metrics over HTTP', () => {
  it('shows the reply, inbox and Bedrock histograms after a Slack DM answered by the AI, and the process metrics', async () => {
    const bedrock = await startFakeBedrock();
    const t = await startSlackBot({
      env: {
        ...bedrockEnv(bedrock.url),
      },
    });
    try {
      const response = await postSigned(t.baseUrl, eventBody(dmEvent('how many vacation days do I get?', 'UMETRICS')), JSON_TYPE);
      assert.equal(response.status, 200);
      // The inbox records the reply once the item is done, right after the answer reaches Slack.
      await t.api.waitFor(() => t.bot.core.metrics.value('hrbot_reply_seconds', { platform: 'slack', outcome: 'answered' }) === 1, 10_000, 'the DM answered');
      assert.equal(bedrock.calls.length, 1, 'the answer came from Bedrock');

      const scrape = await fetch(`${t.baseUrl}/metrics`);
      assert.equal(scrape.status, 200);
      assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await scrape.text();
      for (const histogram of ['hrbot_handle_seconds', 'hrbot_reply_seconds', 'hrbot_inbox_wait_seconds', 'hrbot_llm_attempt_seconds', 'hrbot_llm_queue_wait_seconds']) {
        assert.match(text, new RegExp(`^# TYPE ${histogram} histogram$`, 'm'), histogram);
      }
      assert.equal(sample(text, /^hrbot_handle_seconds_count\{kind="answer",platform="slack"\} /), 1);
      assert.equal(sample(text, /^hrbot_reply_seconds_count\{outcome="answered",platform="slack"\} /), 1);
      assert.equal(sample(text, /^hrbot_inbox_wait_seconds_count\{platform="slack"\} /), 1);
      assert.equal(sample(text, /^hrbot_llm_attempt_seconds_count\{outcome="ok"\} /), 1);
      assert.equal(sample(text, /^hrbot_llm_queue_wait_seconds_count /), 1);
      // Receipt to reply covers the engine's part: its sum is at least the handling time's.
      const replied = sample(text, /^hrbot_reply_seconds_sum\{outcome="answered",platform="slack"\} /) ?? 0;
      const handled = sample(text, /^hrbot_handle_seconds_sum\{kind="answer",platform="slack"\} /) ?? Infinity;
      assert.ok(replied >= handled, `reply ${replied} s >= handling ${handled} s`);
      // Today's counters are still there.
      assert.equal(sample(text, /^hrbot_replies_total\{kind="answer",platform="slack"\} /), 1);
      assert.equal(sample(text, /^hrbot_llm_calls_total\{outcome="ok"\} /), 1);
      for (const metric of PROCESS_METRICS) assert.match(text, new RegExp(`^# TYPE ${metric}$`, 'm'), metric);
    } finally {
      await t.close();
      await bedrock.close();
    }
  });

  it('with a token: 401 without it or with a wrong one, 200 with it; the probes stay open', async () => {
    const bot = startTempBot();
    const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready(), metricsToken: TOKEN });
    try {
      const base = `http://127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
      await ask(bot.core, dm('/hr policy expenses'));
      const bare = await fetch(`${base}/metrics`);
      assert.equal(bare.status, 401);
      assert.match(bare.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.doesNotMatch(await bare.text(), /hrbot_/);
      for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
        const wrong = await fetch(`${base}/metrics`, { headers: { authorization } });
        assert.equal(wrong.status, 401, authorization);
        await wrong.text();
      }
      const right = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(right.status, 200);
      assert.match(await right.text(), /hrbot_replies_total\{kind="lookup",platform="console"\} 1/);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
    } finally {
      await server.close();
      bot.close();
    }
  });

  it('with a metrics port: served there (token and all), 404 on the main port', async () => {
    const bot = startTempBot();
    const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready(), metricsPort: 0, metricsToken: TOKEN });
    try {
      const base = `http://127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
      const metricsPort = server.metricsPort;
      assert.ok(metricsPort !== undefined && metricsPort > 0);
      await ask(bot.core, dm('/hr policy expenses'));
      assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
      assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the probes stay on the main port');
      const apart = `http://127.0.0.1:${metricsPort}`;
      assert.equal((await fetch(`${apart}/metrics`)).status, 401);
      const right = await fetch(`${apart}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(right.status, 200);
      assert.match(await right.text(), /hrbot_replies_total\{kind="lookup",platform="console"\} 1/);
      assert.equal((await fetch(`${apart}/healthz`)).status, 404, 'only /metrics on the metrics port');
      assert.equal((await fetch(`${apart}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await server.close();
      bot.close();
    }
    assert.equal(server.metricsPort, undefined, 'the metrics port is closed with the server');
  });

  it('a metrics port that is taken fails listen with a message naming METRICS_PORT, and frees the main port', async () => {
    const bot = startTempBot();
    const holder = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
    try {
      const taken = await holder.listen(0, '127.0.0.1');
      const server = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready(), metricsPort: taken });
      const probe = new HttpServer({ log: bot.core.log, metrics: bot.core.metrics, ready: () => bot.core.ready() });
      const main = await probe.listen(0, '127.0.0.1');
      await probe.close();
      await assert.rejects(server.listen(main, '127.0.0.1'), /cannot listen on 127\.0\.0\.1 port \d+ \(EADDRINUSE\): check METRICS_PORT and HOST/);
      await assert.rejects(fetch(`http://127.0.0.1:${main}/healthz`), 'the main port was closed again');
      await server.close();
    } finally {
      await holder.close();
      bot.close();
    }
  });
});

describe('METRICS_PORT and METRICS_TOKEN', () => {
  it('are unset by default, empty meaning the default', () => {
    const config = loadConfig({ METRICS_PORT: '', METRICS_TOKEN: '' });
    assert.equal(config.env.METRICS_PORT, undefined);
    assert.equal(config.env.METRICS_TOKEN, undefined);
    assert.equal(loadConfig({ METRICS_PORT: '9464', METRICS_TOKEN: TOKEN }).env.METRICS_PORT, 9464);
  });

  it('refuse a metrics port equal to PORT, a port out of range, and a short token, naming the variable and not echoing the token', () => {
    assert.throws(() => loadConfig({ PORT: '8080', METRICS_PORT: '8080' }), (error: unknown) => error instanceof ConfigError && /METRICS_PORT: must differ from PORT/.test(error.message));
    assert.throws(() => loadConfig({ METRICS_PORT: '70000' }), /METRICS_PORT/);
    assert.throws(() => loadConfig({ METRICS_PORT: 'nine' }), /METRICS_PORT/);
    assert.throws(
      () => loadConfig({ METRICS_TOKEN: 'short-secret' }),
      (error: unknown) => error instanceof ConfigError && /METRICS_TOKEN: must be at least 16 characters/.test(error.message) && !error.message.includes('short-secret'),
    );
  });

  it('npm start in server mode serves /metrics on METRICS_PORT behind METRICS_TOKEN, not on PORT', async () => {
    const dir = tempDir();
    const running = await startMain({
      env: { HRBOT_MODE: 'server', PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', METRICS_TOKEN: TOKEN, DATABASE_PATH: `${dir.path}/hrbot.db`, KNOWLEDGE_DIR },
    });
    try {
      const metricsPort = Number(running.started.metricsPort);
      assert.ok(metricsPort > 0 && metricsPort !== running.port, `metrics port in the start-up line: ${JSON.stringify(running.started)}`);
      assert.equal((await fetch(`http://127.0.0.1:${running.port}/metrics`)).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status, 401);
      const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(scrape.status, 200);
      const text = await scrape.text();
      for (const metric of PROCESS_METRICS) assert.match(text, new RegExp(`^# TYPE ${metric}$`, 'm'), metric);
    } finally {
      const result = await running.stop();
      dir.remove();
      assert.equal(result.code, 0, result.stderr);
      assert.ok(!result.stdout.includes(TOKEN) && !result.stderr.includes(TOKEN), 'the token is never logged');
    }
  });
});

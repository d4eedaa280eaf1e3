/**
 * Benchmark: 1,000 questions from 500 users arrive at once while the fake Bedrock enforces a quota of
 * R requests per minute. Reports completion time against the ideal 1000/R, attempts per call, throttles
 * seen and failed replies. Aims: >= 95% of the ideal, <= 1.2 attempts per call, 0 failed replies.
 * A question the handbook does not cover is answered "not covered" without the model: counted apart,
 * it is retrieval's figure (see `npm run eval`), not a capacity failure.
 *
 * The fake's "minute" is shortened by `timeScale` so a run takes seconds; the bot is configured the way
 * an operator would be, in real time: LLM_REQUESTS_PER_MINUTE = the quota as it runs on the wall clock.
 */
import { readFileSync } from 'node:fs';
import type { Reply } from '../../src/message.ts';
import { NOT_COVERED_REPLY } from '../eval/retrieval-eval.ts';
import { bedrockEnv, startFakeBedrock } from '../fakes/fake-bedrock.ts';
import { dm, startTempBot } from '../support/temp-bot.ts';

export interface QuotaScenario {
  name: string;
  /** The fake's quota, requests per (scaled) minute. */
  requestsPerMinute: number;
  timeScale: number;
  /** Real model latency per request, ms. */
  latencyMs: number;
  users: number;
  questions: number;
  /** Distinct question texts; fewer than `questions` exercises the cache and coalescing. */
  distinct: number;
  /** LLM_REQUESTS_PER_MINUTE given to the bot; undefined = the quota (on the wall clock). */
  botRequestsPerMinute?: number;
}

export interface QuotaReport {
  scenario: string;
  questions: number;
  bedrockCalls: number;
  elapsedMs: number;
  idealMs: number;
  ratio: number;
  attemptsPerCall: number;
  throttles: number;
  failedReplies: number;
  /** Questions answered "the handbook doesn't cover it" (no model call). */
  notCovered: number;
  /** First line of each failed reply, counted, so a failure can be told from a limit. */
  failureReasons: Record<string, number>;
  /** Calls the gateway gave up on (the users got labeled excerpts). */
  llmFailures: number;
  maxConcurrentAtFake: number;
}

const BASE_QUESTIONS = (JSON.parse(readFileSync(new URL('../fixtures/retrieval-questions.json', import.meta.url), 'utf8')) as Array<{ question: string }>).map(
  (q) => q.question,
);

/**
 * Distinct texts that still find handbook sections: a fixture question plus a number. A number only:
 * a word ("ticket") is searched too, and a handbook that speaks of tickets turns the question to them.
 */
export function questionText(index: number): string {
  return `${BASE_QUESTIONS[index % BASE_QUESTIONS.length] ?? 'vacation days'} (#${index})`;
}

/** The reply to a question the handbook does not cover: handbook-kind, no sources, says so. Not a model fallback. */
export function isNotCoveredReply(reply: Reply | null): boolean {
  return reply !== null && reply.kind === 'excerpts' && reply.sources.length === 0 && NOT_COVERED_REPLY.test(reply.text);
}

export async function runQuotaScenario(scenario: QuotaScenario): Promise<QuotaReport> {
  const fake = await startFakeBedrock({
    timeScale: scenario.timeScale,
    latencyMs: scenario.latencyMs,
    quota: { requestsPerMinute: scenario.requestsPerMinute },
  });
  const wallClockRpm = scenario.botRequestsPerMinute ?? scenario.requestsPerMinute * scenario.timeScale;
  const bot = startTempBot({
    ...bedrockEnv(fake.url),
    LLM_REQUESTS_PER_MINUTE: String(wallClockRpm),
    LOG_LEVEL: 'warn',
  });
  try {
    const messages = Array.from({ length: scenario.questions }, (_, i) => dm(questionText(i % scenario.distinct), `bench-user-${i % scenario.users}`));
    const started = performance.now();
    const replies = await Promise.all(messages.map((message) => bot.core.engine.handle(message)));
    const elapsedMs = performance.now() - started;
    const stats = bot.core.llm?.gateway.stats;
    if (stats === undefined) throw new Error('the bot did not build the LLM gateway');
    // A contact question is answered by a lookup, without the model: only fallbacks and errors failed.
    const notCovered = replies.filter(isNotCoveredReply).length;
    const failed = replies.filter((reply) => reply === null || ((reply.kind === 'excerpts' || reply.kind === 'error') && !isNotCoveredReply(reply)));
    const failedReplies = failed.length;
    const reasons = new Map<string, number>();
    for (const reply of failed) {
      const reason = reply === null ? 'no reply' : `${reply.kind}: ${reply.text.split('\n')[0]?.slice(0, 80) ?? ''}`;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    for (const line of bot.logs.filter((l) => l.msg === 'llm call failed')) {
      const reason = `gateway: ${String(line.label)} after ${String(line.attempts)} attempt(s), ${String(line.reason)}`;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    const idealMs = (stats.calls / scenario.requestsPerMinute) * (60_000 / scenario.timeScale);
    return {
      scenario: scenario.name,
      questions: scenario.questions,
      bedrockCalls: stats.calls,
      elapsedMs: Math.round(elapsedMs),
      idealMs: Math.round(idealMs),
      ratio: idealMs / elapsedMs,
      attemptsPerCall: stats.calls === 0 ? 0 : fake.stats.requests / stats.calls,
      throttles: fake.stats.throttled,
      failedReplies,
      notCovered,
      failureReasons: Object.fromEntries(reasons),
      llmFailures: stats.failures,
      maxConcurrentAtFake: fake.stats.concurrentMax,
    };
  } finally {
    bot.close();
    await fake.close();
  }
}

export function formatReport(report: QuotaReport): string {
  const pct = (report.ratio * 100).toFixed(1);
  const verdict = [
    report.ratio >= 0.95 ? 'time ok' : 'time BELOW AIM',
    report.attemptsPerCall <= 1.2 ? 'attempts ok' : 'attempts ABOVE AIM',
    report.failedReplies === 0 ? 'no failures' : 'FAILED REPLIES',
  ].join(', ');
  return [
    `scenario ${report.scenario}: ${report.questions} questions, ${report.bedrockCalls} Bedrock calls`,
    `  completion ${(report.elapsedMs / 1000).toFixed(2)} s vs ideal ${(report.idealMs / 1000).toFixed(2)} s (calls / R): ${pct}% of ideal`,
    `  attempts per call ${report.attemptsPerCall.toFixed(3)}, throttles ${report.throttles}, failed replies ${report.failedReplies}, peak concurrency at Bedrock ${report.maxConcurrentAtFake}`,
    `  answered "not covered" without the model: ${report.notCovered}`,
    ...(report.failedReplies === 0 ? [] : [`  failed replies: ${JSON.stringify(report.failureReasons)}; gateway gave up on ${report.llmFailures} call(s)`]),
    `  => ${verdict}`,
  ].join('\n');
}

/**
 * Benchmark: the model path under throttling that does not follow the request rate. In one process and
 * one run, N questions from U users arrive at once, first against a fake Bedrock with no faults, then
 * against one that answers a seeded random share of attempts 429 ThrottlingException and another share
 * 500/503. The bot runs with its default LLM settings (LLM_CONCURRENCY 16, no LLM_REQUESTS_PER_MINUTE).
 * Reports answers per second for both and their ratio (aim: >= 0.5), attempts per call, the most
 * attempts in flight at Bedrock, and the fallback (handbook) replies. A question with no reply at all is
 * a failure: the caller exits non-zero. Figures are reported, never asserted on time.
 */
import { bedrockEnv, startFakeBedrock } from '../fakes/fake-bedrock.ts';
import type { RandomFaults } from '../fakes/fake-bedrock.ts';
import { dm, startTempBot } from '../support/temp-bot.ts';
import { isNotCoveredReply, questionText } from './bedrock-quota.ts';

export interface RandomThrottlesScenario {
  questions: number;
  users: number;
  /** Model latency per successful request, ms. */
  latencyMs: number;
  faults: RandomFaults;
}

export interface PhaseReport {
  label: string;
  elapsedMs: number;
  answersPerSecond: number;
  bedrockCalls: number;
  attemptsPerCall: number;
  throttled: number;
  errors: number;
  maxInFlightAtBedrock: number;
  /** Replies made of handbook passages because the model call gave up (or the line was full). */
  fallbackReplies: number;
  /** Questions the handbook does not cover, answered so without the model (retrieval's figure, not a fallback). */
  notCovered: number;
  /** Questions that got no reply at all: must be 0. */
  noReply: number;
  /** Time from arrival to reply, ms: median, 99th percentile and the slowest (the tail sets the elapsed time). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Live limits when the phase ended. */
  finalConcurrency: number;
  finalRatePerSecond: number;
}

export interface RandomThrottlesReport {
  clean: PhaseReport;
  faulty: PhaseReport;
  /** faulty answers/s ÷ clean answers/s. */
  ratio: number;
}

async function runPhase(label: string, scenario: RandomThrottlesScenario, faults: RandomFaults | undefined): Promise<PhaseReport> {
  const fake = await startFakeBedrock({ latencyMs: scenario.latencyMs, ...(faults === undefined ? {} : { randomFaults: faults }) });
  // Default LLM settings: only what points the bot at the fake.
  const bot = startTempBot({
    ...bedrockEnv(fake.url),
    LOG_LEVEL: 'warn',
  });
  try {
    const gateway = bot.core.llm?.gateway;
    if (gateway === undefined) throw new Error('the bot did not build the LLM gateway');
    const messages = Array.from({ length: scenario.questions }, (_, i) => dm(questionText(i), `bench-user-${i % scenario.users}`));
    const started = performance.now();
    const times: number[] = [];
    const replies = await Promise.all(
      messages.map((message) =>
        bot.core.engine.handle(message).then((reply) => {
          times.push(performance.now() - started);
          return reply;
        }),
      ),
    );
    const elapsedMs = performance.now() - started;
    times.sort((a, b) => a - b);
    const percentile = (p: number): number => Math.round(times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0);
    const stats = gateway.stats;
    return {
      label,
      elapsedMs: Math.round(elapsedMs),
      answersPerSecond: (replies.filter((r) => r !== null).length * 1000) / elapsedMs,
      bedrockCalls: stats.calls,
      attemptsPerCall: stats.calls === 0 ? 0 : fake.stats.requests / stats.calls,
      throttled: fake.stats.throttled,
      errors: fake.stats.failed,
      maxInFlightAtBedrock: fake.stats.concurrentMax,
      fallbackReplies: replies.filter((r) => r?.kind === 'excerpts' && !isNotCoveredReply(r)).length,
      notCovered: replies.filter(isNotCoveredReply).length,
      noReply: replies.filter((r) => r === null).length,
      p50Ms: percentile(0.5),
      p99Ms: percentile(0.99),
      maxMs: Math.round(times.at(-1) ?? 0),
      finalConcurrency: gateway.concurrency,
      finalRatePerSecond: gateway.rateLimit,
    };
  } finally {
    bot.close();
    await fake.close();
  }
}

export async function runRandomThrottles(scenario: RandomThrottlesScenario): Promise<RandomThrottlesReport> {
  const clean = await runPhase('no faults', scenario, undefined);
  const faulty = await runPhase(`${scenario.faults.throttle * 100}% throttles + ${scenario.faults.error * 100}% errors`, scenario, scenario.faults);
  return { clean, faulty, ratio: faulty.answersPerSecond / clean.answersPerSecond };
}

function formatPhase(p: PhaseReport): string {
  const rate = Number.isFinite(p.finalRatePerSecond) ? `${p.finalRatePerSecond.toFixed(1)}/s` : 'unpaced';
  return [
    `  ${p.label}: ${p.answersPerSecond.toFixed(1)} answers/s (${(p.elapsedMs / 1000).toFixed(2)} s), ${p.bedrockCalls} Bedrock calls,`,
    `    attempts per call ${p.attemptsPerCall.toFixed(3)} (throttled ${p.throttled}, errors ${p.errors}), max in flight at Bedrock ${p.maxInFlightAtBedrock},`,
    `    time to reply p50 ${(p.p50Ms / 1000).toFixed(2)} s, p99 ${(p.p99Ms / 1000).toFixed(2)} s, slowest ${(p.maxMs / 1000).toFixed(2)} s,`,
    `    fallback replies ${p.fallbackReplies}, "not covered" ${p.notCovered}, no reply ${p.noReply}; at the end: concurrency ${p.finalConcurrency}, rate ${rate}`,
  ].join('\n');
}

export function formatRandomThrottles(name: string, scenario: RandomThrottlesScenario, report: RandomThrottlesReport): string {
  const lost = report.clean.noReply + report.faulty.noReply;
  const verdict = [report.ratio >= 0.5 ? 'ratio ok' : 'ratio BELOW AIM', lost === 0 ? 'every question answered' : `${lost} QUESTIONS WITH NO REPLY`].join(', ');
  return [
    `scenario ${name}: ${scenario.questions} questions from ${scenario.users} users, model latency ${scenario.latencyMs} ms, default LLM settings`,
    formatPhase(report.clean),
    formatPhase(report.faulty),
    `  throughput under faults / without: ${report.ratio.toFixed(2)} (aim >= 0.5)`,
    `  => ${verdict}`,
  ].join('\n');
}

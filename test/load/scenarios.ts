/**
 * The three runs of the load suite, from issue 9, at any size: the burst (users typing a message
 * every ~300 ms, half in Slack and half in Teams, Bedrock throttling 30% of attempts at random and
 * failing 5%, 250 ms model latency), the same with SIGKILL half way and a restart, and the burst with
 * Bedrock down for a while.
 */
import type { LoadScenario } from './load-scenario.ts';

export type ScenarioName = 'burst' | 'crash' | 'down';
export const SCENARIO_NAMES: readonly ScenarioName[] = ['burst', 'crash', 'down'];

/** The knobs the command line sets; defaults are the full version's. */
export interface SuiteSize {
  /** Default 500. */
  users: number;
  /** Default 10. */
  messages: number;
  /** How long Bedrock is down in the `down` run, ms. Default 60,000. */
  downMs: number;
  /** Stop waiting after this long with no new reply activity and nothing unfinished in the bot's inbox, ms. Default 15,000. */
  idleMs: number;
  /** Hard limit per run, ms. Default 15 minutes. */
  maxMs: number;
  /** Share of Bedrock attempts throttled at random. Default 0.3. */
  throttle: number;
  /** Share of Bedrock attempts failing 500/503 at random. Default 0.05. */
  error: number;
  /** Default 1. */
  seed: number;
}

export const FULL_SIZE: SuiteSize = { users: 500, messages: 10, downMs: 60_000, idleMs: 15_000, maxMs: 15 * 60_000, throttle: 0.3, error: 0.05, seed: 1 };

export function scenario(name: ScenarioName, size: SuiteSize): LoadScenario {
  const base = {
    name,
    users: size.users,
    messages: size.messages,
    intervalMs: 300,
    latencyMs: 250,
    faults: { throttle: size.throttle, error: size.error, seed: size.seed },
    idleMs: size.idleMs,
    maxMs: size.maxMs,
    seed: size.seed,
  };
  switch (name) {
    case 'burst':
      return base;
    case 'crash':
      return { ...base, crashAtShareSent: 0.5 };
    case 'down':
      // Down from a second into the burst: the first answers are in flight, the rest arrive while it is down.
      return { ...base, bedrockDown: { afterMs: 1_000, forMs: size.downMs } };
  }
}

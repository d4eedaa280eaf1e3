/**
 * The load suite's one table, and the counts it asserts: nothing lost, nothing twice, every user's
 * replies in the order written, nothing left half-shown, a sound database. Speed is reported only.
 */
import { DEFAULT_NOTICE_QUEUE } from '../../src/inbox/notice-queue.ts';
import type { ScenarioResult } from './load-scenario.ts';
import type { PlatformTally } from './tally.ts';
import { percentile } from './tally.ts';

const COLUMNS: Array<[string, (t: PlatformTally) => string]> = [
  ['sent', (t) => String(t.sent)],
  ['acked in time', (t) => String(t.ackedInTime)],
  ['acked on retry', (t) => String(t.ackedOnRetry)],
  ['undelivered', (t) => String(t.undelivered)],
  ['answered', (t) => String(t.answered)],
  ['duplicates', (t) => String(t.duplicates)],
  ['lost', (t) => String(t.lost)],
  ['out of order', (t) => String(t.outOfOrder)],
  ['left behind', (t) => String(t.leftBehind)],
  ['misplaced', (t) => (t.misplaced === undefined ? 'n/a' : String(t.misplaced))],
  ['"ahead" notices', (t) => String(t.notices)],
  ['overloaded', (t) => String(t.overloaded)],
  ['busy', (t) => String(t.busy)],
  ['fallbacks', (t) => String(t.fallbacks)],
  ['other', (t) => String(t.other)],
  ['p50 reply', (t) => seconds(percentile(t.replyMs, 0.5))],
  ['p99 reply', (t) => seconds(percentile(t.replyMs, 0.99))],
];

function seconds(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

/** One markdown table, a row per scenario and platform, then a line of run figures per scenario. */
export function formatReport(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'platform', ...COLUMNS.map(([name]) => name)];
  const rows = results.flatMap((r) =>
    (['slack', 'teams'] as const).map((platform) => [r.scenario.name, platform, ...COLUMNS.map(([, cell]) => cell(r[platform]))]),
  );
  const widths = header.map((name, i) => Math.max(name.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  const table = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const notes = results.map((r) => {
    const answered = r.slack.answered + r.teams.answered;
    const refusals = Object.entries(r.refusals).map(([what, n]) => `${what} ×${n}`);
    const errors = Object.entries(r.errorLogs).map(([msg, n]) => `"${msg}" ×${n}`);
    return [
      `${r.scenario.name}: ${r.scenario.users} users × ${r.scenario.messages} messages`,
      `${(r.elapsedMs / 1000).toFixed(1)} s to the last reply, ${((answered * 1000) / Math.max(1, r.elapsedMs)).toFixed(1)} replies/s`,
      `Bedrock ${r.bedrock.requests} requests (${r.bedrock.throttled} throttled, ${r.bedrock.failed} failed)`,
      ...(r.restarts === 0 ? [] : [`SIGKILL and restart ×${r.restarts}, resumed ${r.resumed ?? 'not said'}`]),
      `exit ${r.exitCode}`,
      `integrity ${r.integrity}`,
      `inbox unfinished ${r.inboxUnfinished ?? 'n/a'}`,
      `error log lines: ${errors.length === 0 ? 'none' : errors.join(', ')}`,
      ...(refusals.length === 0 ? [] : [`attempts not acknowledged: ${refusals.join(', ')}`]),
      `driver event-loop delay p99 ${r.driverLagMs.p99} ms, max ${r.driverLagMs.max} ms`,
      ...(['slack', 'teams'] as const)
        .filter((platform) => r[platform].leftBehindSamples.length > 0)
        .map((platform) => `${platform} left behind, e.g. ${r[platform].leftBehindSamples.map((sample) => JSON.stringify(sample)).join(', ')}`),
      ...(['slack', 'teams'] as const)
        .filter((platform) => r[platform].lostSamples.length > 0)
        .map((platform) => `${platform} lost: ${r[platform].lostSamples.map((sample) => JSON.stringify(sample)).join(', ')}`),
      ...(['slack', 'teams'] as const)
        .filter((platform) => r[platform].otherSamples.length > 0)
        .map((platform) => `${platform} other replies, e.g. ${r[platform].otherSamples.map((sample) => JSON.stringify(sample)).join(', ')}`),
      ...(r.complete ? [] : ['stopped waiting for replies']),
    ].join('; ');
  });
  return [...table, '', ...notes].join('\n');
}

/**
 * Teams messages a run may leave half-shown. Teams cannot find a message again (no idempotency key,
 * no listing of a chat): a notice or stream start it took whose id died with the process stays. Only
 * those on their way at a kill can, and the adapter sends at most DEFAULT_NOTICE_QUEUE.concurrency at
 * once; Slack's are found and replaced.
 */
export function teamsLeftAllowed(restarts: number): number {
  return restarts * DEFAULT_NOTICE_QUEUE.concurrency;
}

/** What is wrong in a run: counts that must be zero, and the state the bot must leave behind. */
export function failures(result: ScenarioResult, platforms: ReadonlyArray<'slack' | 'teams'> = ['slack', 'teams']): string[] {
  const found: string[] = [];
  const name = result.scenario.name;
  for (const platform of platforms) {
    const t = result[platform];
    const leftAllowed = platform === 'teams' ? teamsLeftAllowed(result.restarts) : 0;
    for (const [what, count, allowed] of [
      ['lost', t.lost, 0],
      ['duplicates', t.duplicates, 0],
      ['users out of order', t.outOfOrder, 0],
      ['left behind (placeholders, notices)', t.leftBehind, leftAllowed],
      // A reply left behind stands above its answer, which then comes as a new message below later ones.
      ['users with replies out of place on screen', t.misplaced ?? 0, leftAllowed],
    ] as const) {
      if (count > allowed) found.push(`${name} ${platform}: ${count} ${what}${allowed === 0 ? '' : ` (at most ${allowed} allowed)`}`);
    }
  }
  if (result.integrity !== 'ok') found.push(`${name}: integrity_check says ${result.integrity}`);
  if (result.exitCode !== 0) found.push(`${name}: the bot exited with ${result.exitCode} on SIGTERM`);
  if ((result.inboxUnfinished ?? 0) !== 0) found.push(`${name}: ${result.inboxUnfinished} inbox items not done`);
  return found;
}

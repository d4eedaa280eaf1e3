// Benchmark: a handbook of 1,000 generated markdown files. Reports the time to index it from empty,
// to refresh it unchanged, and to re-index after editing a few files (and which files were
// re-indexed), then search latency over 1,000 questions. Targets: indexing under a minute, a re-index
// touching only the changed files, search p99 under 50 ms; then hybrid search (words fused with
// 512-dimension passage vectors, as with AI on) over the same questions, its vectors made in-process
// by the fake's embedding function, so the figure is our search's cost without Bedrock's latency.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HandbookIndex } from '../../src/handbook/handbook-index.ts';
import { PassageVectors } from '../../src/handbook/passage-vectors.ts';
import { fakeEmbedding } from '../fakes/fake-embeddings.ts';
import { openDatabase } from '../../src/store/database.ts';
import { tempDir } from '../support/temp-bot.ts';
import { seededRandom as random } from '../support/seeded-random.ts';

export interface HandbookScaleOptions {
  files: number;
  questions: number;
  edited: number;
  seed: number;
}

export interface HandbookScaleFigures {
  files: number;
  words: number;
  passages: number;
  indexSeconds: number;
  unchangedRefreshMs: number;
  reindexMs: number;
  edited: number;
  reindexed: number;
  searchP50Ms: number;
  searchP99Ms: number;
  searchMaxMs: number;
  /** Embedding every passage in-process, seconds (Bedrock's time not included). */
  embedSeconds: number;
  hybridP50Ms: number;
  hybridP99Ms: number;
}

export const HANDBOOK_SCALE_TARGETS = { indexSeconds: 60, searchP99Ms: 50 } as const;

const TOPICS = `leave holiday vacation sickness parental maternity paternity adoption bereavement jury volunteering
  sabbatical overtime shift rota pension insurance dental vision wellbeing gym stipend allowance expenses travel
  hotel flight mileage receipt reimbursement approval budget invoice purchase supplier laptop password vpn badge
  parking desk meeting room training course conference certification mentoring promotion salary bonus commission
  payroll payslip tax visa relocation onboarding probation notice resignation reference retirement harassment
  bullying grievance disciplinary whistleblowing conduct gifts conflict privacy security phishing equipment
  safety accident firstaid remote hybrid abroad contract hours breaks childcare nursery carer disability`.split(/\s+/).filter(Boolean);
const WORDS = `the employee manager team request approve submit days weeks months year policy must may should within after
  before each every full part time paid unpaid office country local statutory company contract record system form
  portal email working calendar period rate amount limit standard higher lower first last next notice written
  person colleague department director review agreed support return schedule process eligible entitled minimum
  maximum total balance accrue carry expire refund claim cost receipt booking advance emergency family partner
  child parent medical doctor certificate report incident confidential access account device secure update`.split(/\s+/).filter(Boolean);


function pick<T>(items: readonly T[], next: () => number): T {
  return items[Math.floor(next() * items.length)]!;
}

/** A made-up but word-like term, so the vocabulary grows as a real large handbook's would. */
function term(next: () => number): string {
  const syllables = ['ka', 'lo', 'mi', 'ren', 'tas', 'vo', 'qui', 'der', 'pan', 'sel', 'tor', 'ni'];
  return Array.from({ length: 2 + Math.floor(next() * 3) }, () => pick(syllables, next)).join('');
}

function sentence(next: () => number, topic: string, extra: string): string {
  const words = Array.from({ length: 10 + Math.floor(next() * 14) }, () => (next() < 0.08 ? extra : next() < 0.15 ? topic : pick(WORDS, next)));
  const text = words.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)} ${Math.floor(next() * 90) + 1} days.`;
}

function generateFile(index: number, next: () => number, version = 0): string {
  const topic = pick(TOPICS, next);
  const extras = Array.from({ length: 6 }, () => term(next));
  const lines = [`# ${topic.charAt(0).toUpperCase()}${topic.slice(1)} policy ${index}${version > 0 ? ` (revision ${version})` : ''}`, ''];
  lines.push(Array.from({ length: 3 }, () => sentence(next, topic, pick(extras, next))).join(' '), '');
  const sections = 4 + Math.floor(next() * 4);
  for (let s = 0; s < sections; s += 1) {
    lines.push(`## ${pick(WORDS, next)} ${pick(extras, next)} ${pick(TOPICS, next)}`, '');
    const paragraphs = 1 + Math.floor(next() * 3);
    for (let p = 0; p < paragraphs; p += 1) lines.push(Array.from({ length: 2 + Math.floor(next() * 4) }, () => sentence(next, topic, pick(extras, next))).join(' '), '');
    if (next() < 0.4) {
      for (let item = 0; item < 4; item += 1) lines.push(`- ${sentence(next, topic, pick(extras, next))}`);
      lines.push('');
    }
    if (next() < 0.25) {
      lines.push(`| ${pick(WORDS, next)} | ${topic} | days |`, '| --- | --- | --- |');
      for (let row = 0; row < 6; row += 1) lines.push(`| ${pick(extras, next)} | ${pick(WORDS, next)} | ${row * 5 + 10} |`);
      lines.push('');
    }
  }
  return lines.join('\n');
}

function question(next: () => number): string {
  const words = [pick(['how many', 'can I', 'who approves', 'what is the', 'when do I'], next), pick(TOPICS, next), pick(WORDS, next), pick(WORDS, next)];
  // One question in five has a typo: two letters swapped.
  if (next() < 0.2) {
    const word = words[1]!;
    const at = 1 + Math.floor(next() * Math.max(1, word.length - 2));
    words[1] = `${word.slice(0, at)}${word[at + 1] ?? ''}${word[at] ?? ''}${word.slice(at + 2)}`;
  }
  return `${words.join(' ')}?`;
}

/** Run the scenario and return its figures. */
export async function handbookScale(options: Partial<HandbookScaleOptions> = {}): Promise<HandbookScaleFigures> {
  const { files, questions, edited, seed } = { files: 1_000, questions: 1_000, edited: 10, seed: 12, ...options };
  const dir = tempDir('hrbot-handbook-scale-');
  try {
    const knowledge = join(dir.path, 'knowledge');
    mkdirSync(knowledge);
    const next = random(seed);
    let words = 0;
    for (let i = 0; i < files; i += 1) {
      const folder = join(knowledge, `area-${i % 20}`);
      if (i < 20) mkdirSync(folder);
      const content = generateFile(i, next);
      words += content.split(/\s+/).length;
      writeFileSync(join(folder, `policy-${i}.md`), content);
    }

    const db = openDatabase(join(dir.path, 'bench.db'));
    const logged: { msg: string; obj: object }[] = [];
    const log = { info: (obj: object, msg: string) => logged.push({ obj, msg }), warn: (obj: object, msg: string) => logged.push({ obj, msg }) };
    const index = new HandbookIndex({ db, dir: knowledge, log });
    try {
      let started = performance.now();
      const first = index.refresh();
      const indexSeconds = (performance.now() - started) / 1000;

      started = performance.now();
      index.refresh();
      const unchangedRefreshMs = performance.now() - started;

      for (let i = 0; i < edited; i += 1) {
        const file = i * Math.floor(files / edited);
        writeFileSync(join(knowledge, `area-${file % 20}`, `policy-${file}.md`), generateFile(file, random(seed + 1000 + i), 1));
      }
      started = performance.now();
      index.refresh();
      const reindexMs = performance.now() - started;
      const last = logged.filter((entry) => entry.msg === 'handbook index refreshed').at(-1)?.obj as { reindexed?: string[] } | undefined;

      const times: number[] = [];
      const ask = random(seed + 7);
      const asked: string[] = [];
      for (let i = 0; i < questions; i += 1) {
        const text = question(ask);
        asked.push(text);
        const t0 = performance.now();
        index.retrieve(text, { limit: 8 });
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const percentileOf = (sorted: number[], p: number): number => Number((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(2));
      const percentile = (p: number): number => percentileOf(times, p);

      const vectors = new PassageVectors(db, { model: 'bench-local', dimensions: 512, embed: (text) => Promise.resolve(Float32Array.from(fakeEmbedding(text, 512))) });
      started = performance.now();
      await vectors.sync();
      const embedSeconds = (performance.now() - started) / 1000;
      index.useEmbeddings(vectors);
      const hybrid: number[] = [];
      for (const text of asked) {
        const t0 = performance.now();
        await index.retrieveHybrid(text, { limit: 8 });
        hybrid.push(performance.now() - t0);
      }
      hybrid.sort((a, b) => a - b);
      return {
        files,
        words,
        passages: first.passages,
        indexSeconds: Number(indexSeconds.toFixed(2)),
        unchangedRefreshMs: Math.round(unchangedRefreshMs),
        reindexMs: Math.round(reindexMs),
        edited,
        reindexed: last?.reindexed?.length ?? 0,
        searchP50Ms: percentile(0.5),
        searchP99Ms: percentile(0.99),
        searchMaxMs: Number((times.at(-1) ?? 0).toFixed(2)),
        embedSeconds: Number(embedSeconds.toFixed(2)),
        hybridP50Ms: percentileOf(hybrid, 0.5),
        hybridP99Ms: percentileOf(hybrid, 0.99),
      };
    } finally {
      db.close();
    }
  } finally {
    dir.remove();
  }
}

/** Whether the figures meet the targets: index under a minute, only edited files re-indexed, p99 under 50 ms. */
export function handbookScalePassed(figures: HandbookScaleFigures): boolean {
  return (
    figures.indexSeconds < HANDBOOK_SCALE_TARGETS.indexSeconds &&
    figures.reindexed === figures.edited &&
    figures.searchP99Ms < HANDBOOK_SCALE_TARGETS.searchP99Ms &&
    figures.hybridP99Ms < HANDBOOK_SCALE_TARGETS.searchP99Ms
  );
}

export function formatHandbookScale(figures: HandbookScaleFigures): string {
  return [
    `handbook-scale: ${figures.files} files, ${figures.words.toLocaleString('en-US')} words, ${figures.passages} passages`,
    `  index from empty ${figures.indexSeconds} s (target < ${HANDBOOK_SCALE_TARGETS.indexSeconds} s); unchanged refresh ${figures.unchangedRefreshMs} ms`,
    `  ${figures.edited} files edited: re-index ${figures.reindexMs} ms, ${figures.reindexed} files re-indexed`,
    `  search (retrieve, 8 passages): p50 ${figures.searchP50Ms} ms, p99 ${figures.searchP99Ms} ms (target < ${HANDBOOK_SCALE_TARGETS.searchP99Ms} ms), max ${figures.searchMaxMs} ms`,
    `  hybrid search (words + 512-dim vectors, fused; embedding the question in-process): p50 ${figures.hybridP50Ms} ms, p99 ${figures.hybridP99Ms} ms (target < ${HANDBOOK_SCALE_TARGETS.searchP99Ms} ms); all passages embedded in ${figures.embedSeconds} s without Bedrock`,
    `  ${handbookScalePassed(figures) ? 'PASS' : 'FAIL'}`,
  ].join('\n');
}

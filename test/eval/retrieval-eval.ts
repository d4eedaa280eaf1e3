/**
 * The retrieval evaluation: held-out questions asked through the real engine over a handbook, with
 * AI off (what the user sees) and with AI on (what the model is given), plus search-level top-1/top-3.
 * Used by `npm run eval` (test/eval/run.ts) and by test/retrieval-quality.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Answerer, AnswerRequest, AnswerResult } from '../../src/answer/answerer.ts';
import { sourceOf } from '../../src/answer/answerer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { HandbookIndex } from '../../src/handbook/handbook-index.ts';
import { PassageVectors } from '../../src/handbook/passage-vectors.ts';
import { buildPrompt } from '../../src/llm/prompt.ts';
import { silentLogger } from '../../src/log/logger.ts';
import type { IncomingMessage, Reply } from '../../src/message.ts';
import { openDatabase } from '../../src/store/database.ts';
import type { Db } from '../../src/store/database.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** One question of a set (see questions-sample.json for the format). */
export interface EvalQuestion {
  q: string;
  file?: string;
  heading?: string;
  phrase?: string;
  /** Several passages that each answer it. */
  any?: { file: string; phrase: string }[];
  /** Phrases a structured answer (holiday calendar, contacts) may show instead of the passage. */
  reply?: string[];
  /** The handbook does not cover it: the right reply says so. */
  none?: boolean;
  /** Asked just before, in the same conversation. */
  after?: string;
}

export interface EvalSet {
  name: string;
  /** Handbook folder, relative to the project root. */
  handbook: string;
  questions: EvalQuestion[];
}

export interface SensitiveQuestion {
  q: string;
  private: boolean;
}

/** Dense embeddings for a hybrid run: the passages and questions are embedded with `embed`. */
export interface EvalEmbedder {
  name: string;
  dimensions: number;
  embed(text: string): Promise<Float32Array>;
}

/** Hit counts over one set. */
export interface EvalFigures {
  name: string;
  files: number;
  covered: number;
  /** Covered questions that are not follow-ups: the ones searched on their own for top-1/top-3. */
  searched: number;
  top1: number;
  top3: number;
  excerptShown: number;
  contextGiven: number;
  uncovered: number;
  /** Uncovered questions answered "the handbook doesn't cover this" (AI off). */
  abstainedOff: number;
  /** Uncovered questions for which the model was handed no passages (AI on). */
  abstainedOn: number;
  /** Covered questions wrongly answered "not covered" (AI off). */
  falseAbstentions: number;
  misses: string[];
  ms: number;
}

/** The fixed "today" of the evaluation, so "this year" and "the next holiday" mean the same on every run. */
export const EVAL_NOW = Date.parse('2026-11-28T12:00:00Z');

/** Replies that say the handbook does not cover the question. */
export const NOT_COVERED_REPLY = /couldn't find anything in the handbook|handbook doesn't (?:cover|seem to cover|say)|isn't in the handbook|not in the handbook/i;

export function loadSet(name: string, path: string): EvalSet {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { handbook: string; questions: EvalQuestion[] };
  return { name, handbook: parsed.handbook, questions: parsed.questions };
}

export function loadSensitive(path: string): SensitiveQuestion[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { questions: SensitiveQuestion[] }).questions;
}

/** Lowercase words and numbers only, so markdown, table pipes and currency signs do not matter. */
export function normalize(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function expected(question: EvalQuestion): { file: string; phrase: string }[] {
  if (question.any !== undefined) return question.any;
  if (question.file !== undefined && question.phrase !== undefined) return [{ file: question.file, phrase: question.phrase }];
  return [];
}

function shows(text: string, question: EvalQuestion): boolean {
  const haystack = normalize(text);
  const phrases = [...expected(question).map((answer) => answer.phrase), ...(question.reply ?? [])];
  return phrases.some((phrase) => haystack.includes(normalize(phrase)));
}

/** Records the prompt the model would be given, instead of calling a model. */
class PromptCapture implements Answerer {
  prompt: string | undefined;

  answer(request: AnswerRequest): Promise<AnswerResult> {
    const prompt = buildPrompt(request.question, request.sections, [], 1_024);
    this.prompt = [prompt.system, ...prompt.messages.map((message) => message.text)].join('\n\n');
    return Promise.resolve({ kind: 'answer', text: '(evaluation: no model called)', sources: request.sections.map(sourceOf) });
  }
}

interface Harness {
  db: Db;
  handbook: HandbookIndex;
  off: Engine;
  on: Engine;
  capture: PromptCapture;
  close(): void;
}

async function harness(dir: string, embedder?: EvalEmbedder): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'hrbot-eval-'));
  const db = openDatabase(join(root, 'hrbot.db'));
  const log = silentLogger();
  const handbook = new HandbookIndex({ db, dir });
  handbook.refresh();
  if (embedder !== undefined) {
    const vectors = new PassageVectors(db, { model: embedder.name, dimensions: embedder.dimensions, embed: (text) => embedder.embed(text) });
    const synced = await vectors.sync();
    if (synced.missing > 0) throw new Error(`${synced.missing} passages could not be embedded with ${embedder.name}`);
    // No budget worth the name: an evaluation waits for every question's vector.
    handbook.useEmbeddings(vectors, { queryBudgetMs: 60_000 });
  }
  const options = {
    maxMessageChars: 4_000,
    limits: { perMinute: 10_000, dailyQuestions: 1_000_000 },
    lanes: { maxPendingPerLane: 10, maxLanes: 1_000 },
    admins: new Set<string>(),
  };
  const capture = new PromptCapture();
  const clock = { now: () => EVAL_NOW };
  const off = new Engine({ db, handbook, log, ...clock }, options);
  const on = new Engine({ db, handbook, log, answerer: capture, ...clock }, options);
  return {
    db,
    handbook,
    off,
    on,
    capture,
    close() {
      db.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

let sequence = 0;

function message(text: string, user: string, extra: Partial<IncomingMessage> = {}): IncomingMessage {
  sequence += 1;
  return {
    platform: 'console',
    tenantId: 'eval',
    userId: user,
    conversationId: `dm-${user}`,
    conversationKind: 'dm',
    privateReplies: true,
    text,
    eventId: `eval-${process.pid}-${sequence}`,
    ...extra,
  };
}

async function send(engine: Engine, text: string, user: string, extra: Partial<IncomingMessage> = {}): Promise<Reply> {
  const reply = await engine.handle(message(text, user, extra));
  if (reply === null) throw new Error(`no reply to ${JSON.stringify(text)}`);
  return reply;
}

/** Throws when a question's expected phrase is not in its file: a broken fixture, not a retrieval miss. */
function checkFixture(set: EvalSet, dir: string): void {
  for (const question of set.questions) {
    const answers = expected(question);
    if (question.none !== true && answers.length === 0) throw new Error(`${set.name}: ${JSON.stringify(question.q)} has no expected answer`);
    for (const answer of answers) {
      const text = normalize(readFileSync(join(dir, answer.file), 'utf8'));
      if (!text.includes(normalize(answer.phrase))) throw new Error(`${set.name}: phrase ${JSON.stringify(answer.phrase)} is not in ${answer.file}`);
    }
  }
}

/** Ask every question of a set, AI off and AI on, and count the hits. */
export async function evaluateSet(set: EvalSet, embedder?: EvalEmbedder): Promise<EvalFigures> {
  const started = performance.now();
  const dir = resolve(ROOT, set.handbook);
  checkFixture(set, dir);
  const h = await harness(dir, embedder);
  const figures: EvalFigures = {
    name: set.name,
    files: (h.db.prepare('SELECT count(*) FROM handbook_files').pluck().get() as number) ?? 0,
    covered: 0,
    searched: 0,
    top1: 0,
    top3: 0,
    excerptShown: 0,
    contextGiven: 0,
    uncovered: 0,
    abstainedOff: 0,
    abstainedOn: 0,
    falseAbstentions: 0,
    misses: [],
    ms: 0,
  };
  try {
    for (const [i, question] of set.questions.entries()) {
      const user = `${set.name}-${i}`;
      if (question.after !== undefined) {
        await send(h.off, question.after, `${user}-off`);
        await send(h.on, question.after, `${user}-on`);
      }
      const off = await send(h.off, question.q, `${user}-off`);
      h.capture.prompt = undefined;
      const on = await send(h.on, question.q, `${user}-on`);
      const prompt = h.capture.prompt;

      if (question.none === true) {
        figures.uncovered += 1;
        const offOk = NOT_COVERED_REPLY.test(off.text);
        const onOk = prompt === undefined && NOT_COVERED_REPLY.test(on.text);
        if (offOk) figures.abstainedOff += 1;
        else figures.misses.push(`not covered, but shown: ${JSON.stringify(question.q)} → ${firstLines(off.text)}`);
        if (onOk) figures.abstainedOn += 1;
        else if (offOk) figures.misses.push(`not covered, but passages handed to the model: ${JSON.stringify(question.q)}`);
        continue;
      }

      figures.covered += 1;
      if (question.after === undefined) {
        figures.searched += 1;
        const hits = (await h.handbook.retrieveHybrid(question.q, { limit: 3 })).hits;
        const answers = expected(question);
        const isAnswer = (hit: { file: string; text: string }): boolean =>
          answers.some((answer) => answer.file === hit.file && normalize(hit.text).includes(normalize(answer.phrase)));
        if (hits[0] !== undefined && isAnswer(hits[0])) figures.top1 += 1;
        if (hits.some(isAnswer)) figures.top3 += 1;
      }
      if (shows(off.text, question)) figures.excerptShown += 1;
      else figures.misses.push(`excerpt not shown: ${JSON.stringify(question.q)} (${question.file ?? ''} › ${question.heading ?? ''}) → ${firstLines(off.text)}`);
      if (NOT_COVERED_REPLY.test(off.text)) figures.falseAbstentions += 1;
      const context = prompt ?? on.text;
      if (shows(context, question)) figures.contextGiven += 1;
      else figures.misses.push(`context not given: ${JSON.stringify(question.q)} (${question.file ?? ''} › ${question.heading ?? ''})`);
    }
  } finally {
    h.close();
  }
  figures.ms = Math.round(performance.now() - started);
  return figures;
}

/** How sensitive questions asked in a Slack channel are answered: privately or not. */
export async function evaluateSensitive(questions: readonly SensitiveQuestion[], handbookDir: string): Promise<{ sensitive: number; detected: number; ordinary: number; falseAlarms: number; misses: string[] }> {
  const h = await harness(resolve(ROOT, handbookDir));
  const result = { sensitive: 0, detected: 0, ordinary: 0, falseAlarms: 0, misses: [] as string[] };
  try {
    for (const [i, question] of questions.entries()) {
      const reply = await send(h.off, question.q, `sensitive-${i}`, { platform: 'slack', conversationKind: 'channel', conversationId: `C-${i}` });
      const isPrivate = reply.visibility === 'private';
      if (question.private) {
        result.sensitive += 1;
        if (isPrivate) result.detected += 1;
        else result.misses.push(`answered in public: ${JSON.stringify(question.q)}`);
      } else {
        result.ordinary += 1;
        if (isPrivate) {
          result.falseAlarms += 1;
          result.misses.push(`answered privately without need: ${JSON.stringify(question.q)}`);
        }
      }
    }
  } finally {
    h.close();
  }
  return result;
}

function firstLines(text: string): string {
  return JSON.stringify(text.split('\n').slice(0, 3).join(' ⏎ ').slice(0, 200));
}

/** "a/b (pp%)" */
export function rate(hits: number, total: number): string {
  return total === 0 ? '-' : `${hits}/${total} (${Math.round((100 * hits) / total)}%)`;
}

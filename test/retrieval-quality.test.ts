import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HandbookIndex } from '../src/handbook/handbook-index.ts';
import { openDatabase } from '../src/store/database.ts';

/** A question as an employee would type it, and where the answer lives. */
interface RetrievalQuestion {
  question: string;
  file: string;
  heading?: string;
}

const KNOWLEDGE = join(import.meta.dirname, '..', 'knowledge');
const QUESTIONS = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'retrieval-questions.json'), 'utf8')) as RetrievalQuestion[];

const MIN_TOP1 = 0.75;
const MIN_TOP3 = 0.9;

test('retrieval quality: the right handbook file is found for employee questions', () => {
  assert.ok(QUESTIONS.length >= 40, 'the fixture needs at least 40 questions to mean anything');
  const root = mkdtempSync(join(tmpdir(), 'hrbot-retrieval-'));
  const db = openDatabase(join(root, 'hrbot.db'));
  try {
    const index = new HandbookIndex({ db, dir: KNOWLEDGE });
    index.refresh();

    let top1 = 0;
    let top3 = 0;
    let headingTop1 = 0;
    const withHeading = QUESTIONS.filter((q) => q.heading !== undefined).length;
    const misses: string[] = [];
    for (const { question, file, heading } of QUESTIONS) {
      const hits = index.search(question, 3);
      if (hits[0]?.file === file) top1 += 1;
      else misses.push(`${JSON.stringify(question)}: expected ${file}, got ${hits.map((hit) => `${hit.file}#${hit.anchor}`).join(', ') || 'nothing'}`);
      if (hits.some((hit) => hit.file === file)) top3 += 1;
      if (heading !== undefined && hits[0]?.heading === heading) headingTop1 += 1;
    }

    const n = QUESTIONS.length;
    const top1Rate = top1 / n;
    const top3Rate = top3 / n;
    console.log(
      `retrieval: ${n} questions, top-1 ${top1Rate.toFixed(2)} (${top1}/${n}), top-3 ${top3Rate.toFixed(2)} (${top3}/${n}), heading top-1 ${headingTop1}/${withHeading}`,
    );
    for (const miss of misses) console.log(`  top-1 miss ${miss}`);
    assert.ok(top3Rate >= MIN_TOP3, `top-3 accuracy ${top3Rate.toFixed(2)} is below ${MIN_TOP3}`);
    assert.ok(top1Rate >= MIN_TOP1, `top-1 accuracy ${top1Rate.toFixed(2)} is below ${MIN_TOP1}`);
  } finally {
    db.close();
    rmSync(root, { recursive: true, force: true });
  }
});

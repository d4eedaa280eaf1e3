// Scoring a passage looks up only the stems the question's terms name, so a search indexes only
// those: the scores must be exactly what indexing every stem gives.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { holdsTerm, indexPassage, scorePassage, termStems } from '../src/handbook/passage-ranking.ts';
import { analyzeQuestion } from '../src/handbook/query-analysis.ts';
import { textWords } from '../src/handbook/query-terms.ts';
import { stemsOf } from '../src/handbook/terms.ts';
import { Vocabulary } from '../src/handbook/vocabulary.ts';

const PASSAGES = [
  { title: 'Sick Leave', path: 'Sick Leave › Doctor’s note', body: 'After three days off sick, hand in a doctor’s note or a medical certificate from your GP.' },
  { title: 'Annual Leave', path: 'Annual Leave › Carry over', body: 'You may carry over up to five days of unused holiday into the next year; paid time off beyond that is lost.' },
  { title: 'Expenses', path: 'Expenses › Who approves', body: 'Your manager approves expense claims up to 2,000 dollars; above that, finance approves them as well.' },
];

describe('passage scoring', () => {
  const fields = PASSAGES.map((p) => ({ title: stemsOf(p.title), path: stemsOf(p.path), heading: stemsOf(p.path.split(' › ').at(-1)!), body: stemsOf(p.body) }));
  const vocabulary = new Vocabulary(
    PASSAGES.map((p, i) => ({ words: textWords(`${p.path} ${p.body}`), stems: [...fields[i]!.title, ...fields[i]!.path, ...fields[i]!.heading, ...fields[i]!.body], bodyLength: fields[i]!.body.length })),
  );

  for (const question of ['do I need a doctors note after being off sick?', 'can I carry over unused vacation days?', 'who approves a 2000 dollar expense claim?', 'is there a sick note for holiday?']) {
    it(`gives the same scores from the question's stems alone as from every stem: "${question}"`, () => {
      const { terms } = analyzeQuestion(question, vocabulary, { weight: 1, own: true });
      assert.ok(terms.length > 0);
      const wanted = termStems(terms);
      const full = fields.map((f) => indexPassage(f));
      const only = fields.map((f) => indexPassage(f, wanted));
      assert.ok(only.every((p, i) => p.body.size <= full[i]!.body.size) && only.some((p, i) => p.body.size < full[i]!.body.size), 'fewer stems kept');
      for (let i = 0; i < fields.length; i += 1) {
        const beside = (list: typeof full) => list.filter((_, j) => j !== i);
        assert.deepEqual(scorePassage(terms, only[i]!, beside(only), 20), scorePassage(terms, full[i]!, beside(full), 20));
        assert.deepEqual(terms.map((term) => holdsTerm(term, only[i]!)), terms.map((term) => holdsTerm(term, full[i]!)));
      }
    });
  }
});

// General English synonyms (WordNet) for words a handbook never uses: what the dictionary gives,
// and what a search over a real index finds with it and without it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HandbookIndex, MIN_CONFIDENCE } from '../src/handbook/handbook-index.ts';
import { analyzeQuestion } from '../src/handbook/query-analysis.ts';
import { textWords } from '../src/handbook/query-terms.ts';
import { stemsOf } from '../src/handbook/terms.ts';
import { Vocabulary } from '../src/handbook/vocabulary.ts';
import type { Thesaurus } from '../src/handbook/query-analysis.ts';
import { WordNet } from '../src/handbook/wordnet.ts';
import { openDatabase } from '../src/store/database.ts';

describe('WordNet synonyms', () => {
  const wordnet = new WordNet();

  it('gives the other words of a word’s common senses, from its plural too', () => {
    assert.ok(wordnet.synonyms('bicycle').includes('bike'));
    assert.ok(wordnet.synonyms('bicycles').includes('bike'));
    assert.ok(wordnet.synonyms('spectacles').includes('glasses'));
    assert.ok(wordnet.synonyms('purchase').includes('buy'));
    assert.ok(wordnet.synonyms('grandmother').includes('grandma'));
    assert.ok(!wordnet.synonyms('bicycle').includes('bicycle'), 'not the word itself');
  });

  it('leaves out senses WordNet never met in its tagged corpus', () => {
    // "cat" as a verb means to vomit: a rare sense that would send a question about pets to sick leave.
    assert.ok(wordnet.synonyms('cat').length > 0);
    assert.ok(!wordnet.synonyms('cat').includes('sick'));
    assert.ok(!wordnet.synonyms('cat').includes('vomit'));
  });

  it('knows English words, not misspellings', () => {
    assert.equal(wordnet.knows('bicycle'), true);
    assert.equal(wordnet.knows('spectacles'), true);
    assert.equal(wordnet.knows('vacaton'), false);
    assert.equal(wordnet.knows('mnay'), false);
    assert.deepEqual(wordnet.synonyms('vacaton'), []);
  });

  it('gives a noun\'s more general words and a word\'s derived forms as its relatives', () => {
    assert.ok(wordnet.related('grandmother').includes('grandparent'), 'hypernym');
    assert.ok(wordnet.related('grandmothers').includes('grandparent'), 'from the plural');
    assert.ok(wordnet.related('ill').includes('illness'), 'derived form of an adjective');
    assert.ok(wordnet.related('die').includes('death'), 'derived form of a verb');
    assert.ok(!wordnet.related('grandmother').includes('grandma'), 'synonyms are not relatives');
    assert.ok(!wordnet.related('grandmother').includes('grandmother'), 'not the word itself');
    assert.deepEqual(wordnet.related('vacaton'), []);
  });

  it('does not give a verb\'s more general words, nor another word\'s derived forms', () => {
    // A verb's hypernym is a bare motion or change: "dress" → "change" would match any passage on change.
    assert.ok(!wordnet.related('dress').includes('change'));
    assert.ok(!wordnet.related('borrow').includes('get'));
    // "die" and "perish" are one synset; "death" derives from "die", "perishable" from "perish".
    assert.ok(!wordnet.related('die').includes('perishable'));
  });

  it('finds the first and the last lemmas of its index files', () => {
    // Bisection bounds: WordNet's noun index starts with "'hood" and ends with "zyrian".
    assert.equal(wordnet.knows('zyrian'), true);
    assert.equal(wordnet.knows("'hood"), true);
    assert.equal(wordnet.knows('zzzzzz'), false);
    assert.equal(wordnet.knows('aaaaaa'), false);
  });
});

describe('the dictionary in a question\'s concepts', () => {
  const texts = ['Annual leave in the United Kingdom is 25 days.', 'UK staff are paid monthly.', 'Your salary is paid on the last working day.', 'Carry over up to 5 days.'];
  const vocabulary = new Vocabulary(texts.map((text) => ({ words: textWords(text), stems: stemsOf(text), bodyLength: stemsOf(text).length })));
  const alternativesOf = (question: string, label: string): string[] => {
    const term = analyzeQuestion(question, vocabulary, { weight: 1, own: true, thesaurus: new WordNet() }).terms.find((t) => t.label === label);
    return (term?.alternatives ?? []).map((alternative) => alternative.stems.join(' '));
  };

  it('looks up the longer names of a word the handbook uses, not its other single words', () => {
    // "uk" is used, and WordNet's "United Kingdom" is too: both are searched.
    assert.deepEqual(alternativesOf('how much leave in the uk?', 'uk'), ['uk', stemsOf('united kingdom').join(' ')]);
    // "pay" is used: WordNet's "salary" (a single word, maybe another sense) is not added, though the handbook has it.
    assert.deepEqual(alternativesOf('when is pay day?', 'pay'), ['pai']);
  });

  it('keeps numerals and drops initials', () => {
    // WordNet's "five" is also "5" and "v": the handbook's "5" is found, a lone letter never looked for.
    assert.deepEqual(alternativesOf('can I carry over five days?', 'five'), ['5']);
  });
});

describe('searching with general synonyms', () => {
  function search(question: string, thesaurus?: Thesaurus | null): { headings: string[]; confidence: number; unknownShare: number; unknown: string[]; corrections: [string, string][] } {
    const root = mkdtempSync(join(tmpdir(), 'hrbot-wordnet-'));
    const dir = join(root, 'knowledge');
    try {
      const db = openDatabase(join(root, 'hrbot.db'));
      try {
        writeHandbook(dir);
        const index = new HandbookIndex({ db, dir, ...(thesaurus === undefined ? {} : { thesaurus }) });
        index.refresh();
        const found = index.retrieve(question, { limit: 3 });
        return { headings: found.hits.map((hit) => hit.heading), confidence: found.confidence, unknownShare: found.unknownShare, unknown: found.unknown, corrections: found.corrections };
      } finally {
        db.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  it('finds the passage through a synonym of a word the handbook never uses', () => {
    const found = search('does the company help with a bicycle?');
    assert.equal(found.headings[0], 'Bike to work');
    assert.ok(!found.unknown.includes('bicycle'));
    assert.equal(search('do you pay towards spectacles?').headings[0], 'Eye tests');
  });

  it('without the dictionary the same question does not find it', () => {
    const found = search('does the company help with a bicycle?', null);
    assert.notEqual(found.headings[0], 'Bike to work');
    assert.ok(found.unknown.includes('bicycle'));
  });

  it('is sure of a passage found through a synonym only when the question’s own words back it', () => {
    // A dictionary's synonym alone may be another sense of the word ("promoted" → "raise", "advance").
    assert.ok(search('what about a bicycle?').confidence < MIN_CONFIDENCE);
    const backed = search('can I lease a bicycle?');
    assert.equal(backed.headings[0], 'Bike to work');
    assert.ok(backed.confidence >= MIN_CONFIDENCE, `confidence ${backed.confidence}`);
  });

  it('finds the passage through a more general word when the handbook has no synonym', () => {
    const question = 'my grandmother died, can I get paid leave?';
    const found = search(question);
    assert.equal(found.headings[0], 'Bereavement');
    assert.ok(found.confidence >= MIN_CONFIDENCE, `confidence ${found.confidence}`);
    assert.equal(found.unknownShare, 0);
    // Without relatives, "grandmother" and "died" are words the handbook never uses.
    const wordnet = new WordNet();
    const withoutRelatives = search(question, { synonyms: (word) => wordnet.synonyms(word), knows: (word) => wordnet.knows(word) });
    assert.ok(withoutRelatives.unknown.includes('grandmother'));
    assert.ok(withoutRelatives.unknownShare > 0.3, `unknown share ${withoutRelatives.unknownShare}`);
    assert.ok(withoutRelatives.confidence < found.confidence);
  });

  it('counts a word known only through a relative as unknown in a passage that does not hold the relative', () => {
    const relatives: Thesaurus = { synonyms: () => [], knows: () => true, related: (word) => (word === 'salmon' ? ['food fish'] : []) };
    const elsewhere = search('is there salmon at the gym?', relatives);
    assert.equal(elsewhere.headings[0], 'Gym membership');
    assert.ok(elsewhere.unknownShare > 0.3, `unknown share ${elsewhere.unknownShare}`);
    const here = search('is there salmon in the canteen?', relatives);
    assert.equal(here.headings[0], 'Canteen');
    assert.equal(here.unknownShare, 0);
  });

  it('does not read an English word as a misspelling of a handbook word', () => {
    // "glosses" is one slip from the handbook's "glasses"; it is a word in its own right.
    assert.deepEqual(search('are glosses paid for?').corrections, []);
    const noWords: Thesaurus = { synonyms: () => [], knows: () => false };
    assert.deepEqual(search('are glosses paid for?', noWords).corrections, [['glosses', 'glasses']]);
  });
});

function writeHandbook(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'benefits.md'),
    [
      '# Benefits',
      '',
      '## Eye tests',
      '',
      'The company pays for an eye test every two years and up to 60 pounds towards glasses you need for screen work. Claim it as an expense.',
      '',
      '## Bike to work',
      '',
      'Through the cycle scheme you can lease a bike and safety equipment up to 1,000 pounds, paid back from your salary over twelve months.',
      '',
      '## Gym membership',
      '',
      'A discounted gym membership is available at partner gyms near each office.',
      '',
      '## Bereavement',
      '',
      'You get up to 5 days of paid leave on the death of a grandparent, and 10 days for a parent.',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'office.md'), ['# Office', '', '## Canteen', '', 'The canteen serves food fish on Fridays.', ''].join('\n'));
}

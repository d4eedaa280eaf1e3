import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { HrbotError } from '../src/errors.ts';
import { HandbookIndex } from '../src/handbook/handbook-index.ts';
import { splitMarkdownSections } from '../src/handbook/markdown-sections.ts';
import { openDatabase } from '../src/store/database.ts';
import type { Db } from '../src/store/database.ts';

const KNOWLEDGE = join(import.meta.dirname, '..', 'knowledge');
const HANDBOOK_FILES = 10;

interface Fixture { root: string; dir: string; dbPath: string; db: Db; index: HandbookIndex; logs: { level: string; msg: string; obj: object }[] }

/** A temp copy of knowledge/ and a temp database, so tests can edit files freely. */
function makeFixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'hrbot-handbook-'));
  const dir = join(root, 'knowledge');
  cpSync(KNOWLEDGE, dir, { recursive: true });
  const dbPath = join(root, 'hrbot.db');
  const db = openDatabase(dbPath);
  const logs: Fixture['logs'] = [];
  const log = {
    info: (obj: object, msg: string) => logs.push({ level: 'info', msg, obj }),
    warn: (obj: object, msg: string) => logs.push({ level: 'warn', msg, obj }),
  };
  return { root, dir, dbPath, db, index: new HandbookIndex({ db, dir, log }), logs };
}

/**
 * Throws when the FTS index is corrupt, or holds a different set of rows than handbook_passages
 * (e.g. a passage deleted without its FTS row).
 */
function assertFtsInSync(db: Db): void {
  db.prepare("INSERT INTO handbook_passage_fts (handbook_passage_fts, rank) VALUES ('integrity-check', 1)").run();
  const passages = db.prepare('SELECT id FROM handbook_passages ORDER BY id').pluck().all();
  const indexed = db.prepare('SELECT rowid FROM handbook_passage_fts ORDER BY rowid').pluck().all();
  assert.deepEqual(indexed, passages, 'one FTS row per passage');
}

function files(hits: { file: string }[]): string[] {
  return hits.map((hit) => hit.file);
}

describe('HandbookIndex', () => {
  let fx: Fixture;
  beforeEach(() => {
    fx = makeFixture();
  });
  afterEach(() => {
    fx.db.close();
    rmSync(fx.root, { recursive: true, force: true });
  });

  test('a question asked again is answered from the result cache, never from a handbook version it no longer matches', () => {
    fx.index.refresh();
    const first = fx.index.retrieve('how many  sabbatical weeks?', { limit: 3 });
    const again = fx.index.retrieve('how many sabbatical weeks?', { limit: 3 });
    assert.deepEqual(again, first, 'the same question, spaced differently, gets the same result');
    again.hits.pop();
    assert.deepEqual(fx.index.retrieve('how many sabbatical weeks?', { limit: 3 }), first, 'a caller changing its copy changes nothing cached');
    assert.ok(!first.hits.some((hit) => hit.text.includes('twelve weeks of sabbatical')), 'not in the handbook yet');
    writeFileSync(join(fx.dir, 'sabbatical.md'), '# Sabbatical\n\n## How long\n\nAfter five years you may take twelve weeks of sabbatical leave, unpaid.\n');
    fx.index.refresh();
    const after = fx.index.retrieve('how many sabbatical weeks?', { limit: 3 });
    assert.ok(after.hits.some((hit) => hit.text.includes('twelve weeks of sabbatical')), 'the new version is searched, not the cached result');
  });

  test('indexes every handbook file into sections with headings, paths, anchors and sources', () => {
    const result = fx.index.refresh();
    assert.equal(result.changed, true);
    assert.equal(result.files, HANDBOOK_FILES);
    assert.ok(result.sections > 50, `expected many sections, got ${result.sections}`);
    assertFtsInSync(fx.db);

    const [hit] = fx.index.search('parental leave eligibility', 1);
    assert.ok(hit);
    assert.equal(hit.file, 'parental-leave.md');
    assert.equal(hit.title, 'Parental Leave');
    assert.equal(hit.heading, 'Eligibility');
    assert.equal(hit.headingPath, 'Parental Leave › Eligibility');
    assert.equal(hit.anchor, 'eligibility');
    assert.match(hit.text, /6 months of continuous service/);
    assert.doesNotMatch(hit.text, /^## /m, 'a section body does not include the next heading');
    assert.equal(typeof hit.id, 'number');
    assert.ok(hit.score > 0);
  });

  test('third-level sections carry the full heading path, and the intro belongs to the title section', () => {
    fx.index.refresh();
    const perDiem = fx.index.search('per diem meals', 1)[0];
    assert.equal(perDiem?.headingPath, 'Expenses and Travel › Travel › Per diem for meals');
    assert.equal(perDiem.anchor, 'per-diem-for-meals');

    const intro = fx.index.search('which business costs Northwind Labs reimburses', 5).find((hit) => hit.heading === 'Expenses and Travel');
    assert.ok(intro, 'the intro paragraph is searchable as the title section');
    assert.equal(intro.headingPath, 'Expenses and Travel');
    assert.match(intro.text, /^This policy explains/);
  });

  test('results are ordered best first and limited', () => {
    fx.index.refresh();
    const hits = fx.index.search('how many vacation days do I get', 5);
    assert.equal(hits.length, 5);
    for (let i = 1; i < hits.length; i += 1) assert.ok(hits[i - 1]!.score >= hits[i]!.score);
    assert.equal(fx.index.search('vacation').length, 3, 'default limit is 3');
    assert.deepEqual(fx.index.search('vacation', 0), []);
  });

  test('skips README.md, _-prefixed and dot files, and indexes subfolders', () => {
    writeFileSync(join(fx.dir, 'README.md'), '# About this folder\n\nZebrafinch notes for authors.\n');
    writeFileSync(join(fx.dir, '_draft-policy.md'), '# Draft\n\nZebrafinch policy under review.\n');
    writeFileSync(join(fx.dir, '.scratch.md'), '# Scratch\n\nZebrafinch scratch.\n');
    writeFileSync(join(fx.dir, 'notes.txt'), 'Zebrafinch plain text.\n');
    mkdirSync(join(fx.dir, 'policies'));
    writeFileSync(join(fx.dir, 'policies', 'travel-safety.md'), '# Travel Safety\n\n## Check-ins\n\nSend a kookaburra check-in to security when you land.\n');

    const result = fx.index.refresh();
    assert.equal(result.files, HANDBOOK_FILES + 1);
    assert.deepEqual(fx.index.search('zebrafinch'), []);
    assert.deepEqual(files(fx.index.search('kookaburra')), ['policies/travel-safety.md']);
  });

  test('an unchanged handbook is not re-indexed, and its version is stable across restarts', () => {
    const first = fx.index.refresh();
    const version = fx.index.version;
    assert.match(version, /^[0-9a-f]{16}$/);

    const again = fx.index.refresh();
    assert.deepEqual(again, { ...first, changed: false });
    assert.equal(fx.index.version, version);

    // A new process: same database, same files.
    const restarted = new HandbookIndex({ db: fx.db, dir: fx.dir });
    assert.equal(restarted.version, version, 'version is known from the database before refresh');
    assert.equal(restarted.refresh().changed, false);
    assert.equal(restarted.version, version);
  });

  test('an edited file is re-indexed: version changes, new text is found, old text is gone', () => {
    fx.index.refresh();
    const before = fx.index.version;
    const infoBefore = fx.logs.filter((entry) => entry.level === 'info').length;
    assert.deepEqual(files(fx.index.search('borrowing ahead', 1)), ['pto.md']);

    const path = join(fx.dir, 'pto.md');
    const edited = readFileSync(path, 'utf8')
      .replace('### Borrowing ahead', '### Advance booking')
      .replace('You may book up to 5 days beyond', 'You may book up to 5 days (the quokka rule) beyond');
    writeFileSync(path, edited);

    const result = fx.index.refresh();
    assert.equal(result.changed, true);
    assert.notEqual(fx.index.version, before);
    assert.equal(result.files, HANDBOOK_FILES);
    assertFtsInSync(fx.db);

    const [hit] = fx.index.search('quokka rule');
    assert.equal(hit?.file, 'pto.md');
    assert.equal(hit.heading, 'Advance booking');
    assert.deepEqual(fx.index.search('borrowing', 10).filter((h) => h.file === 'pto.md'), []);
    assert.equal(fx.db.prepare("SELECT count(*) FROM handbook_passage_fts WHERE handbook_passage_fts MATCH 'borrow'").pluck().get(), 0, 'old text is gone from the FTS index');
    assert.equal(fx.logs.filter((entry) => entry.level === 'info').length, infoBefore + 1, 'a re-index is logged');

    // Putting the file back restores the earlier version: the version is a function of the contents.
    cpSync(join(KNOWLEDGE, 'pto.md'), path);
    fx.index.refresh();
    assert.equal(fx.index.version, before);
  });

  test('a removed file disappears from search, and an added one appears', () => {
    fx.index.refresh();
    const before = fx.index.version;
    assert.ok(files(fx.index.search("do I need a doctor's note", 3)).includes('sick-leave.md'));

    rmSync(join(fx.dir, 'sick-leave.md'));
    writeFileSync(join(fx.dir, 'relocation.md'), '# Relocation\n\nWe help with moving costs.\n\n## Relocation allowance\n\nEmployees moving for a new role get a relocation allowance of $5,000.\n');
    const result = fx.index.refresh();

    assert.equal(result.changed, true);
    assert.equal(result.files, HANDBOOK_FILES);
    assert.notEqual(fx.index.version, before);
    assertFtsInSync(fx.db);
    assert.ok(!files(fx.index.search("do I need a doctor's note medical certificate sick leave", 50)).includes('sick-leave.md'));
    assert.equal(fx.index.search('relocation allowance', 1)[0]?.file, 'relocation.md');
  });

  test('user input cannot inject FTS5 syntax', () => {
    fx.index.refresh();
    const nasty = [
      '"AND OR NOT * ( NEAR',
      'NEAR(vacation pto, 1)',
      'title:vacation',
      '{title heading}: pto',
      'vacation AND',
      'OR',
      '"',
      "'",
      '*',
      '^pto',
      'pto - sick + leave',
      'a"b"c',
      ')))(((',
      '\u0000 vacation \u0000',
      'vacation '.repeat(5_000),
      'x'.repeat(10_000),
      'émoji 🎉 días de vacaciones',
    ];
    for (const query of nasty) {
      assert.doesNotThrow(() => fx.index.search(query, 5), `query ${JSON.stringify(query.slice(0, 40))}`);
    }
    assert.ok(fx.index.search('NEAR(vacation pto, 1)').length > 0, 'operators are searched as plain words');
  });

  test('empty and stop-word-only queries return nothing', () => {
    fx.index.refresh();
    assert.deepEqual(fx.index.search(''), []);
    assert.deepEqual(fx.index.search('   ?!  '), []);
    assert.deepEqual(fx.index.search('how do I, what is the, can I?'), []);
  });

  test('a missing KNOWLEDGE_DIR is a clear handbook_missing error naming the variable and path', () => {
    const missing = join(fx.root, 'no-such-folder');
    const index = new HandbookIndex({ db: fx.db, dir: missing });
    assert.throws(() => index.refresh(), (error: unknown) => {
      assert.ok(error instanceof HrbotError);
      assert.equal(error.code, 'handbook_missing');
      assert.match(error.message, /KNOWLEDGE_DIR/);
      assert.ok(error.message.includes(missing));
      return true;
    });
  });

  test('a KNOWLEDGE_DIR without handbook files is a handbook_missing error too', () => {
    const empty = join(fx.root, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'README.md'), '# Readme\n\nNot indexed.\n');
    assert.throws(() => new HandbookIndex({ db: fx.db, dir: empty }).refresh(), (error: unknown) => {
      assert.ok(error instanceof HrbotError);
      assert.equal(error.code, 'handbook_missing');
      assert.ok(error.message.includes('KNOWLEDGE_DIR') && error.message.includes(empty));
      return true;
    });
  });

  test('holidays are parsed per year, with the nearest year when one is not listed', () => {
    fx.index.refresh();
    assert.deepEqual(fx.index.years(), [2026, 2027]);

    const h2026 = fx.index.holidays(2026);
    assert.ok(h2026.length >= 15);
    assert.ok(h2026.every((holiday) => /^2026-\d{2}-\d{2}$/.test(holiday.date)));
    assert.deepEqual(h2026.find((holiday) => holiday.name === 'Thanksgiving Day'), { date: '2026-11-26', name: 'Thanksgiving Day', offices: 'Austin' });
    assert.deepEqual(h2026.find((holiday) => holiday.name === "St Patrick's Day"), { date: '2026-03-17', name: "St Patrick's Day", offices: 'Dublin' });
    assert.deepEqual(h2026.map((holiday) => holiday.date), [...h2026.map((holiday) => holiday.date)].sort(), 'sorted by date');

    assert.equal(fx.index.holidays(2031)[0]?.date.slice(0, 4), '2027');
    assert.equal(fx.index.holidays(2019)[0]?.date.slice(0, 4), '2026');
    const defaultYear = fx.index.holidays();
    assert.ok(defaultYear.length > 0);
    assert.equal(new Set(defaultYear.map((holiday) => holiday.date.slice(0, 4))).size, 1, 'one year at a time');
  });

  test('holidays are re-parsed when holidays.md changes, and bad rows are reported', () => {
    fx.index.refresh();
    const path = join(fx.dir, 'holidays.md');
    writeFileSync(
      path,
      `${readFileSync(path, 'utf8')}\n## 2028\n\n| Date | Holiday | Offices |\n| --- | --- | --- |\n| 2028-01-03 | New Year's Day (substitute) | Austin, Dublin |\n| 2028-02-30 | Not a real day | Dublin |\n`,
    );
    fx.index.refresh();
    assert.deepEqual(fx.index.years(), [2026, 2027, 2028]);
    assert.deepEqual(fx.index.holidays(2028), [{ date: '2028-01-03', name: "New Year's Day (substitute)", offices: 'Austin, Dublin' }]);
    assert.ok(fx.logs.some((entry) => entry.level === 'warn' && JSON.stringify(entry.obj).includes('holidays.md')));
  });

  test('contacts match topics and keywords with synonyms, best first', () => {
    fx.index.refresh();
    const all = fx.index.contacts();
    assert.equal(all.length, 10);
    assert.deepEqual(Object.keys(all[0]!).sort(), ['channel', 'contact', 'email', 'keywords', 'topic']);
    assert.deepEqual(fx.index.contacts('   '), all);

    assert.equal(fx.index.contacts('payroll')[0]?.email, 'payroll@northwind.example');
    assert.equal(fx.index.contacts('my payslip is wrong')[0]?.topic, 'Payroll');
    assert.equal(fx.index.contacts('vacation')[0]?.topic, 'PTO');
    assert.equal(fx.index.contacts('annual leave')[0]?.topic, 'PTO');
    assert.equal(fx.index.contacts('maternity')[0]?.topic, 'Leave');
    assert.equal(fx.index.contacts('401k')[0]?.topic, 'Benefits');
    assert.equal(fx.index.contacts('who handles harassment complaints')[0]?.email, 'conduct@northwind.example');
    assert.equal(fx.index.contacts('wfh')[0]?.topic, 'Remote work');
    assert.equal(fx.index.contacts('my laptop is broken')[0]?.topic, 'IT equipment');
    assert.deepEqual(fx.index.contacts('xylophone'), []);
  });

  test('contacts are re-read when hr-contacts.md changes', () => {
    fx.index.refresh();
    const path = join(fx.dir, 'hr-contacts.md');
    writeFileSync(path, readFileSync(path, 'utf8').replace('payroll@northwind.example', 'pay@northwind.example'));
    fx.index.refresh();
    assert.equal(fx.index.contacts('payroll')[0]?.email, 'pay@northwind.example');
  });
});

describe('splitMarkdownSections', () => {
  test('splits by heading, keeps the intro with the title, skips empty sections and ignores # in code', () => {
    const markdown = [
      'Preamble before the title.',
      '# Parental Leave',
      '',
      'Intro paragraph.',
      '',
      '## Eligibility',
      '',
      'Six months of service.',
      '',
      '```bash',
      '# not a heading',
      '## nor this',
      '```',
      '',
      '## How to apply',
      '### Step one',
      'Tell your manager.',
      '#### Detail stays in the body',
      'More detail.',
      '## Empty section',
      '',
      '## Eligibility',
      'Duplicate heading text.   ',
    ].join('\r\n');
    const { title, sections } = splitMarkdownSections(markdown, 'Fallback');
    assert.equal(title, 'Parental Leave');
    assert.deepEqual(
      sections.map((section) => [section.level, section.heading, section.headingPath, section.anchor]),
      [
        [1, 'Parental Leave', 'Parental Leave', 'parental-leave'],
        [2, 'Eligibility', 'Parental Leave › Eligibility', 'eligibility'],
        [3, 'Step one', 'Parental Leave › How to apply › Step one', 'step-one'],
        [2, 'Eligibility', 'Parental Leave › Eligibility', 'eligibility-1'],
      ],
    );
    assert.equal(sections[0]?.body, 'Preamble before the title.\n\nIntro paragraph.');
    assert.match(sections[1]!.body, /# not a heading\n## nor this/);
    assert.equal(sections[2]?.body, 'Tell your manager.\n#### Detail stays in the body\nMore detail.');
    assert.equal(sections[3]?.body, 'Duplicate heading text.');
  });

  test('a file without a # title uses the fallback title', () => {
    const { title, sections } = splitMarkdownSections('## Only section\n\nBody.', 'Remote work');
    assert.equal(title, 'Remote work');
    assert.deepEqual(sections.map((section) => section.headingPath), ['Remote work › Only section']);
  });
});

describe('passages', () => {
  let fx: Fixture;
  beforeEach(() => {
    fx = makeFixture();
  });
  afterEach(() => {
    fx.db.close();
    rmSync(fx.root, { recursive: true, force: true });
  });

  /** A section of `paragraphs` filler paragraphs with one distinctive sentence deep inside. */
  function longSection(paragraphs: number, fact: string, at: number): string {
    const filler = (i: number) =>
      `Paragraph ${i} describes the general process in some detail, including who is involved, which forms are used and how long each step usually takes for most requests.`;
    return Array.from({ length: paragraphs }, (_, i) => (i === at ? fact : filler(i))).join('\n\n');
  }

  test('a long section is split into passages, and the one holding the answer is returned with its heading path', () => {
    const fact = 'Employees who relocate to the Lisbon office receive a quokka settling-in payment of 1,800 euros.';
    writeFileSync(join(fx.dir, 'relocation.md'), `# Relocation\n\n## Moving between offices\n\n${longSection(14, fact, 11)}\n`);
    fx.index.refresh();
    assertFtsInSync(fx.db);

    const [hit] = fx.index.search('how much is the quokka settling-in payment?', 1);
    assert.ok(hit);
    assert.equal(hit.file, 'relocation.md');
    assert.equal(hit.headingPath, 'Relocation › Moving between offices');
    assert.equal(hit.anchor, 'moving-between-offices');
    assert.match(hit.text, /quokka settling-in payment of 1,800 euros/);
    assert.doesNotMatch(hit.text, /^Paragraph 0 /, 'not the opening of the section');
    assert.ok((hit.parts ?? 1) > 1 && (hit.part ?? 0) > 0, 'the answer is in a later passage of the section');
    assert.ok(hit.text.split(/\s+/).length <= 260, 'a passage is a few hundred words at most');
    assert.ok(hit.before !== undefined, 'the passage before it in the section comes with it, for context');
  });

  test('a long table is split between rows, each part with the header, and shown as its matching rows', () => {
    const rows = Array.from({ length: 60 }, (_, i) => `| Site ${i} | ${i % 7 === 3 ? 'Wombat Bay' : `Region ${i}`} | ${20 + i} days |`);
    writeFileSync(join(fx.dir, 'site-leave.md'), `# Site Leave\n\n## Leave by site\n\n| Site | Region | Annual leave |\n| --- | --- | --- |\n${rows.join('\n')}\n`);
    fx.index.refresh();
    const passages = fx.db.prepare("SELECT body FROM handbook_passages WHERE path = 'site-leave.md'").pluck().all() as string[];
    assert.ok(passages.length > 1, 'the table is split');
    for (const body of passages) assert.match(body, /^\| Site \| Region \| Annual leave \|\n\| --- \| --- \| --- \|/, 'every part starts with the header');

    const [hit] = fx.index.search('annual leave in Wombat Bay', 1);
    assert.ok(hit?.excerpt);
    assert.match(hit.excerpt, /^\| Site \| Region \| Annual leave \|/);
    const shownRows = hit.excerpt.split('\n').filter((line) => /^\| Site \d+/.test(line));
    assert.ok(shownRows.length > 0 && shownRows.every((line) => line.includes('Wombat Bay')), 'only the matching rows');
    assert.match(hit.excerpt, /more rows? in the handbook/);
  });

  test('misspelt words are read as the nearest word the handbook uses', () => {
    fx.index.refresh();
    const typo = fx.index.retrieve('how mnay vacaton days do I get', { limit: 1 });
    assert.deepEqual(typo.corrections.find(([typed]) => typed === 'vacaton'), ['vacaton', 'vacation']);
    assert.match(typo.corrections.find(([typed]) => typed === 'mnay')?.[1] ?? '', /^(?:many|may)$/, 'read as a stop word, then dropped');
    assert.equal(typo.hits[0]?.headingPath, 'Paid Time Off (Vacation) › How much PTO you get');
    assert.equal(fx.index.search('reimbursment if I lost the reciept', 1)[0]?.heading, 'Receipts');

    // The vocabulary is the indexed handbook's own: a word only a new file uses is corrected too.
    writeFileSync(join(fx.dir, 'gadgets.md'), '# Gadgets\n\n## Zorblax allowance\n\nEach engineer may claim one zorblax per year.\n');
    fx.index.refresh();
    assert.deepEqual(fx.index.retrieve('zorbalx allowance', { limit: 1 }).corrections, [['zorbalx', 'zorblax']]);
    assert.equal(fx.index.search('zorbalx allowance', 1)[0]?.file, 'gadgets.md');
  });

  test('a question the handbook does not cover is flagged, one it covers is not', () => {
    fx.index.refresh();
    const dog = fx.index.retrieve('can I bring my dog to the office?');
    assert.equal(dog.covered, false);
    assert.deepEqual(dog.unknown, ['dog']);
    const sick = fx.index.retrieve('how many sick days do I have?');
    assert.equal(sick.covered, true);
    assert.match(sick.hits[0]?.text ?? '', /10 paid sick days per calendar year/);
  });

  test('the contact table is searched without its keyword column', () => {
    fx.index.refresh();
    const body = fx.db.prepare("SELECT group_concat(body, ' ') FROM handbook_passages WHERE path = 'hr-contacts.md'").pluck().get() as string;
    assert.match(body, /payroll@northwind\.example/);
    assert.doesNotMatch(body, /Keywords|corporate card|lost device/);
    assert.equal(fx.index.contacts('corporate card')[0]?.topic, 'Expenses', 'the keywords still route contact questions');
  });

  test('a re-index touches only the files that changed', () => {
    fx.index.refresh();
    const before = new Map(fx.db.prepare('SELECT path, group_concat(id) FROM handbook_passages GROUP BY path').raw().all() as [string, string][]);
    const path = join(fx.dir, 'benefits.md');
    writeFileSync(path, `${readFileSync(path, 'utf8')}\n## Bicycles\n\nA cycle-to-work loan of up to $1,200 is available.\n`);
    fx.index.refresh();
    const after = new Map(fx.db.prepare('SELECT path, group_concat(id) FROM handbook_passages GROUP BY path').raw().all() as [string, string][]);
    const changed = [...after.keys()].filter((file) => after.get(file) !== before.get(file));
    assert.deepEqual(changed, ['benefits.md']);
    const reindexed = fx.logs.filter((entry) => entry.msg === 'handbook index refreshed').map((entry) => (entry.obj as { reindexed: string[] }).reindexed);
    assert.deepEqual(reindexed.at(-1), ['benefits.md']);
    assertFtsInSync(fx.db);
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { HandbookIndex } from '../src/handbook/handbook-index.ts';
import type { SearchHit } from '../src/handbook/handbook-index.ts';
import { openDatabase } from '../src/store/database.ts';
import type { Db } from '../src/store/database.ts';
import { decodeHtml, htmlToMarkdown } from '../src/handbook/convert-html.ts';
import { ConverterThread, DocumentConversionError } from '../src/handbook/convert-thread.ts';
import { BEREAVEMENT_LEAVE, EQUIPMENT_POLICY, TRAVEL_INSURANCE, makeDocx, makeHtml, makePdf, makeScannedPdf, writeSampleDocuments } from './support/make-documents.ts';
import type { DocBlock } from './support/make-documents.ts';
import { KNOWLEDGE_DIR, ask, dm, startTempBot, tempDir } from './support/temp-bot.ts';
import type { TempBot } from './support/temp-bot.ts';

const MARKDOWN_FILES = 10;

interface Fixture { root: { path: string; remove(): void }; dir: string; db: Db; index: HandbookIndex; logs: { level: string; msg: string; obj: Record<string, unknown> }[] }

/** The sample handbook plus a PDF, a Word file and an HTML page, in a temp folder with a temp database. */
async function makeFixture(): Promise<Fixture> {
  const root = tempDir('hrbot-formats-');
  const dir = join(root.path, 'knowledge');
  cpSync(KNOWLEDGE_DIR, dir, { recursive: true });
  await writeSampleDocuments(dir);
  const db = openDatabase(join(root.path, 'hrbot.db'));
  const logs: Fixture['logs'] = [];
  const log = {
    info: (obj: object, msg: string) => logs.push({ level: 'info', msg, obj: obj as Record<string, unknown> }),
    warn: (obj: object, msg: string) => logs.push({ level: 'warn', msg, obj: obj as Record<string, unknown> }),
  };
  return { root, dir, db, index: new HandbookIndex({ db, dir, log }), logs };
}

/** A file's sections as indexed: its passages grouped back by section, in order. */
function sectionsOf(db: Db, path: string): { id: number; heading: string; heading_path: string; body: string }[] {
  return db
    .prepare(
      `SELECT min(id) AS id, heading, heading_path, group_concat(body, char(10, 10)) AS body
       FROM (SELECT * FROM handbook_passages WHERE path = ? ORDER BY ord) GROUP BY section ORDER BY section`,
    )
    .all(path) as never;
}

function hitIn(hits: SearchHit[], file: string): SearchHit {
  const hit = hits.find((candidate) => candidate.file === file);
  assert.ok(hit, `expected a hit in ${file}, got ${hits.map((h) => `${h.file}#${h.anchor}`).join(', ')}`);
  return hit;
}

describe('handbook formats: PDF, Word and HTML files are indexed like markdown', () => {
  let fx: Fixture;
  before(async () => {
    fx = await makeFixture();
    fx.index.refresh();
  });
  after(() => {
    fx.db.close();
    fx.root.remove();
  });

  test('every format is indexed, and the files count them', () => {
    const result = fx.index.refresh();
    assert.equal(result.files, MARKDOWN_FILES + 3);
    assert.deepEqual(result.unreadable, []);
  });

  test('a PDF: headings from font sizes become sections with heading paths, the title is the largest text', () => {
    const sections = sectionsOf(fx.db, 'travel-insurance.pdf');
    assert.deepEqual(
      sections.map((section) => section.heading_path),
      [
        'Travel Insurance Policy',
        'Travel Insurance Policy › Who is covered',
        'Travel Insurance Policy › Who is covered › Personal trips added to business travel',
        'Travel Insurance Policy › What the insurer pays',
        'Travel Insurance Policy › Emergencies abroad',
      ],
    );
    // Passage ranking may put the subsection under "Who is covered" first; both are that section's.
    const hits = fx.index.search('who is covered by travel insurance', 3);
    assert.equal(hits[0]?.file, 'travel-insurance.pdf');
    const hit = hits.find((candidate) => candidate.heading === 'Who is covered');
    assert.ok(hit, `"Who is covered" in the top 3: ${hits.map((h) => h.heading).join(', ')}`);
    assert.equal(hit.title, 'Travel Insurance Policy');
    assert.match(hit.text, /^Every employee on a business trip approved in Navan is covered from the moment they leave home until they return\./, 'wrapped lines are joined into one paragraph');
    assert.doesNotMatch(sections.map((section) => section.body).join('\n'), /Page 1 of|internal/, 'the running footer is not text of any section');
  });

  test('a PDF: the table keeps its rows and columns, and a row is found by search', () => {
    const hit = hitIn(fx.index.search('lost luggage excess', 3), 'travel-insurance.pdf');
    assert.equal(hit.heading, 'What the insurer pays');
    assert.match(hit.text, /^\| Cover \| Limit per trip \| Excess \|$/m);
    assert.match(hit.text, /^\| Lost or delayed luggage \| 1,500 EUR \| 50 EUR \|$/m);
    assert.match(hit.text, /^\| Trip cancellation \| 5,000 EUR \| 100 EUR \|$/m);
    assert.match(hit.text, /^\| Personal belongings left behind in a taxi or hotel \| 500 EUR \| 50 EUR \|$/m, 'a cell wrapped onto a second line stays in its row');
    // A bold line at body size is a heading below the smallest sized one: kept, in its section's text.
    assert.match(hit.text, /^#### Making a claim$/m);
  });

  test('a PDF: a table drawn with borders keeps a cell that wraps over several lines in its row', () => {
    const hit = hitIn(fx.index.search('what to have ready when you call the assistance line', 3), 'travel-insurance.pdf');
    assert.equal(hit.heading, 'Emergencies abroad');
    assert.match(hit.text, /^\| Region \| Assistance line \| What to have ready when you call \|$/m);
    assert.match(hit.text, /^\| Europe \| \+353 1 555 0199 \| Your policy number NW-4471 and the address of the place where you are staying \|$/m);
    assert.match(hit.text, /^\| Americas \| \+1 512 555 0188 \| Your policy number and a photo of the traveller passport page \|$/m);
  });

  test('a Word file: heading styles become sections, a bold one-line paragraph too, and the table is kept', () => {
    const sections = sectionsOf(fx.db, 'bereavement-leave.docx');
    assert.deepEqual(
      sections.map((section) => section.heading_path),
      [
        'Bereavement Leave',
        'Bereavement Leave › How much leave you get',
        'Bereavement Leave › How much leave you get › Pregnancy loss',
        'Bereavement Leave › Asking for the leave',
        'Bereavement Leave › Asking for the leave › Attending a funeral',
      ],
    );
    const hit = hitIn(fx.index.search('grandparent compassionate leave days', 3), 'bereavement-leave.docx');
    assert.equal(hit.headingPath, 'Bereavement Leave › How much leave you get');
    assert.match(hit.text, /^\| Relationship \| Paid days \| Notes \|$/m);
    assert.match(hit.text, /^\| Grandparent, aunt, uncle or in-law \| 3 days \| Manager can approve more \|$/m);
  });

  test('an HTML page: headings and the table are kept; navigation, scripts and styles are not indexed', () => {
    const sections = sectionsOf(fx.db, 'equipment.html');
    assert.deepEqual(
      sections.map((section) => section.heading_path),
      ['Equipment Policy', 'Equipment Policy › Your laptop', 'Equipment Policy › Returning equipment'],
    );
    const hit = hitIn(fx.index.search('Pelican Pro 16 laptop engineering', 3), 'equipment.html');
    assert.equal(hit.heading, 'Your laptop');
    assert.match(hit.text, /^\| Engineering \| Pelican Pro 16 with 64 GB \| Two 27 inch \|$/m);
    assert.match(sectionsOf(fx.db, 'equipment.html')[2]?.body ?? '', /^- Return your laptop to IT on your last day\.$/m);
    assert.deepEqual(fx.index.search('wombat'), []);
    assert.deepEqual(fx.index.search('quokkatrack'), []);
  });
});

describe('handbook formats: unreadable files and re-indexing', () => {
  let fx: Fixture;
  beforeEach(async () => {
    fx = await makeFixture();
  });
  afterEach(() => {
    fx.db.close();
    fx.root.remove();
  });

  test('a corrupt PDF and a corrupt Word file are reported by name and skipped, the rest is indexed', async () => {
    mkdirSync(join(fx.dir, 'policies'));
    writeFileSync(join(fx.dir, 'policies', 'broken.pdf'), randomBytes(4096));
    writeFileSync(join(fx.dir, 'broken.docx'), randomBytes(4096));
    writeFileSync(join(fx.dir, 'scanned.pdf'), await makeScannedPdf());

    const result = fx.index.refresh();
    assert.equal(result.files, MARKDOWN_FILES + 3, 'every readable file is indexed');
    assert.deepEqual(result.unreadable.map((file) => file.path), ['broken.docx', 'policies/broken.pdf', 'scanned.pdf']);
    const reasons = Object.fromEntries(result.unreadable.map((file) => [file.path, file.reason]));
    assert.match(reasons['policies/broken.pdf'] ?? '', /not a readable PDF/);
    assert.match(reasons['broken.docx'] ?? '', /not a Word \.docx file/);
    assert.match(reasons['scanned.pdf'] ?? '', /no text/);

    const skipped = fx.logs.filter((entry) => entry.msg === 'handbook file skipped');
    assert.deepEqual(skipped.map((entry) => [entry.level, entry.obj['file']]), [
      ['warn', 'broken.docx'],
      ['warn', 'policies/broken.pdf'],
      ['warn', 'scanned.pdf'],
    ]);
    assert.equal(fx.index.search('lost luggage excess', 1)[0]?.file, 'travel-insurance.pdf');

    // Unchanged broken files are not converted or logged again, but are still counted.
    const again = fx.index.refresh();
    assert.equal(again.changed, false);
    assert.equal(again.unreadable.length, 3);
    assert.equal(fx.logs.filter((entry) => entry.msg === 'handbook file skipped').length, 3);

    // Fixed, the file is indexed.
    writeFileSync(join(fx.dir, 'broken.docx'), makeDocx([{ kind: 'title', text: 'Fixed' }, { kind: 'paragraph', text: 'The quetzal clause now reads fine.' }]));
    const fixed = fx.index.refresh();
    assert.equal(fixed.files, MARKDOWN_FILES + 4);
    assert.deepEqual(fixed.unreadable.map((file) => file.path), ['policies/broken.pdf', 'scanned.pdf']);
    assert.equal(fx.index.search('quetzal clause', 1)[0]?.file, 'broken.docx');
  });

  test('a file that becomes unreadable leaves the index, and Word lock files are never read', () => {
    fx.index.refresh();
    assert.equal(fx.index.search('grandparent compassionate leave', 1)[0]?.file, 'bereavement-leave.docx');
    writeFileSync(join(fx.dir, 'bereavement-leave.docx'), randomBytes(2048));
    writeFileSync(join(fx.dir, '~$reavement-leave.docx'), randomBytes(162));

    const result = fx.index.refresh();
    assert.deepEqual(result.unreadable.map((file) => file.path), ['bereavement-leave.docx']);
    assert.equal(result.files, MARKDOWN_FILES + 2);
    assert.equal(fx.index.search('grandparent compassionate leave', 5).filter((hit) => hit.file === 'bereavement-leave.docx').length, 0);
  });

  test('changing one PDF re-indexes only that file; the version covers the converted files', async () => {
    const second: DocBlock[] = [{ kind: 'title', text: 'Relocation' }, { kind: 'heading', level: 1, text: 'Moving costs' }, { kind: 'paragraph', text: 'Northwind Labs pays removal costs up to 8,000 EUR for the narwhal move.' }];
    writeFileSync(join(fx.dir, 'relocation.pdf'), await makePdf(second));
    const original = readFileSync(join(fx.dir, 'travel-insurance.pdf'));
    fx.index.refresh();
    const version = fx.index.version;
    const before = new Map(['relocation.pdf', 'bereavement-leave.docx', 'equipment.html', 'pto.md'].map((path) => [path, sectionsOf(fx.db, path).map((s) => s.id)]));
    const refreshed = fx.logs.filter((entry) => entry.msg === 'handbook index refreshed').length;

    const changed = TRAVEL_INSURANCE.map((block) =>
      block.kind === 'paragraph' && block.text.startsWith('Call the Albatross') ? { ...block, text: 'Call the Albatross assistance line at +353 1 555 0100, the new pangolin number.' } : block,
    );
    writeFileSync(join(fx.dir, 'travel-insurance.pdf'), await makePdf(changed));
    const result = fx.index.refresh();
    assert.equal(result.changed, true);
    assert.notEqual(fx.index.version, version, 'the handbook version changes with a converted file');

    const logged = fx.logs.filter((entry) => entry.msg === 'handbook index refreshed');
    assert.equal(logged.length, refreshed + 1);
    assert.deepEqual(logged[logged.length - 1]?.obj['reindexed'], ['travel-insurance.pdf']);
    for (const [path, ids] of before) assert.deepEqual(sectionsOf(fx.db, path).map((s) => s.id), ids, `${path} was not re-indexed`);
    assert.equal(fx.index.search('pangolin number', 1)[0]?.heading, 'Emergencies abroad');
    assert.doesNotMatch(sectionsOf(fx.db, 'travel-insurance.pdf').map((s) => s.body).join('\n'), /day or night/);

    writeFileSync(join(fx.dir, 'travel-insurance.pdf'), original);
    fx.index.refresh();
    assert.equal(fx.index.version, version, 'the same bytes give the same version');
  });
});

describe('handbook formats through the engine', () => {
  let bot: TempBot;
  let knowledge: { path: string; remove(): void };
  before(async () => {
    knowledge = tempDir('hrbot-formats-knowledge-');
    cpSync(KNOWLEDGE_DIR, knowledge.path, { recursive: true });
    await writeSampleDocuments(knowledge.path);
    writeFileSync(join(knowledge.path, 'damaged.pdf'), randomBytes(1024));
    bot = startTempBot({ KNOWLEDGE_DIR: knowledge.path });
  });
  after(() => {
    bot.close();
    knowledge.remove();
  });

  test('start-up counts the skipped file in "handbook indexed" and names it in its own line', () => {
    const indexed = bot.logs.find((line) => line['msg'] === 'handbook indexed');
    assert.equal(indexed?.['files'], MARKDOWN_FILES + 3);
    assert.equal(indexed['unreadable'], 1);
    const skipped = bot.logs.filter((line) => line['msg'] === 'handbook file skipped');
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]?.['file'], 'damaged.pdf');
    assert.match(String(skipped[0]?.['reason']), /not a readable PDF/);
  });

  test('/hr policy answers from a PDF with its heading and file', async () => {
    const reply = await ask(bot.core, dm('/hr policy travel insurance emergency abroad'));
    assert.equal(reply.kind, 'lookup');
    assert.equal(reply.sources[0]?.file, 'travel-insurance.pdf');
    assert.equal(reply.sources[0]?.headingPath, 'Travel Insurance Policy › Emergencies abroad');
    assert.match(reply.text, /Travel Insurance Policy › Emergencies abroad/);
    assert.match(reply.text, /\+353 1 555 0199/);
  });

  test('a question with AI off is answered from a Word file with its heading and file', async () => {
    const reply = await ask(bot.core, dm('how many paid days off do I get when a grandparent or an in-law dies?'));
    assert.equal(reply.kind, 'excerpts');
    assert.equal(reply.sources[0]?.file, 'bereavement-leave.docx');
    assert.equal(reply.sources[0]?.heading, 'How much leave you get');
    assert.match(reply.text, /Bereavement Leave › How much leave you get/);
    assert.match(reply.text, /Grandparent, aunt, uncle or in-law \| 3 days/);
  });

  test('a question with AI off is answered from a PDF table', async () => {
    const reply = await ask(bot.core, dm('what is the excess for lost luggage on a business trip?'));
    assert.equal(reply.kind, 'excerpts');
    assert.equal(reply.sources[0]?.file, 'travel-insurance.pdf');
    assert.match(reply.text, /Lost or delayed luggage \| 1,500 EUR \| 50 EUR/);
  });
});

describe('htmlToMarkdown', () => {
  test('headings are ranked under a lone title, gaps closed; without one the <title> is the title', () => {
    assert.equal(htmlToMarkdown('<h1>Leave</h1><p>a</p><h3>Sick</h3><p>b</p><h4>Notes</h4><p>c</p>'), '# Leave\n\na\n\n## Sick\n\nb\n\n### Notes\n\nc');
    assert.equal(htmlToMarkdown('<title>Leave | Intranet</title><h1>Sick</h1><p>a</p><h1>Vacation</h1><p>b</p>'), '# Leave | Intranet\n\n## Sick\n\na\n\n## Vacation\n\nb');
    assert.equal(htmlToMarkdown('<h2>Sick</h2><p>a</p><h2>Vacation</h2><p>b</p>'), '## Sick\n\na\n\n## Vacation\n\nb', 'no title at all: the file name will be');
  });

  test('tables: header from the first row, merged cells keep columns, pipes escaped, nested tables flattened', () => {
    const html = `<table><tr><td><p>Plan</p></td><td>Cost</td><td>Notes</td></tr>
      <tr><td colspan="2">Dental | vision</td><td><table><tr><td>inner</td><td>cells</td></tr></table></td></tr>
      <tr><td></td><td></td><td></td></tr></table>`;
    assert.equal(htmlToMarkdown(html), '| Plan | Cost | Notes |\n| --- | --- | --- |\n| Dental \\| vision |  | inner cells |');
  });

  test('text that would read as markdown structure is escaped; code, lists and links are kept', () => {
    const html = `<p># of days is 10</p><pre>const a = 1;\n\`\`\`</pre><ol start="3"><li>Third<ul><li>nested</li></ul></li><li><p>Fourth</p></li></ol>
      <p>Mail <a href="mailto:hr@example.com">hr@example.com</a> or <a href="https://hr.example.com/x">the portal</a>, <b>not</b> <a href="/local">here</a>.</p>`;
    assert.equal(
      htmlToMarkdown(html),
      '\\# of days is 10\n\n````\nconst a = 1;\n```\n````\n\n3. Third\n  - nested\n4. Fourth\n\nMail hr@example.com or [the portal](https://hr.example.com/x), **not** here.',
    );
  });

  test('a page in another character set is decoded as it declares', () => {
    const bytes = Buffer.from('<meta charset="windows-1252"><h1>Caf\xe9 benefits</h1><p>\x80 20 per day</p>', 'latin1');
    assert.equal(htmlToMarkdown(decodeHtml(bytes)), '# Café benefits\n\n€ 20 per day');
  });
});

describe('the converter thread', () => {
  test('a file that takes too long is reported and the thread replaced; the next file converts', async () => {
    const pdf = await makePdf(TRAVEL_INSURANCE);
    const hasty = new ConverterThread({ fileTimeoutMs: 1 });
    try {
      assert.throws(() => hasty.convert('pdf', pdf), (error: unknown) => error instanceof DocumentConversionError && /took longer than/.test(error.reason));
    } finally {
      hasty.stop();
    }
    const patient = new ConverterThread();
    try {
      assert.match(patient.convert('pdf', pdf), /^# Travel Insurance Policy$/m);
      assert.match(patient.convert('html', Buffer.from(makeHtml(EQUIPMENT_POLICY))), /^## Your laptop$/m);
      assert.throws(() => patient.convert('docx', Buffer.from('not a zip')), /not a Word \.docx file/);
      assert.match(patient.convert('docx', makeDocx(BEREAVEMENT_LEAVE)), /^### Pregnancy loss$/m, 'a failed file does not stop the thread');
    } finally {
      patient.stop();
    }
  });
});

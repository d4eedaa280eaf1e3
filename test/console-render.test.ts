/* eslint-disable no-control-regex -- ANSI escape codes are what these tests look for */
// The terminal chat's markdown rendering: word wrap at a width, tables in columns, styles only where asked.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { renderMarkdownBlocks, renderText } from '../adapters/console/render-text.ts';
import type { Reply } from '../src/message.ts';
import { KNOWLEDGE_DIR } from './support/temp-bot.ts';

const reply = (text: string, sources: Reply['sources'] = []): Reply => ({ kind: 'answer', text, sources, visibility: 'public' });
const plain = (text: string, width: number, lead?: string) => renderText(reply(text), { color: false, width, ...(lead === undefined ? {} : { lead }) }).split('\n');
const ANSI = /\u001b\[/;

/** The markdown tables of a handbook file, each as its lines. */
function tablesOf(file: string): string[][] {
  const tables: string[][] = [];
  let current: string[] = [];
  for (const line of readFileSync(join(KNOWLEDGE_DIR, file), 'utf8').split('\n')) {
    if (line.startsWith('|')) current.push(line);
    else if (current.length > 0) {
      tables.push(current);
      current = [];
    }
  }
  if (current.length > 0) tables.push(current);
  return tables;
}

/** Column start offsets of a rendered table row: where each run of non-space text after a gap of 2+ spaces begins. */
function columnStarts(line: string): number[] {
  const starts = [0];
  for (const match of line.matchAll(/ {2,}(?=\S)/g)) starts.push(match.index + match[0].length);
  return starts;
}

const PARAGRAPH =
  'Part-time employees accrue PTO pro rata to their contracted hours: someone working three days a week on the 20-day tier accrues 12 days a year, and carries over at most five.';

describe('terminal rendering: word wrap', () => {
  for (const width of [20, 33, 60, 80]) {
    it(`wraps a paragraph at ${width} columns without breaking a word`, () => {
      const lines = plain(PARAGRAPH, width);
      assert.ok(lines.length > 1, 'long enough to wrap');
      for (const line of lines) assert.ok(line.length <= width, `${JSON.stringify(line)} is wider than ${width}`);
      assert.deepEqual(lines.join(' ').split(' '), PARAGRAPH.split(' '), 'every word whole, in order');
      // Greedy: no line could have taken the next word.
      lines.slice(0, -1).forEach((line, index) => {
        const next = lines[index + 1]!.split(' ')[0]!;
        assert.ok(line.length + 1 + next.length > width, `${JSON.stringify(line)} had room for ${next}`);
      });
    });
  }

  it('breaks a word only when it is longer than the line', () => {
    const url = 'https://handbook.northwind.example/policies/paid-time-off/carry-over-and-payout';
    const lines = plain(`See ${url} for details.`, 30);
    for (const line of lines) assert.ok(line.length <= 30, line);
    assert.deepEqual(lines, ['See', 'https://handbook.northwind.exa', 'mple/policies/paid-time-off/ca', 'rry-over-and-payout for', 'details.']);
  });

  it('hangs list items: continuation lines are indented under the text, nested items deeper', () => {
    const lines = plain(`- ${PARAGRAPH}\n  - nested item that is long enough to wrap onto a second line`, 40);
    assert.match(lines[0]!, /^- Part-time/);
    const nested = lines.findIndex((line) => line.startsWith('  - nested'));
    assert.ok(nested > 1, lines.join('\n'));
    for (const line of lines.slice(1, nested)) assert.match(line, /^ {2}\S/);
    for (const line of lines.slice(nested + 1)) assert.match(line, /^ {4}\S/);
  });

  it('puts the lead on the first line and wraps the rest to the full width', () => {
    const lines = plain(PARAGRAPH, 40, 'hrbot › ');
    assert.match(lines[0]!, /^hrbot › Part-time/);
    for (const line of lines) assert.ok(line.length <= 40, line);
    assert.doesNotMatch(lines[1]!, /^ /);
  });

  it('keeps a line break in the reply as a line break, and blank lines between paragraphs', () => {
    assert.deepEqual(plain('**HR contacts**\nfirst line\n\n\nafter a gap', 40), ['HR contacts', 'first line', '', 'after a gap']);
  });
});

describe('terminal rendering: tables', () => {
  it("aligns the handbook's PTO entitlement table in columns", () => {
    const [table] = tablesOf('pto.md');
    assert.ok(table !== undefined);
    const lines = plain(`PTO by tenure:\n\n${table.join('\n')}`, 80);
    assert.deepEqual(lines.slice(0, 2), ['PTO by tenure:', '']);
    const rows = lines.slice(2);
    assert.equal(rows.length, 2 + 3, 'header, rule, three rows');
    assert.match(rows[0]!, /^Tenure +US employees +Ireland employees$/);
    assert.match(rows[1]!, /^-+ {2}-+ {2}-+$/);
    const starts = columnStarts(rows[0]!);
    assert.equal(starts.length, 3);
    for (const row of rows.slice(1)) assert.deepEqual(columnStarts(row), starts, `${row} is not aligned with the header`);
    assert.ok(!rows.some((row) => row.includes('|')), 'no raw pipes');
  });

  it('aligns every holiday table in holidays.md, and at a narrow width wraps inside the columns', () => {
    const tables = tablesOf('holidays.md');
    assert.equal(tables.length, 2);
    for (const table of tables) {
      const wide = plain(table.join('\n'), 100);
      assert.equal(wide.length, table.length, 'one line per row when it fits');
      const starts = columnStarts(wide[0]!);
      for (const row of wide) assert.deepEqual(columnStarts(row), starts, row);
      const narrow = plain(table.join('\n'), 44);
      for (const line of narrow) assert.ok(line.length <= 44, `${JSON.stringify(line)} is wider than 44`);
      assert.ok(narrow.length > table.length, 'cells wrapped onto more lines');
      // Every word of every cell is still there, whole.
      const words = new Set(narrow.join(' ').split(/\s+/));
      for (const word of table.slice(2).flatMap((row) => row.split('|')).join(' ').split(/\s+/).filter((w) => w !== '')) assert.ok(words.has(word), word);
    }
  });

  it('honours right and centre alignment from the separator row', () => {
    const lines = plain('| Destination | Daily per diem |\n| --- | ---: |\n| United States | $75 |\n| Ireland and the UK | €60 |', 80);
    assert.equal(lines[2]!.length, lines[0]!.length, 'right-aligned cells end where the header ends');
    assert.ok(lines[2]!.endsWith('$75') && lines[3]!.endsWith('€60'));
  });

  it('shows a table too wide for the terminal as header: value records', () => {
    const wide = '| Contact | Email |\n| --- | --- |\n| Conduct and Speak Up | conduct-and-speak-up-team@northwind.example |';
    const lines = plain(wide, 24);
    for (const line of lines) assert.ok(line.length <= 24, line);
    assert.equal(lines[0], '- Contact: Conduct and');
    assert.ok(lines.some((line) => line.startsWith('  Email:')), lines.join('\n'));
  });

  it('shows lines that start with a bar but have no separator row as text', () => {
    assert.deepEqual(plain('| not a table |', 40), ['| not a table |']);
  });
});

describe('terminal rendering: styles', () => {
  const text = '**Bold** and _italic_ and *also italic* and `/hr help` and a [link](https://handbook.example/pto) and snake_case_name';

  it('writes no ANSI code at all without colour, and drops the markdown markers', () => {
    const out = renderText(reply(text), { color: false, width: 200 });
    assert.doesNotMatch(out, ANSI);
    assert.equal(out, 'Bold and italic and also italic and /hr help and a link (https://handbook.example/pto) and snake_case_name');
  });

  it('styles bold, italic, code and link with ANSI on a terminal, and reads the same without them', () => {
    const out = renderText(reply(text), { color: true, width: 200 });
    assert.match(out, /\u001b\[1mBold\u001b\[0m/);
    assert.match(out, /\u001b\[3mitalic\u001b\[0m/);
    assert.match(out, /\u001b\[3malso italic\u001b\[0m/);
    assert.match(out, /\u001b\[36m\/hr help\u001b\[0m/);
    assert.match(out, /\u001b\[4mhttps:\/\/handbook\.example\/pto\u001b\[0m/);
    assert.equal(stripVTControlCharacters(out), renderText(reply(text), { color: false, width: 200 }));
  });

  it('never passes control characters from a reply to the terminal', () => {
    const hostile = 'Hello \u001b]0;pwned\u0007\u001b[2J\u009b31mworld\r\n';
    for (const color of [false, true]) {
      const out = renderText(reply(hostile), { color, width: 80 });
      assert.doesNotMatch(out, /[\u0007\u009b\r]|\u001b\]|\u001b\[2J/, JSON.stringify(out));
      assert.equal(stripVTControlCharacters(out), 'Hello ]0;pwned[2J31mworld');
    }
  });

  it('shows backslash escapes and code verbatim', () => {
    assert.deepEqual(plain('\\*not italic\\* and `**not bold**`', 80), ['*not italic* and **not bold**']);
  });

  it('lists the sources under the answer, dimmed on a terminal, wrapped with a hanging indent', () => {
    const source = { file: 'pto.md', title: 'Paid Time Off', heading: 'Payout', headingPath: 'Paid Time Off (Vacation) › Carry-over and unused days › Payout when you leave', anchor: 'payout-when-you-leave' };
    const lines = renderText(reply('Yes.', [source]), { color: false, width: 60 }).split('\n');
    assert.deepEqual(lines, ['Yes.', '', 'Sources:', '  - Paid Time Off (Vacation) › Carry-over and unused days ›', '    Payout when you leave (pto.md#payout-when-you-leave)']);
    assert.match(renderText(reply('Yes.', [source]), { color: true, width: 60 }), /\u001b\[2mSources:/);
  });
});

describe('terminal rendering: streaming', () => {
  it('renders every block but the last of any prefix exactly as the whole text does', () => {
    const [table] = tablesOf('pto.md');
    const text = `You get **20 days** a year [1]:\n\n${table!.join('\n')}\n\n- Part-time: _pro rata_.\n- Ask \`/hr contact pto\`.\n\n\`\`\`\ncode block\n\`\`\`\nDone.`;
    const options = { color: true, width: 50, lead: 'hrbot › ' };
    const whole = renderMarkdownBlocks(text, options);
    for (let cut = 1; cut <= text.length; cut++) {
      const partial = renderMarkdownBlocks(text.slice(0, cut), options);
      assert.deepEqual(partial.slice(0, -1), whole.slice(0, partial.length - 1), `prefix of ${cut} characters`);
    }
  });
});

/** Parsing the two handbook files that are data rather than prose: the holiday calendar and the HR contact list. */

/** One company holiday. */
export interface Holiday {
  /** ISO date, YYYY-MM-DD. */
  date: string;
  name: string;
  /** Which offices observe it, as written in the handbook (e.g. "Austin, Dublin"). */
  offices: string;
}

/** One row of the HR contact table. */
export interface HrContact {
  topic: string;
  contact: string;
  email: string;
  channel: string;
  keywords: string;
}

/** A parsed table and the rows that could not be used, so the caller can log them. */
export interface ParsedTable<T> {
  rows: T[];
  problems: string[];
}

/** File names (relative to KNOWLEDGE_DIR) whose tables are parsed into structured data. */
export const HOLIDAYS_FILE = 'holidays.md';
export const CONTACTS_FILE = 'hr-contacts.md';

interface RawTable { header: string[]; rows: { line: number; cells: string[] }[] }

/**
 * Holidays from every table that has "Date" and "Holiday" columns (column order is free; "Offices"
 * is optional). Rows whose date is not a real YYYY-MM-DD date are reported, not guessed at.
 * Sorted by date.
 */
export function parseHolidays(markdown: string): ParsedTable<Holiday> {
  const rows: Holiday[] = [];
  const problems: string[] = [];
  for (const table of markdownTables(markdown)) {
    const date = columnIndex(table.header, 'date');
    const name = columnIndex(table.header, 'holiday', 'name');
    const offices = columnIndex(table.header, 'offices', 'office');
    if (date === undefined || name === undefined) continue;
    for (const row of table.rows) {
      const value = row.cells[date] ?? '';
      const holidayName = row.cells[name] ?? '';
      if (!isIsoDate(value) || holidayName === '') {
        problems.push(`line ${row.line}: expected a YYYY-MM-DD date and a holiday name`);
        continue;
      }
      rows.push({ date: value, name: holidayName, offices: offices === undefined ? '' : (row.cells[offices] ?? '') });
    }
  }
  rows.sort((a, b) => a.date.localeCompare(b.date));
  return { rows, problems };
}

/** Contacts from every table that has "Topic" and "Email" columns, in file order. */
export function parseContacts(markdown: string): ParsedTable<HrContact> {
  const rows: HrContact[] = [];
  const problems: string[] = [];
  for (const table of markdownTables(markdown)) {
    const topic = columnIndex(table.header, 'topic');
    const email = columnIndex(table.header, 'email');
    if (topic === undefined || email === undefined) continue;
    const contact = columnIndex(table.header, 'contact');
    const channel = columnIndex(table.header, 'channel');
    const keywords = columnIndex(table.header, 'keywords');
    const cell = (cells: string[], index: number | undefined): string => (index === undefined ? '' : (cells[index] ?? ''));
    for (const row of table.rows) {
      const entry: HrContact = {
        topic: cell(row.cells, topic),
        contact: cell(row.cells, contact),
        email: cell(row.cells, email),
        channel: cell(row.cells, channel),
        keywords: cell(row.cells, keywords),
      };
      if (entry.topic === '' || (entry.email === '' && entry.channel === '')) {
        problems.push(`line ${row.line}: expected a topic and an email or channel`);
        continue;
      }
      rows.push(entry);
    }
  }
  return { rows, problems };
}

/**
 * The markdown with the named columns taken out of every pipe table (case-insensitive header
 * match). The contact table's "Keywords" column is matching data for the bot, not text for people:
 * searched as prose it would make the contact table match half the questions asked.
 */
export function withoutTableColumns(markdown: string, names: readonly string[]): string {
  const lines = markdown.split(/\r\n|\r|\n/);
  const wanted = new Set(names.map((name) => name.toLowerCase()));
  const out: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    const next = lines[i + 1]?.trim();
    if (!(line.includes('|') && next !== undefined && SEPARATOR_ROW.test(next))) {
      out.push(line);
      continue;
    }
    const header = splitRow(line.trim());
    const drop = new Set(header.map((cell, index) => (wanted.has(cell.toLowerCase()) ? index : -1)).filter((index) => index >= 0));
    const keep = (cells: string[]): string => `| ${cells.filter((_cell, index) => !drop.has(index)).map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
    out.push(keep(header), keep(splitRow(next)));
    i += 2;
    while (i < lines.length && lines[i]!.includes('|') && lines[i]!.trim() !== '') {
      out.push(keep(splitRow(lines[i]!.trim())));
      i += 1;
    }
    i -= 1;
  }
  return out.join('\n');
}

/** Whether `value` is YYYY-MM-DD and names a day that exists (no 2026-02-30). */
function isIsoDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === value;
}

function columnIndex(header: string[], ...names: string[]): number | undefined {
  const index = header.findIndex((cell) => names.includes(cell.toLowerCase()));
  return index === -1 ? undefined : index;
}

const SEPARATOR_ROW = /^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

/** GitHub-style pipe tables: a header row, a `---` separator row, then rows until a non-table line. */
function markdownTables(markdown: string): RawTable[] {
  const lines = markdown.split(/\r\n|\r|\n/);
  const tables: RawTable[] = [];
  let current: RawTable | undefined;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!.trim();
    if (current !== undefined) {
      if (line.includes('|')) {
        current.rows.push({ line: i + 1, cells: splitRow(line) });
        continue;
      }
      current = undefined;
    }
    const next = lines[i + 1]?.trim();
    if (line.includes('|') && next !== undefined && SEPARATOR_ROW.test(next)) {
      current = { header: splitRow(line), rows: [] };
      tables.push(current);
      i += 1;
    }
  }
  return tables;
}

/** Cells of a table row, trimmed, honouring `\|` as a literal pipe. */
function splitRow(line: string): string[] {
  const inner = line.replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll('\\|', '|'));
}

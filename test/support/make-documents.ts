/**
 * Handbook documents in the formats employers really keep (PDF, Word, HTML), generated here so no
 * test depends on a downloaded file. Each writer lays out the same small block model the way its
 * format's usual tools do: Word paragraph styles and a real table, PDF text in two fonts and
 * several sizes with table columns at fixed positions and a footer on every page, HTML elements.
 *
 * Run `npx tsx test/support/make-documents.ts <folder>` to write the sample documents to a folder
 * and open them by hand.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { PDFDocument, StandardFonts, grayscale } from 'pdf-lib';
import type { PDFFont, PDFPage } from 'pdf-lib';

/** One block of a generated document. */
export type DocBlock =
  | { kind: 'title'; text: string }
  | { kind: 'heading'; level: 1 | 2 | 3; text: string }
  | { kind: 'paragraph'; text: string }
  /** A short paragraph in bold, the way many Word authors make a heading without a heading style. */
  | { kind: 'bold-line'; text: string }
  /** A table; `ruled` draws its borders (as word processors do) and wraps long cells in the PDF. */
  | { kind: 'table'; rows: string[][]; ruled?: boolean }
  | { kind: 'list'; items: string[] };

// ---------------------------------------------------------------------------------------------
// Word (.docx): the OOXML parts Word itself writes for styled paragraphs and tables.

const W_NS = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';
const R_NS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function run(text: string, bold = false): string {
  return `<w:r>${bold ? '<w:rPr><w:b/></w:rPr>' : ''}<w:t xml:space="preserve">${xmlEscape(text)}</w:t></w:r>`;
}

function paragraph(text: string, style?: string, bold = false): string {
  return `<w:p>${style === undefined ? '' : `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>`}${run(text, bold)}</w:p>`;
}

function docxBlock(block: DocBlock): string {
  switch (block.kind) {
    case 'title':
      return paragraph(block.text, 'Title');
    case 'heading':
      return paragraph(block.text, `Heading${block.level}`);
    case 'paragraph':
      return paragraph(block.text);
    case 'bold-line':
      return paragraph(block.text, undefined, true);
    case 'list':
      return block.items.map((item) => paragraph(`\u2022 ${item}`)).join('');
    case 'table': {
      const rows = block.rows.map((row) => `<w:tr>${row.map((cell) => `<w:tc><w:tcPr><w:tcW w:w="3000" w:type="dxa"/></w:tcPr>${paragraph(cell)}</w:tc>`).join('')}</w:tr>`);
      const grid = block.rows[0]?.map(() => '<w:gridCol w:w="3000"/>').join('') ?? '';
      return `<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="0" w:type="auto"/></w:tblPr><w:tblGrid>${grid}</w:tblGrid>${rows.join('')}</w:tbl>`;
    }
  }
}

function styleXml(id: string, name: string, size: number): string {
  return `<w:style w:type="paragraph" w:styleId="${id}"><w:name w:val="${name}"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:rPr><w:b/><w:sz w:val="${size}"/></w:rPr></w:style>`;
}

/** A Word document of the blocks: Title and Heading 1–3 paragraph styles, tables as Word tables. */
export function makeDocx(blocks: readonly DocBlock[]): Uint8Array {
  const body = blocks.map(docxBlock).join('');
  const files = {
    '[Content_Types].xml': `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>`,
    '_rels/.rels': `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${R_NS}/officeDocument" Target="word/document.xml"/></Relationships>`,
    'word/_rels/document.xml.rels': `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${R_NS}/styles" Target="styles.xml"/></Relationships>`,
    'word/styles.xml': `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="${W_NS}"><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style>${styleXml('Title', 'Title', 56)}${styleXml('Heading1', 'heading 1', 32)}${styleXml('Heading2', 'heading 2', 26)}${styleXml('Heading3', 'heading 3', 24)}<w:style w:type="table" w:styleId="TableGrid"><w:name w:val="Table Grid"/></w:style></w:styles>`,
    'word/document.xml': `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="${W_NS}" xmlns:r="${R_NS}"><w:body>${body}<w:sectPr><w:pgSz w:w="11906" w:h="16838"/></w:sectPr></w:body></w:document>`,
  };
  // A fixed time stamp, so the same blocks always give the same bytes.
  return zipSync(Object.fromEntries(Object.entries(files).map(([name, xml]) => [name, strToU8(xml)])), { mtime: new Date('2026-01-01T00:00:00Z') });
}

// ---------------------------------------------------------------------------------------------
// PDF: what a word processor's "Save as PDF" gives: positioned text, headings only in size and
// weight, tables as text at column positions, a running footer.

/** Sizes (points) of the generated PDF's text. */
export const PDF_SIZES = { title: 20, 1: 16, 2: 13, 3: 11.5, body: 10 } as const;
const PAGE = { width: 595, height: 842, margin: 56 };

/** The same blocks always give the same bytes (pdf-lib stamps the time of creation otherwise). */
function fixDates(doc: PDFDocument): void {
  const date = new Date('2026-01-01T00:00:00Z');
  doc.setCreationDate(date);
  doc.setModificationDate(date);
}

interface PdfCursor { doc: PDFDocument; page: PDFPage; y: number }

function wrapText(text: string, font: PDFFont, size: number, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/)) {
    const candidate = current === '' ? word : `${current} ${word}`;
    if (current !== '' && font.widthOfTextAtSize(candidate, size) > width) {
      lines.push(current);
      current = word;
    } else current = candidate;
  }
  if (current !== '') lines.push(current);
  return lines;
}

function ensureRoom(cursor: PdfCursor, needed: number): void {
  if (cursor.y - needed >= PAGE.margin) return;
  cursor.page = cursor.doc.addPage([PAGE.width, PAGE.height]);
  cursor.y = PAGE.height - PAGE.margin;
}

function drawLines(cursor: PdfCursor, text: string, font: PDFFont, size: number, spaceAfter: number): void {
  for (const line of wrapText(text, font, size, PAGE.width - 2 * PAGE.margin)) {
    ensureRoom(cursor, size * 1.4);
    cursor.y -= size * 1.25;
    cursor.page.drawText(line, { x: PAGE.margin, y: cursor.y, size, font });
  }
  cursor.y -= spaceAfter;
}

/** A table: cells wrap inside their column, text at the top of each cell, the header row in bold, lines around every cell when `ruled`. */
function drawTable(cursor: PdfCursor, rows: readonly string[][], columnWidth: number, regular: PDFFont, bold: PDFFont, ruled: boolean): void {
  const size = PDF_SIZES.body;
  const padding = 4;
  const lineHeight = size * 1.2;
  const black = grayscale(0);
  const right = PAGE.margin + (rows[0]?.length ?? 1) * columnWidth;
  cursor.y -= 4;
  rows.forEach((row, index) => {
    const font = index === 0 ? bold : regular;
    const cells = row.map((cell) => wrapText(cell, font, size, columnWidth - 2 * padding));
    const height = Math.max(...cells.map((lines) => lines.length)) * lineHeight + 2 * padding;
    ensureRoom(cursor, height);
    const topY = cursor.y;
    if (ruled) cursor.page.drawLine({ start: { x: PAGE.margin, y: topY }, end: { x: right, y: topY }, thickness: 0.5, color: black });
    cells.forEach((lines, column) => {
      lines.forEach((line, n) => {
        cursor.page.drawText(line, { x: PAGE.margin + column * columnWidth + padding, y: topY - padding - size - n * lineHeight, size, font });
      });
    });
    cursor.y -= height;
    if (!ruled) return;
    cursor.page.drawLine({ start: { x: PAGE.margin, y: cursor.y }, end: { x: right, y: cursor.y }, thickness: 0.5, color: black });
    for (let column = 0; column <= row.length; column += 1) {
      const x = PAGE.margin + column * columnWidth;
      cursor.page.drawLine({ start: { x, y: topY }, end: { x, y: cursor.y }, thickness: 0.5, color: black });
    }
  });
  cursor.y -= 8;
}

/**
 * A PDF of the blocks: Helvetica-Bold headings at {@link PDF_SIZES}, Helvetica body text wrapped to
 * the page, tables as cells at fixed column positions (header row in bold), `footer` at the foot of
 * every page with the page number.
 */
export async function makePdf(blocks: readonly DocBlock[], footer = 'Northwind Labs - internal'): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  fixDates(doc);
  const regular = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  const cursor: PdfCursor = { doc, page: doc.addPage([PAGE.width, PAGE.height]), y: PAGE.height - PAGE.margin };
  const body = PDF_SIZES.body;

  for (const block of blocks) {
    switch (block.kind) {
      case 'title':
        drawLines(cursor, block.text, bold, PDF_SIZES.title, 10);
        break;
      case 'heading':
        ensureRoom(cursor, 60);
        cursor.y -= 6;
        drawLines(cursor, block.text, bold, PDF_SIZES[block.level], 4);
        break;
      case 'paragraph':
        drawLines(cursor, block.text, regular, body, 6);
        break;
      case 'bold-line':
        drawLines(cursor, block.text, bold, body, 4);
        break;
      case 'list':
        for (const item of block.items) drawLines(cursor, `\u2022 ${item}`.replace('\u2022', '-'), regular, body, 2);
        cursor.y -= 4;
        break;
      case 'table': {
        const columnWidth = (PAGE.width - 2 * PAGE.margin) / (block.rows[0]?.length ?? 1);
        drawTable(cursor, block.rows, columnWidth, regular, bold, block.ruled === true);
        break;
      }
    }
  }

  const pages = doc.getPages();
  pages.forEach((page, index) => {
    page.drawText(`${footer}    Page ${index + 1} of ${pages.length}`, { x: PAGE.margin, y: 30, size: 8, font: regular });
  });
  return doc.save();
}

/** A PDF as a scanner makes it: pages of pictures (here, grey boxes), no text at all. */
export async function makeScannedPdf(pages = 2): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  fixDates(doc);
  for (let i = 0; i < pages; i += 1) {
    const page = doc.addPage([PAGE.width, PAGE.height]);
    for (let line = 0; line < 30; line += 1) page.drawRectangle({ x: PAGE.margin, y: 700 - line * 20, width: 300 + (line % 5) * 30, height: 8, color: grayscale(0.6) });
  }
  return doc.save();
}

// ---------------------------------------------------------------------------------------------
// HTML: a page as an intranet or a wiki export has it, with navigation and a script around it.

function htmlEscape(text: string): string {
  return xmlEscape(text);
}

/** An HTML page of the blocks, inside a page shell with a `<title>`, a nav bar and a script. */
export function makeHtml(blocks: readonly DocBlock[], pageTitle = 'Handbook page'): string {
  const parts = blocks.map((block) => {
    switch (block.kind) {
      case 'title':
        return `<h1>${htmlEscape(block.text)}</h1>`;
      case 'heading':
        return `<h${block.level + 1}>${htmlEscape(block.text)}</h${block.level + 1}>`;
      case 'paragraph':
        return `<p>${htmlEscape(block.text)}</p>`;
      case 'bold-line':
        return `<p><strong>${htmlEscape(block.text)}</strong></p>`;
      case 'list':
        return `<ul>${block.items.map((item) => `<li>${htmlEscape(item)}</li>`).join('')}</ul>`;
      case 'table': {
        const [header = [], ...rows] = block.rows;
        return `<table>\n<thead><tr>${header.map((cell) => `<th>${htmlEscape(cell)}</th>`).join('')}</tr></thead>\n<tbody>${rows
          .map((row) => `<tr>${row.map((cell) => `<td>${htmlEscape(cell)}</td>`).join('')}</tr>`)
          .join('\n')}</tbody>\n</table>`;
      }
    }
  });
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${htmlEscape(pageTitle)}</title>
<style>body { font-family: sans-serif; } .wombat { color: red; }</style><script>window.analytics = "quokkatrack";</script></head>
<body><nav><a href="/">Intranet home</a> | <a href="/wombat">Wombat portal</a></nav>
<main>
${parts.join('\n')}
</main>
</body></html>
`;
}

// ---------------------------------------------------------------------------------------------
// The sample documents the tests index: each format on its own topic, with words found nowhere
// else in the sample handbook, so a search can tell which file answered.

/** A travel insurance policy, kept as a PDF: headings by size, a bold-only heading, a cover table. */
export const TRAVEL_INSURANCE: readonly DocBlock[] = [
  { kind: 'title', text: 'Travel Insurance Policy' },
  { kind: 'paragraph', text: 'Northwind Labs insures every employee travelling on company business. This policy explains what the insurer covers, how to make a claim and who to call in an emergency abroad.' },
  { kind: 'heading', level: 1, text: 'Who is covered' },
  { kind: 'paragraph', text: 'Every employee on a business trip approved in Navan is covered from the moment they leave home until they return. Family members travelling with you are not covered by the company policy.' },
  { kind: 'heading', level: 2, text: 'Personal trips added to business travel' },
  { kind: 'paragraph', text: 'If you add personal days to a business trip, the insurance covers at most 3 extra days, as long as they are booked together with the business trip.' },
  { kind: 'heading', level: 1, text: 'What the insurer pays' },
  { kind: 'paragraph', text: 'The limits below apply per trip. Keep every receipt: the insurer reimburses only what you can show.' },
  {
    kind: 'table',
    rows: [
      ['Cover', 'Limit per trip', 'Excess'],
      ['Emergency medical treatment', '2,000,000 EUR', 'None'],
      ['Lost or delayed luggage', '1,500 EUR', '50 EUR'],
      ['Trip cancellation', '5,000 EUR', '100 EUR'],
      ['Personal belongings left behind in a taxi or hotel', '500 EUR', '50 EUR'],
    ],
  },
  { kind: 'bold-line', text: 'Making a claim' },
  { kind: 'paragraph', text: 'Send the claim form with your receipts to the insurer Albatross Assurance within 30 days of your return, and copy travel@northwind.example.' },
  { kind: 'heading', level: 1, text: 'Emergencies abroad' },
  { kind: 'paragraph', text: 'Call the Albatross assistance line at +353 1 555 0199, day or night. They arrange hospital admission, repatriation and emergency flights, and pay the hospital directly.' },
  {
    kind: 'table',
    ruled: true,
    rows: [
      ['Region', 'Assistance line', 'What to have ready when you call'],
      ['Europe', '+353 1 555 0199', 'Your policy number NW-4471 and the address of the place where you are staying'],
      ['Americas', '+1 512 555 0188', 'Your policy number and a photo of the traveller passport page'],
    ],
  },
];

/** A bereavement leave policy, kept as a Word file with heading styles and a table. */
export const BEREAVEMENT_LEAVE: readonly DocBlock[] = [
  { kind: 'title', text: 'Bereavement Leave' },
  { kind: 'paragraph', text: 'When someone close to you dies, take the time you need. This policy sets out the paid compassionate leave Northwind Labs gives and how to ask for more.' },
  { kind: 'heading', level: 1, text: 'How much leave you get' },
  { kind: 'paragraph', text: 'Compassionate leave is paid at your full salary and does not reduce your PTO balance.' },
  {
    kind: 'table',
    rows: [
      ['Relationship', 'Paid days', 'Notes'],
      ['Spouse, partner or child', '10 days', 'Can be split over 3 months'],
      ['Parent or sibling', '5 days', 'Add 2 days for travel abroad'],
      ['Grandparent, aunt, uncle or in-law', '3 days', 'Manager can approve more'],
    ],
  },
  { kind: 'heading', level: 2, text: 'Pregnancy loss' },
  { kind: 'paragraph', text: 'After a miscarriage or stillbirth, both parents get 10 paid days of compassionate leave, without needing to say why to their team.' },
  { kind: 'heading', level: 1, text: 'Asking for the leave' },
  { kind: 'paragraph', text: 'Tell your manager as soon as you can, by phone if that is easier, and record the days in Workday under Time Off as compassionate leave. No certificate is needed.' },
  { kind: 'bold-line', text: 'Attending a funeral' },
  { kind: 'paragraph', text: 'For the funeral of a friend or colleague you may take 1 paid day; tell your manager in advance.' },
];

/** An equipment policy, kept as an intranet HTML page. */
export const EQUIPMENT_POLICY: readonly DocBlock[] = [
  { kind: 'title', text: 'Equipment Policy' },
  { kind: 'paragraph', text: 'Northwind Labs gives you the equipment you need to do your job well, wherever you work.' },
  { kind: 'heading', level: 1, text: 'Your laptop' },
  { kind: 'paragraph', text: 'Every employee gets a laptop on the first day; engineers choose between the models in the table. Laptops are replaced every 3 years.' },
  {
    kind: 'table',
    rows: [
      ['Role', 'Laptop', 'Monitor'],
      ['Engineering', 'Pelican Pro 16 with 64 GB', 'Two 27 inch'],
      ['Design', 'Pelican Pro 14 with 32 GB', 'One 32 inch'],
      ['Everyone else', 'Pelican Air 13', 'One 27 inch'],
    ],
  },
  { kind: 'heading', level: 1, text: 'Returning equipment' },
  { kind: 'list', items: ['Return your laptop to IT on your last day.', 'Keep the charger and the box.', 'Wipe nothing yourself: IT erases the disk.'] },
];

/** Write the sample documents to `dir`: travel-insurance.pdf, bereavement-leave.docx, equipment.html. */
export async function writeSampleDocuments(dir: string): Promise<{ pdf: string; docx: string; html: string }> {
  mkdirSync(dir, { recursive: true });
  const names = { pdf: 'travel-insurance.pdf', docx: 'bereavement-leave.docx', html: 'equipment.html' };
  writeFileSync(join(dir, names.pdf), await makePdf(TRAVEL_INSURANCE));
  writeFileSync(join(dir, names.docx), makeDocx(BEREAVEMENT_LEAVE));
  writeFileSync(join(dir, names.html), makeHtml(EQUIPMENT_POLICY, 'Equipment Policy - Intranet'));
  return names;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.argv[2];
  if (target === undefined) {
    process.stderr.write('usage: tsx test/support/make-documents.ts <folder>\n');
    process.exitCode = 2;
  } else {
    const names = await writeSampleDocuments(target);
    process.stdout.write(`wrote ${Object.values(names).join(', ')} to ${target}\n`);
  }
}

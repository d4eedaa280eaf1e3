/**
 * `npx tsx test/bench/document-conversion.ts [files per format]`: how long PDF, Word and HTML files
 * take to index. Builds a handbook of generated documents (default 100 of each, 3–4 pages per PDF)
 * next to the sample markdown, indexes it from scratch, then re-indexes after one PDF changed, and
 * converts one long PDF alone. Prints the figures; asserts nothing.
 */
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HandbookIndex } from '../../src/handbook/handbook-index.ts';
import { openDatabase } from '../../src/store/database.ts';
import { BEREAVEMENT_LEAVE, EQUIPMENT_POLICY, TRAVEL_INSURANCE, makeDocx, makeHtml, makePdf } from '../support/make-documents.ts';
import type { DocBlock } from '../support/make-documents.ts';
import { KNOWLEDGE_DIR, tempDir } from '../support/temp-bot.ts';

const perFormat = Number(process.argv[2] ?? '100');
if (!(perFormat >= 1 && perFormat <= 2_000)) throw new Error('files per format: 1 to 2000');

/** A longer document: the sample blocks repeated under numbered chapters, each with a distinct word. */
function chapters(blocks: readonly DocBlock[], count: number, seed: number): DocBlock[] {
  const out: DocBlock[] = [{ kind: 'title', text: `Policy ${seed}` }];
  for (let chapter = 1; chapter <= count; chapter += 1) {
    out.push({ kind: 'heading', level: 1, text: `Chapter ${chapter} of policy ${seed}` });
    for (const block of blocks) {
      if (block.kind === 'title') continue;
      out.push(block.kind === 'paragraph' ? { ...block, text: `${block.text} Reference word w${seed}x${chapter}.` } : block);
    }
  }
  return out;
}

const dir = tempDir('hrbot-bench-formats-');
try {
  const knowledge = join(dir.path, 'knowledge');
  cpSync(KNOWLEDGE_DIR, knowledge, { recursive: true });
  let bytes = 0;
  for (let i = 0; i < perFormat; i += 1) {
    const pdf = await makePdf(chapters(TRAVEL_INSURANCE, 3, i));
    const docx = makeDocx(chapters(BEREAVEMENT_LEAVE, 3, i));
    const html = makeHtml(chapters(EQUIPMENT_POLICY, 3, i));
    writeFileSync(join(knowledge, `policy-${i}.pdf`), pdf);
    writeFileSync(join(knowledge, `policy-${i}.docx`), docx);
    writeFileSync(join(knowledge, `policy-${i}.html`), html);
    bytes += pdf.length + docx.length + html.length;
  }

  const db = openDatabase(join(dir.path, 'hrbot.db'));
  const index = new HandbookIndex({ db, dir: knowledge });
  let started = performance.now();
  const first = index.refresh();
  const fullMs = performance.now() - started;

  writeFileSync(join(knowledge, 'policy-0.pdf'), await makePdf(chapters(TRAVEL_INSURANCE, 3, 99_999)));
  started = performance.now();
  const second = index.refresh();
  const oneMs = performance.now() - started;

  started = performance.now();
  const third = index.refresh();
  const noneMs = performance.now() - started;

  const long = await makePdf(chapters(TRAVEL_INSURANCE, 40, 7));
  writeFileSync(join(knowledge, 'long.pdf'), long);
  started = performance.now();
  index.refresh();
  const longMs = performance.now() - started;
  db.close();

  const converted = perFormat * 3;
  const lines = [
    `document-conversion: ${converted} converted files (${perFormat} each of PDF, Word, HTML; ${(bytes / 1024 / 1024).toFixed(1)} MB) + ${first.files - converted} markdown`,
    `  index from scratch: ${(fullMs / 1000).toFixed(2)} s (${(fullMs / converted).toFixed(1)} ms per converted file), ${first.sections} sections, ${first.unreadable.length} unreadable`,
    `  one PDF changed:    ${oneMs.toFixed(0)} ms (changed: ${second.changed})`,
    `  nothing changed:    ${noneMs.toFixed(0)} ms (changed: ${third.changed})`,
    `  one ${(long.length / 1024).toFixed(0)} KB PDF of about 40 pages added: ${longMs.toFixed(0)} ms`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  dir.remove();
}

/**
 * `npm run eval [-- --verbose] [--embeddings fake|use]`: hit rates of the held-out question sets (see retrieval-eval.ts).
 * With `--embeddings`, questions are retrieved by hybrid search (words fused with the embedder's
 * vectors, as with AI on); see embedders.ts for what each embedder is and is not evidence of.
 * top-1/top-3: the answering passage is the first / among the first three search results;
 * excerpt shown: it is in the reply with AI off; context given: it is in what the model is handed with AI on.
 */
import { join } from 'node:path';
import { openEmbedder } from './embedders.ts';
import type { OpenEmbedder } from './embedders.ts';
import { evaluateSensitive, evaluateSet, loadSensitive, loadSet, rate } from './retrieval-eval.ts';
import type { EvalFigures } from './retrieval-eval.ts';

const HERE = import.meta.dirname;
const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');

const sets = [
  loadSet('sample', join(HERE, 'questions-sample.json')),
  loadSet('large', join(HERE, 'questions-large.json')),
  // Employees' words that differ from the handbook's, written before any change was measured on it.
  loadSet('paraphrase', join(HERE, 'questions-paraphrase.json')),
];
const flag = process.argv.indexOf('--embeddings');
const embedderName = flag === -1 ? undefined : process.argv[flag + 1];
const open: OpenEmbedder | undefined = embedderName === undefined ? undefined : await openEmbedder(embedderName);
const rows: EvalFigures[] = [];
try {
  for (const set of sets) rows.push(await evaluateSet(set, open?.embedder));
} finally {
  await open?.close();
}
process.stdout.write(`retrieval: ${open === undefined ? 'words (bm25)' : `hybrid, words + ${open.embedder.name} embeddings (reciprocal rank fusion)`}\n\n`);

const header = ['set', 'files', 'covered', 'top-1', 'top-3', 'excerpt shown', 'context given', 'not covered: said so (AI off)', 'not covered: no passages (AI on)', 'false "not covered"', 'ms'];
const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
for (const row of rows) {
  lines.push(
    `| ${[
      row.name,
      row.files,
      row.covered,
      rate(row.top1, row.searched),
      rate(row.top3, row.searched),
      rate(row.excerptShown, row.covered),
      rate(row.contextGiven, row.covered),
      rate(row.abstainedOff, row.uncovered),
      rate(row.abstainedOn, row.uncovered),
      row.falseAbstentions,
      row.ms,
    ].join(' | ')} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);

const sensitive = await evaluateSensitive(loadSensitive(join(HERE, 'questions-sensitive.json')), 'knowledge');
process.stdout.write(
  `\nsensitive questions in a Slack channel: answered privately ${rate(sensitive.detected, sensitive.sensitive)}; ordinary questions answered privately ${rate(sensitive.falseAlarms, sensitive.ordinary)}\n`,
);

if (verbose) {
  for (const row of rows) {
    process.stdout.write(`\n${row.name}: ${row.misses.length} misses\n`);
    for (const miss of row.misses) process.stdout.write(`  - ${miss}\n`);
  }
  for (const miss of sensitive.misses) process.stdout.write(`  - ${miss}\n`);
}

/**
 * The runtime check, imported first by adapters/main.ts (and before the tests by `npm test`): on a
 * Node.js older than 22 better-sqlite3 13 crashes the process with a segmentation fault, so an old
 * Node gets one plain line and exit code 1 before anything native is loaded. Nothing is imported
 * here, so this module is evaluated before every other module of the process.
 */

/** The oldest Node.js major version hrbot runs on (better-sqlite3 13 needs 22; 22 and 24 are the LTS lines). */
export const MIN_NODE_MAJOR = 22;

/** What is wrong with running on Node.js `version` (as in `process.versions.node`), or undefined when it is fine. */
export function nodeVersionProblem(version: string, executable: string): string | undefined {
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return (
    `Node.js ${version} (${executable}) is too old: hrbot needs Node.js ${MIN_NODE_MAJOR} or later (the LTS lines 22 and 24). ` +
    'Run it with `npm start` or `npm test`, which use the Node.js 22 that `npm ci` puts in node_modules/.bin, ' +
    'or install Node.js 22 or 24.'
  );
}

const problem = nodeVersionProblem(process.versions.node, process.execPath);
if (problem !== undefined) {
  process.stderr.write(`hrbot: ${problem}\n`);
  process.exit(1);
}

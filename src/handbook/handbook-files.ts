import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { HandbookError, HandbookMissingError } from './handbook-errors.ts';

/** One markdown file of the handbook, read and hashed. */
export interface HandbookFile {
  /** Path relative to KNOWLEDGE_DIR with `/` separators, e.g. `parental-leave.md`. */
  path: string;
  /** sha256 of the file's bytes, hex. */
  sha256: string;
  /** The file decoded as UTF-8. */
  content: string;
}

/**
 * Whether a file or folder name is left out of the handbook. Everything `.md` in KNOWLEDGE_DIR is
 * published to employees, so authors need a way to keep notes next to it: names starting with `_`
 * (drafts, templates) or `.` (editor and VCS files), and README.md (about the folder, not HR policy).
 */
export function isExcludedName(name: string): boolean {
  return name.startsWith('_') || name.startsWith('.') || name.toLowerCase() === 'readme.md';
}

/**
 * Read and hash every handbook `.md` file under `dir` (subfolders included), sorted by path.
 * Throws {@link HandbookMissingError} when `dir` is missing, not a folder, or has no handbook files.
 */
export function readHandbookFiles(dir: string): HandbookFile[] {
  const root = resolve(dir);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch (error) {
    throw new HandbookMissingError(root, 'does not exist or cannot be read; set it to the folder holding the HR handbook (.md files)', { cause: error });
  }
  if (!isDirectory) throw new HandbookMissingError(root, 'is not a folder; set it to the folder holding the HR handbook (.md files)');

  const files = listMarkdown(root, '').map((path): HandbookFile => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(root, path));
    } catch (error) {
      throw new HandbookError('handbook_read_failed', `Could not read handbook file ${path} in KNOWLEDGE_DIR (${root})`, { cause: error });
    }
    return { path, sha256: createHash('sha256').update(bytes).digest('hex'), content: bytes.toString('utf8') };
  });
  if (files.length === 0) throw new HandbookMissingError(root, 'contains no handbook .md files');
  // Code-unit order, not locale order, so the handbook version does not depend on the machine's locale.
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function listMarkdown(root: string, relative: string, visited = new Set<string>()): string[] {
  const folder = join(root, relative);
  // A symlinked folder pointing back up the tree would otherwise be walked forever.
  const real = realpathSync(folder);
  if (visited.has(real)) return [];
  visited.add(real);

  const found: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (isExcludedName(entry.name)) continue;
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
    // Follow symlinks: a deployment may link the handbook in from a shared checkout.
    const kind = entry.isSymbolicLink() ? statTarget(root, path) : entry;
    if (kind.isDirectory()) found.push(...listMarkdown(root, path, visited));
    else if (kind.isFile() && entry.name.toLowerCase().endsWith('.md')) found.push(path);
  }
  return found;
}

function statTarget(root: string, path: string): Stats {
  try {
    return statSync(join(root, path));
  } catch (error) {
    throw new HandbookError('handbook_read_failed', `Broken link ${path} in KNOWLEDGE_DIR (${root})`, { cause: error });
  }
}

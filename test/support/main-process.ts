import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = new URL('../../', import.meta.url).pathname;
/** adapters/main.ts, what `npm start` runs. */
export const MAIN = new URL('../../adapters/main.ts', import.meta.url).pathname;
// An absolute loader URL, so the process can start in any working directory (as `npm start` in a checkout would).
const TSX = import.meta.resolve('tsx');

/**
 * The production command, run from the project folder: what the Dockerfile's CMD and the systemd
 * unit's ExecStart run (test/deploy-files.test.ts holds both to it). Plain Node.js on the build in dist/.
 */
export const PRODUCTION_COMMAND: readonly string[] = ['node', 'dist/adapters/main.js'];

let built: Promise<void> | undefined;

/** Build dist/ as `npm run build` does (tsc -p tsconfig.build.json), once per test process. */
export function buildProduction(): Promise<void> {
  built ??= promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT,
    timeout: 120_000,
  }).then(() => undefined);
  return built;
}

/** The outcome of a process that ran to its end. */
export interface MainResult {
  code: number | null;
  /** The signal that ended the process, when one did (a crash, or a SIGKILL). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options shared by {@link runMain} and {@link startMain}. */
export interface MainOptions {
  /** The whole environment of the process (PATH is added). */
  env: Record<string, string>;
  /** Working directory; default the system temp folder, so a developer's own `.env` in the checkout is never read. */
  cwd?: string;
  /** Run the production command on dist/ (see {@link buildProduction}) instead of adapters/main.ts through tsx. */
  production?: boolean;
  /** Run as this user and group (a test running as root uses them to meet file permissions as a service user would). */
  uid?: number;
  gid?: number;
  /** The process is killed (SIGTERM) after this long, so a stuck test cannot leave it behind. Default 60 s. */
  maxRunMs?: number;
}

function spawnMain(options: MainOptions, stdin: 'pipe' | 'ignore'): ChildProcess {
  const args = options.production === true ? PRODUCTION_COMMAND.slice(1).map((arg) => join(ROOT, arg)) : ['--import', TSX, MAIN];
  return spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    cwd: options.cwd ?? tmpdir(),
    stdio: [stdin, 'pipe', 'pipe'],
    timeout: options.maxRunMs ?? 60_000,
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
}

/** Run the bot with `input` on standard input, until it exits. */
export function runMain(input: string, options: MainOptions): Promise<MainResult> {
  return new Promise((resolve, reject) => {
    const child = spawnMain(options, 'pipe');
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin!.end(input);
  });
}

/** A bot process serving HTTP. */
export interface RunningMain {
  /** The process id (for /proc/<pid>/stat and io). */
  pid: number;
  /** The port from the start-up line. */
  port: number;
  /** The parsed start-up line ('hrbot listening'). */
  started: Record<string, unknown>;
  stdout(): string;
  stderr(): string;
  /** Send a signal (while the process runs) without waiting. */
  signal(name: NodeJS.Signals): void;
  /** Wait for the exit. */
  exited(): Promise<MainResult>;
  /** SIGTERM (or `signal`), then wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<MainResult>;
  /** SIGKILL (a crash: nothing drains), then wait for the exit. */
  kill(): Promise<MainResult>;
}

/** Every JSON line of a process' output, parsed; other lines come back as `{ raw }`. */
export function outputLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        // Not a log line: kept as-is so a test can say which line escaped the logger.
        return { raw: line };
      }
    });
}

/**
 * Start the bot in server mode and wait (at most `timeoutMs`) for its 'hrbot listening' line.
 * Rejects with the process output when it exits first or never says it is listening.
 */
export function startMain(options: MainOptions, timeoutMs = 30_000): Promise<RunningMain> {
  return new Promise((resolve, reject) => {
    const child = spawnMain(options, 'ignore');
    let stdout = '';
    let stderr = '';
    let settled = false;
    const exited = new Promise<MainResult>((done) => child.on('close', (code, signal) => done({ code, signal, stdout, stderr })));
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${why}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`no 'hrbot listening' line within ${timeoutMs} ms`), timeoutMs);
    child.on('error', (error) => fail(error.message));
    child.on('close', (code) => fail(`exited with ${code} before listening`));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (settled) return;
      const started = outputLines(stdout).find((line) => line.msg === 'hrbot listening');
      if (started === undefined) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        port: Number(started.port),
        started,
        stdout: () => stdout,
        stderr: () => stderr,
        signal: (name) => {
          if (child.exitCode === null && child.signalCode === null) child.kill(name);
        },
        exited: async () => {
          const result = await exited;
          return { ...result, stdout, stderr };
        },
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          const result = await exited;
          return { ...result, stdout, stderr };
        },
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          const result = await exited;
          return { ...result, stdout, stderr };
        },
      });
    });
  });
}

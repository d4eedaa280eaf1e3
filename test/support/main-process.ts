import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';

/** adapters/main.ts, what `npm start` runs. */
export const MAIN = new URL('../../adapters/main.ts', import.meta.url).pathname;
// An absolute loader URL, so the process can start in any working directory (as `npm start` in a checkout would).
const TSX = import.meta.resolve('tsx');

/** The outcome of a process that ran to its end. */
export interface MainResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options shared by {@link runMain} and {@link startMain}. */
export interface MainOptions {
  /** The whole environment of the process (PATH is added). */
  env: Record<string, string>;
  /** Working directory; default the system temp folder, so a developer's own `.env` in the checkout is never read. */
  cwd?: string;
  /** The process is killed (SIGTERM) after this long, so a stuck test cannot leave it behind. Default 60 s. */
  maxRunMs?: number;
}

function spawnMain(options: MainOptions, stdin: 'pipe' | 'ignore'): ChildProcess {
  return spawn(process.execPath, ['--import', TSX, MAIN], {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    cwd: options.cwd ?? tmpdir(),
    stdio: [stdin, 'pipe', 'pipe'],
    timeout: options.maxRunMs ?? 60_000,
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
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin!.end(input);
  });
}

/** A bot process serving HTTP. */
export interface RunningMain {
  /** The port from the start-up line. */
  port: number;
  /** The parsed start-up line ('hrbot listening'). */
  started: Record<string, unknown>;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<MainResult>;
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
    const exited = new Promise<MainResult>((done) => child.on('close', (code) => done({ code, stdout, stderr })));
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
        port: Number(started.port),
        started,
        stdout: () => stdout,
        stderr: () => stderr,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
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

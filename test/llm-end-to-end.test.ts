// The "done when": `npm start` with the fake Bedrock answers piped questions with cited sources.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startFakeBedrock } from './fakes/fake-bedrock.ts';
import { tempDir } from './support/temp-bot.ts';

const ROOT = new URL('..', import.meta.url).pathname;

function run(env: Record<string, string>, input: string, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

void describe('npm start with Bedrock configured', () => {
  void it('answers piped questions from the fake Bedrock with cited sources, then exits', async () => {
    const fake = await startFakeBedrock();
    const dir = tempDir();
    try {
      const env: Record<string, string> = {
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME: fake.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
        BEDROCK_MODEL_ID: 'anthropic.claude-3-haiku-20240307-v1:0',
        DATABASE_PATH: join(dir.path, 'hrbot.db'),
        HRBOT_MODE: 'console',
      };
      const { code, stdout, stderr } = await run(env, 'How many vacation days do I get?\n/hr ask how does parental leave work\n');
      assert.equal(code, 0, stderr);
      const answers = stdout.split('According to the handbook').length - 1;
      assert.equal(answers, 2, stdout);
      // Wrapped at 80 columns: a long heading path puts its (file#anchor) on the next line.
      assert.match(stdout, /Sources:\n\s+- [^\n]*\n?[^\n]*\(pto\.md#/);
      assert.match(stdout, /parental-leave\.md#/);
      // Two answers; hybrid search is on by default, so each question was embedded too (and passages in the background).
      assert.equal(fake.calls.filter((call) => call.operation !== 'invoke').length, 2);
      const embeddings = fake.calls.filter((call) => call.operation === 'invoke');
      assert.ok(embeddings.length >= 2, `expected the questions embedded, saw ${embeddings.length} embedding calls`);
      assert.ok(embeddings.every((call) => call.modelId === 'amazon.titan-embed-text-v2:0' && call.body.dimensions === 512));
      // The terminal chat logs to a file next to the database, not to the screen.
      assert.equal(stderr, '');
      assert.match(readFileSync(join(dir.path, 'hrbot.log'), 'utf8'), /AI answers on \(Amazon Bedrock\)/);
    } finally {
      dir.remove();
      await fake.close();
    }
  });
});

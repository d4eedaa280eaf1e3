// WORKERS=n: several processes on one database. First two cores on one file, as two workers are
// (memory and caches that must follow what the other process wrote or erased); then the production
// entry point with WORKERS=3 on one port, fed signed Slack events on fresh connections (so the kernel
// spreads them across the workers), with redeliveries and one worker SIGKILLed half way (WORKERS=4).
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { createCore } from '../src/core.ts';
import { createLogger } from '../src/log/logger.ts';
import { openPostgresStores } from '../src/store/postgres/pg-stores.ts';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeRequest } from './fakes/fake-bedrock.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import { outputLines, runMain, startMain } from './support/main-process.ts';
import { createTestDatabase } from './support/postgres.ts';
import { assertAnsweredInOrder, finalMessages, shown } from './support/slack-replies.ts';
import { dmEvent, eventBody, JSON_TYPE, mentionEvent, postSignedOnNewConnection } from './support/slack-requests.ts';
import { slackProcessEnv } from './support/slack-process-env.ts';
import { assertInboxSettled } from './support/store-checks.ts';
import { ask, dm, startTempBot, tempDir } from './support/temp-bot.ts';
import { taggedAnswer } from './support/tagged-answers.ts';
import { listenOnLoopback } from './support/loopback-server.ts';

/** GET on a connection of its own, so the kernel may hand it to any worker. */
function getOnNewConnection(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const engine of ['sqlite', 'postgres'] as const) {
  void describe(`two processes on one ${engine} store`, () => {
    void it("a follow-up sees the turns another process stored, and nothing of what another process erased, answer cache included", async () => {
      const prompts: FakeRequest[] = [];
      const bedrock = await startFakeBedrock({
        reply: (request) => {
          prompts.push(request);
          return { text: 'Full-time employees get 25 vacation days a year [1].', stopReason: 'end_turn' };
        },
      });
      const database = engine === 'postgres' ? await createTestDatabase() : undefined;
      const limits = { perMinute: 100, dailyQuestions: 100 };
      const sharedFor = async () => (database === undefined ? {} : { shared: await openPostgresStores(database.url, { limits }) });
      const a = startTempBot({ ...bedrockEnv(bedrock.url), RATE_LIMIT_PER_MINUTE: '100', DAILY_QUESTION_QUOTA: '100' }, await sharedFor());
      const b = createCore(a.config, createLogger({ level: 'silent' }), await sharedFor());
      const lastPrompt = () => prompts.at(-1)!.messages.map((message) => message.text).join('\n');
      try {
        await ask(a.core, dm('how many vacation days do I get as a full-time employee?'));
        await ask(a.core, dm('and for part-time?'));
        assert.match(lastPrompt(), /full-time employee/, 'the follow-up carries the earlier question');
        // Alice's next exchange is answered by the other process: this one's memory must not miss it.
        await ask(b, dm('how many sick days do I get each year?'));
        await ask(a.core, dm('and after that?'));
        assert.match(lastPrompt(), /sick days/, 'the turn the other process stored is in the prompt');

        const cache = a.core.llm!.cache;
        assert.ok(cache.sizes.entries >= 1, 'an answer is cached in this process');
        const forgot = await ask(b, dm('/hr forget'));
        assert.match(forgot.text, /erased/i);
        assert.equal(await a.core.llm!.cache.storedRows(), 0, "the cached answers derived from the user's questions went with the erase");
        await ask(a.core, dm('and for part-time?'));
        assert.doesNotMatch(lastPrompt(), /full-time employee|sick days/, 'nothing erased elsewhere reaches the prompt');
        const deadline = Date.now() + 5_000;
        while (cache.sizes.entries > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(cache.sizes.entries, 0, "the answers derived from the erased user's questions left this process's memory too");
      } finally {
        b.close();
        a.close();
        await bedrock.close();
        // The cores end their pools without waiting; give them a moment before the database goes.
        await new Promise((resolve) => setTimeout(resolve, 100));
        await database?.drop();
      }
    });
  });
}

const USERS = 12;
const PER_USER = 3;
const QUOTA = 3;
/** Questions from one user in as many channels (lanes answered in parallel, by any worker). */
const QUOTA_ASKS = 6;

void describe('WORKERS=4 on one port', () => {
  void it('every message answered once and in order, redeliveries ignored, the quota exact, a killed worker replaced, SIGTERM drains all', async () => {
    const dir = tempDir();
    const api = await new FakeSlackApi().start();
    const bedrock = await startFakeBedrock({
      latencyMs: 150,
      reply: taggedAnswer,
    });
    const env = { ...slackProcessEnv(api.apiUrl, dir.path), ...bedrockEnv(bedrock.url), WORKERS: '4', DAILY_QUESTION_QUOTA: String(QUOTA) };
    const answers = () => [...finalMessages(api).values()].map((text) => /answer for (q\d+x\d+)/.exec(text)?.[1]).filter((tag) => tag !== undefined);
    try {
      const bot = await startMain({ env, maxRunMs: 120_000 }, 60_000);
      const pids = bot.started['pids'] as number[];
      assert.equal(pids.length, 4, 'four workers listening');
      assert.ok(pids.every(isAlive));
      const base = `http://127.0.0.1:${bot.port}`;
      const bodies: string[] = [];
      const statuses = await Promise.all([
        ...Array.from({ length: USERS }, async (_, u) => {
          const codes: number[] = [];
          for (let m = 0; m < PER_USER; m++) {
            const body = eventBody(dmEvent(`how many vacation days do I get q${u}x${m}?`, `UW${u}`));
            bodies.push(body);
            codes.push(await postSignedOnNewConnection(base, body, JSON_TYPE));
          }
          return codes;
        }),
        Promise.all(
          Array.from({ length: QUOTA_ASKS }, (_, m) =>
            postSignedOnNewConnection(base, eventBody(mentionEvent(`how many vacation days do I get q99x${m}?`, 'UQUOTA', { channel: `CQ${m}` })), JSON_TYPE),
          ),
        ),
      ]);
      assert.deepEqual(statuses.flat(), Array.from({ length: USERS * PER_USER + QUOTA_ASKS }, () => 200), 'every message acknowledged');

      await api.waitFor(() => answers().length >= (USERS * PER_USER) / 4, 30_000, 'a quarter answered');
      process.kill(pids[1]!, 'SIGKILL');
      const lines = () => outputLines(bot.stdout());
      const until = async (what: (line: Record<string, unknown>) => boolean, why: string) => {
        const deadline = Date.now() + 10_000;
        while (!lines().some(what) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.ok(lines().some(what), why);
      };
      // Connections waiting in the killed worker's queue were reset with it (Slack would retry them); from here on
      // the kernel hands new ones to the live workers only.
      await until((line) => line.msg === 'worker exited; starting another' && line.signal === 'SIGKILL', 'the killed worker was noticed');
      // Slack's retries of events already acknowledged, on fresh connections: to any worker, a no-op.
      const retried = await Promise.all(bodies.map((body) => postSignedOnNewConnection(base, body, JSON_TYPE)));
      assert.ok(retried.every((status) => status === 200), 'a redelivery is acknowledged');

      const wanted = USERS * PER_USER + QUOTA;
      await api.waitFor(() => answers().length >= wanted, 60_000, 'every message answered');
      // In a channel the refusal is shown to the asker alone.
      const refusals = () => api.calls.filter((call) => call.method === 'chat.postEphemeral' && /used today's 3 questions/.test(shown(call))).length;
      await api.waitFor(() => refusals() >= QUOTA_ASKS - QUOTA, 10_000, 'the questions past the quota refused');
      await until((line) => line.msg === 'worker started again', 'the killed worker was replaced');
      // Each scrape reaches one worker; each answers for the whole machine (the replaced worker's counts died with it).
      const totals: number[] = [];
      for (let scrape = 0; scrape < 6; scrape++) {
        const text = await getOnNewConnection(`${base}/metrics`);
        const replies = [...text.matchAll(/^hrbot_replies_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
        totals.push(replies);
        assert.match(text, /^hrbot_inbox_pending 0$/m, 'a store-wide gauge is not added up once per worker');
      }
      assert.equal(new Set(totals).size, 1, `every scrape sees the same machine-wide count: ${totals.join(', ')}`);
      assert.ok(totals[0]! > 0);

      const result = await bot.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.ok(outputLines(result.stdout).filter((line) => line.msg === 'stopped' && line.worker !== undefined).length >= 4, 'every worker drained and stopped');
      assert.ok(pids.every((pid) => !isAlive(pid)), 'no worker left running');

      const tags = answers();
      assert.equal(tags.length, new Set(tags).size, `no message answered twice (${tags.length} answers)`);
      assert.equal(tags.filter((tag) => tag.startsWith('q99x')).length, QUOTA, 'exactly the quota admitted across workers');
      assert.equal(refusals(), QUOTA_ASKS - QUOTA, 'and the rest refused, once each');
      assertAnsweredInOrder(api, 'UW', USERS, PER_USER);
      assertInboxSettled(env.DATABASE_PATH);
    } finally {
      await bedrock.close();
      await api.close();
      dir.remove();
    }
  });

  void it('a port already taken stops the start with one clear line, before any worker starts', async () => {
    const dir = tempDir();
    const holder = createServer();
    const port = await listenOnLoopback(holder);
    try {
      const result = await runMain('', { env: { ...slackProcessEnv('http://127.0.0.1:9/api/', dir.path), PORT: String(port), WORKERS: '2' } });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`PORT ${port} is already in use`));
      assert.ok(!outputLines(result.stdout).some((line) => line.msg === 'worker listening' || line.worker !== undefined), 'no worker was started');
    } finally {
      holder.close();
      dir.remove();
    }
  });
});

// Two replicas on one PostgreSQL database (DATABASE_URL), each started with the production command
// (`node dist/adapters/main.js`) on its own port and its own DATABASE_PATH (the local handbook index),
// fed signed Slack events split between them, with every event redelivered to the other replica and
// one replica SIGKILLed half way: every message answered exactly once, in order per user, the daily
// quota exact across both, and an erase on one leaves nothing on either.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { FakeBedrock } from './fakes/fake-bedrock.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import { buildProduction, outputLines, startMain } from './support/main-process.ts';
import type { RunningMain } from './support/main-process.ts';
import { createTestDatabase } from './support/postgres.ts';
import type { TestDatabase } from './support/postgres.ts';
import { assertAnsweredInOrder, finalMessages, shown } from './support/slack-replies.ts';
import { dmEvent, eventBody, JSON_TYPE, mentionEvent, postSigned, postSignedOnNewConnection } from './support/slack-requests.ts';
import { slackProcessEnv } from './support/slack-process-env.ts';
import { tempDir } from './support/temp-bot.ts';
import { taggedAnswer } from './support/tagged-answers.ts';

const USERS = 10;
const PER_USER = 3;
const QUOTA = 3;
/** Questions from one user in as many channels, sent to both replicas: lanes answered in parallel. */
const QUOTA_ASKS = 8;

describe('two replicas on PostgreSQL', () => {
  let database: TestDatabase;
  let api: FakeSlackApi;
  let bedrock: FakeBedrock;
  const dirs = [tempDir(), tempDir()];
  before(async () => {
    await buildProduction();
    database = await createTestDatabase();
    api = await new FakeSlackApi().start();
    bedrock = await startFakeBedrock({
      latencyMs: 150,
      reply: taggedAnswer,
    });
  });
  after(async () => {
    await bedrock.close();
    await api.close();
    await database.drop();
    for (const dir of dirs) dir.remove();
  });

  it('answer every message once and in order, redeliveries and a SIGKILL included; quota exact; an erase leaves nothing', async () => {
    const env = (dir: string) => ({
      ...slackProcessEnv(api.apiUrl, dir),
      ...bedrockEnv(bedrock.url),
      DATABASE_URL: database.url,
      DAILY_QUESTION_QUOTA: String(QUOTA),
    });
    const replicas: RunningMain[] = [];
    try {
      for (const dir of dirs) replicas.push(await startMain({ env: env(dir.path), production: true, maxRunMs: 120_000 }, 60_000));
      const [a, b] = replicas as [RunningMain, RunningMain];
      const bases = replicas.map((replica) => `http://127.0.0.1:${replica.port}`);
      const answers = () => [...finalMessages(api).values()].map((text) => /answer for (q\d+x\d+)/.exec(text)?.[1]).filter((tag) => tag !== undefined);
      const bodies: Array<{ body: string; sentTo: number }> = [];
      const post = async (body: string, to: number) => {
        bodies.push({ body, sentTo: to });
        return (await postSigned(bases[to]!, body, JSON_TYPE)).status;
      };
      // Each user's messages alternate between the replicas; the quota user's go to both at once.
      const statuses = await Promise.all([
        ...Array.from({ length: USERS }, async (_, u) => {
          const codes: number[] = [];
          for (let m = 0; m < PER_USER; m++) codes.push(await post(eventBody(dmEvent(`how many vacation days do I get q${u}x${m}?`, `UR${u}`)), (u + m) % 2));
          return codes;
        }),
        Promise.all(Array.from({ length: QUOTA_ASKS }, (_, m) => post(eventBody(mentionEvent(`how many vacation days do I get q99x${m}?`, 'URQUOTA', { channel: `CR${m}` })), m % 2))),
      ]);
      assert.deepEqual(statuses.flat(), Array.from({ length: USERS * PER_USER + QUOTA_ASKS }, () => 200), 'every message acknowledged');
      await api.waitFor(() => answers().length >= (USERS * PER_USER) / 4, 30_000, 'a quarter answered');
      const killedAt = Date.now();
      await b.kill();
      // Slack's retries of every event go to the replica that did not get it first (b's to a, now that b is gone).
      const retried = await Promise.all(bodies.map(({ body }) => postSigned(bases[0]!, body, JSON_TYPE, { headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } })));
      assert.ok(retried.every((response) => response.status === 200), 'a redelivery is acknowledged');

      await api.waitFor(() => answers().length >= USERS * PER_USER + QUOTA, 60_000, 'every message answered, what the killed replica held included');
      const refusals = () => api.calls.filter((call) => call.method === 'chat.postEphemeral' && /used today's 3 questions/.test(shown(call)));
      const refusedIn = () => new Set(refusals().map((call) => String(call.args.channel)));
      await api.waitFor(() => refusedIn().size >= QUOTA_ASKS - QUOTA, 10_000, 'the questions past the quota refused');

      const tags = answers();
      assert.equal(tags.length, new Set(tags).size, `no message answered twice (${tags.length} answers)`);
      assert.equal(tags.filter((tag) => tag.startsWith('q99x')).length, QUOTA, 'exactly the quota admitted across replicas');
      assert.equal(refusedIn().size, QUOTA_ASKS - QUOTA, 'the rest refused');
      // Once each, but for one case Slack leaves no way around without risking no reply: an ephemeral reply cannot be found again, so
      // one that Slack took from the killed replica at the moment it died is posted again by the retry
      // (which can only come after the kill).
      for (const channel of refusedIn()) {
        const times = refusals().filter((call) => String(call.args.channel) === channel).map((call) => call.at);
        assert.ok(times.length === 1 || (times.length === 2 && times[1]! > killedAt), `refused once in ${channel} (${times.map((at) => at - killedAt).join(', ')} ms from the kill)`);
      }
      assertAnsweredInOrder(api, 'UR', USERS, PER_USER);

      // An erase on one replica leaves nothing of the user on the shared store (and so on either replica).
      const c = await startMain({ env: env(dirs[1]!.path), production: true, maxRunMs: 120_000 }, 60_000);
      replicas.push(c);
      assert.equal((await postSigned(`http://127.0.0.1:${c.port}`, eventBody(dmEvent('/hr forget', 'UR0')), JSON_TYPE)).status, 200);
      await api.waitFor(() => api.calls.some((call) => call.args.channel === 'DUR0' && /erased/i.test(shown(call))), 20_000, 'the erase confirmed');
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const left = await client.query("SELECT count(*)::int AS n FROM messages WHERE owner_key LIKE 'slack:T1:UR0'");
        assert.equal(left.rows[0].n, 0, "nothing of the user's history left");
        const usage = await client.query("SELECT count(*)::int AS n FROM usage_daily WHERE owner_key = 'slack:T1:UR0'");
        assert.equal(usage.rows[0].n, 0);
        const others = await client.query("SELECT count(*)::int AS n FROM messages WHERE owner_key = 'slack:T1:UR1'");
        assert.equal(others.rows[0].n, PER_USER * 2, "another user's history untouched");
        const open = await client.query("SELECT count(*)::int AS n FROM inbox WHERE state <> 'done'");
        assert.equal(open.rows[0].n, 0, 'nothing left waiting in the inbox');
      } finally {
        await client.end();
      }
      for (const replica of [a, c]) {
        const result = await replica.stop();
        assert.equal(result.code, 0, result.stderr);
        assert.ok(outputLines(result.stdout).some((line) => line.msg === 'stopped'));
      }
    } finally {
      for (const replica of replicas) await replica.kill();
    }
  });

  it('WORKERS=2 on PostgreSQL: one port, both workers on the shared store, every message answered once, SIGTERM drains both', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const bot = await startMain(
      { env: { ...slackProcessEnv(api.apiUrl, dir.path), ...bedrockEnv(bedrock.url), DATABASE_URL: database.url, WORKERS: '2' }, production: true, maxRunMs: 120_000 },
      60_000,
    );
    try {
      assert.equal((bot.started['pids'] as number[]).length, 2);
      const base = `http://127.0.0.1:${bot.port}`;
      const tags = () => [...finalMessages(api).values()].map((text) => /answer for (q\d+x\d+)/.exec(text)?.[1]).filter((tag) => tag?.startsWith('q77x')) as string[];
      const statuses = await Promise.all(Array.from({ length: 8 }, (_, m) => postSignedOnNewConnection(base, eventBody(dmEvent(`how many vacation days do I get q77x${m}?`, `UW5${m}`)), JSON_TYPE)));
      assert.deepEqual(statuses, Array.from({ length: 8 }, () => 200));
      await api.waitFor(() => tags().length >= 8, 30_000, 'every message answered');
      const result = await bot.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(new Set(tags()).size, 8, 'each once');
      assert.ok(outputLines(result.stdout).filter((line) => line.msg === 'stopped' && line.worker !== undefined).length >= 2, 'both workers drained');
    } finally {
      await bot.kill();
    }
  });
});

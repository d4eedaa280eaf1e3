// The durable inbox end to end: the production entry point (adapters/main.ts) answering signed Slack
// DMs through the fake Web API with AI answers from the fake Bedrock, SIGKILLed half way and restarted
// on the same database.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import { FakeSlackApi } from './fakes/fake-slack-api.ts';
import { startMain } from './support/main-process.ts';
import { assertAnsweredInOrder, finalMessages } from './support/slack-replies.ts';
import { dmEvent, eventBody, JSON_TYPE, postSigned } from './support/slack-requests.ts';
import { tempDir } from './support/temp-bot.ts';
import { slackProcessEnv } from './support/slack-process-env.ts';
import { assertInboxSettled } from './support/store-checks.ts';
import { taggedAnswer } from './support/tagged-answers.ts';

const USERS = 12;
const PER_USER = 5;

describe('durable inbox across a crash', () => {
  it('SIGKILL half way and a restart: every acknowledged message answered once, in order, no placeholder left', async () => {
    const dir = tempDir();
    const api = await new FakeSlackApi().start();
    const bedrock = await startFakeBedrock({
      latencyMs: 150,
      reply: taggedAnswer,
    });
    const env = { ...slackProcessEnv(api.apiUrl, dir.path), ...bedrockEnv(bedrock.url) };
    const answeredTags = () => new Set([...finalMessages(api).values()].map((text) => /answer for (q\d+x\d+)/.exec(text)?.[1]).filter((t) => t !== undefined));
    try {
      const first = await startMain({ env });
      const base = `http://127.0.0.1:${first.port}`;
      const statuses = await Promise.all(
        Array.from({ length: USERS }, async (_, u) => {
          const codes: number[] = [];
          for (let m = 0; m < PER_USER; m++) {
            const response = await postSigned(base, eventBody(dmEvent(`how many vacation days do I get q${u}x${m}?`, `UK${u}`)), JSON_TYPE);
            codes.push(response.status);
          }
          return codes;
        }),
      );
      assert.deepEqual(statuses.flat(), Array.from({ length: USERS * PER_USER }, () => 200), 'every message acknowledged');
      await api.waitFor(() => answeredTags().size >= (USERS * PER_USER) / 4, 30_000, 'a quarter answered');
      await first.kill();
      const before = answeredTags().size;
      assert.ok(before < USERS * PER_USER, `killed half way (${before} answered)`);

      const second = await startMain({ env });
      assert.ok(Number(second.started['resumed']) > 0, 'the restart took up what the crash left');
      await api.waitFor(() => answeredTags().size === USERS * PER_USER, 60_000, 'every message answered');
      const result = await second.stop();
      assert.equal(result.code, 0);

      assertAnsweredInOrder(api, 'UK', USERS, PER_USER);
      assertInboxSettled(env.DATABASE_PATH);
    } finally {
      await bedrock.close();
      await api.close();
      dir.remove();
    }
  });
});

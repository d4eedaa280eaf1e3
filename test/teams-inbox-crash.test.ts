// The durable inbox end to end over Teams: the production entry point (adapters/main.ts) in emulator
// mode answering personal chats through the fake connector, with AI answers from the fake Bedrock,
// SIGKILLed a quarter of the way and restarted on the same database.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { ConnectorCall } from './fakes/fake-teams-connector.ts';
import { FakeTeamsConnector } from './fakes/fake-teams-connector.ts';
import { startMain } from './support/main-process.ts';
import { assertInboxSettled } from './support/store-checks.ts';
import { personalMessage } from './support/teams-bot.ts';
import { KNOWLEDGE_DIR, tempDir } from './support/temp-bot.ts';
import { taggedAnswer } from './support/tagged-answers.ts';

const USERS = 12;
const PER_USER = 5;

function user(u: number) {
  return { id: `29:crash-user-${u}`, aadObjectId: `00000000-0000-4000-8000-${String(u).padStart(12, '0')}`, name: `User ${u}` };
}

/** The question an answer is for, from the fake model's text: `q<user>x<message>`. */
function tagOf(call: ConnectorCall): string | undefined {
  return /answer for (q\d+x\d+)\)/.exec(JSON.stringify(call.activity))?.[1];
}

describe('Teams: durable inbox across a crash', () => {
  it('SIGKILL a quarter of the way and a restart: every acknowledged message answered once, in order, at most the update in flight left', async (t) => {
    const dir = tempDir();
    const connector = await new FakeTeamsConnector().start();
    const bedrock = await startFakeBedrock({
      latencyMs: 150,
      reply: taggedAnswer,
    });
    const env = {
      TEAMS_EMULATOR: 'true',
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_PATH: join(dir.path, 'hrbot.db'),
      KNOWLEDGE_DIR,
      ...bedrockEnv(bedrock.url),
    };
    // Answers on screen: a final message (a stream's final, a new message, or an edit of a notice or stream).
    const answeredTags = () => new Set(connector.shownMessages().filter((c) => c.activity.type === 'message').map(tagOf).filter((t) => t !== undefined));
    try {
      const first = await startMain({ env });
      const url = `http://127.0.0.1:${first.port}/api/messages`;
      const statuses = await Promise.all(
        Array.from({ length: USERS }, async (_, u) => {
          const codes: number[] = [];
          for (let m = 0; m < PER_USER; m++) {
            const activity = personalMessage(connector.serviceUrl, `how many vacation days do I get q${u}x${m}?`, { user: user(u) });
            const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity), signal: AbortSignal.timeout(5_000) });
            await response.arrayBuffer();
            codes.push(response.status);
          }
          return codes;
        }),
      );
      assert.deepEqual(statuses.flat(), Array.from({ length: USERS * PER_USER }, () => 200), 'every message acknowledged');
      await connector.waitFor(() => answeredTags().size >= (USERS * PER_USER) / 4, 30_000, 'a quarter answered');
      await first.kill();
      const before = answeredTags().size;
      assert.ok(before < USERS * PER_USER, `killed part way (${before} answered)`);

      const second = await startMain({ env });
      assert.ok(Number(second.started['resumed']) > 0, 'the restart took up what the crash left');
      await connector.waitFor(() => answeredTags().size === USERS * PER_USER, 60_000, 'every message answered');
      const result = await second.stop();
      assert.equal(result.code, 0);

      let orphans = 0;
      for (let u = 0; u < USERS; u++) {
        const conversation = `a:personal-${user(u).aadObjectId}`;
        // A notice is shown when its message arrives, so messages on screen are in arrival order of their first form; compare as a set.
        const shown = connector.shownMessages(conversation).map((call) => `${call.activity.type} ${tagOf(call) ?? String(call.activity.text).slice(0, 60)}`);
        // A stream's first update or a notice that Teams took just as the process died has an id the bot
        // never learnt, and the Bot Framework can neither list a chat nor dedupe a send: it cannot be
        // found again. At most one per user can be in flight; every question still has one answer.
        const answers = shown.filter((line) => /^message q\d+x\d+$/.test(line));
        orphans += shown.length - answers.length;
        assert.ok(shown.length - answers.length <= 1, `user ${u}: at most the one update in flight at the kill left: ${JSON.stringify(shown)}`);
        assert.deepEqual(
          answers.sort(),
          Array.from({ length: PER_USER }, (_, m) => `message q${u}x${m}`),
          `user ${u}: one final message per question, no duplicate`,
        );
        const firstSeen = [...new Set(connector.calls.filter((c) => c.conversationId === conversation).map(tagOf).filter((t) => t !== undefined))];
        assert.deepEqual(firstSeen, Array.from({ length: PER_USER }, (_, m) => `q${u}x${m}`), `user ${u}: answered in the order written`);
      }
      t.diagnostic(`updates left on screen by the kill (stream starts, notices): ${orphans}`);
      assertInboxSettled(env.DATABASE_PATH);
    } finally {
      await bedrock.close();
      await connector.close();
      dir.remove();
    }
  });
});

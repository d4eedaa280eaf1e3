// Issue 13, Teams: an AI answer in a 1:1 chat carries Teams' AI label, citations linked to its [n]
// markers and the feedback loop; feedback comes back as message/submitAction; Stop is respected.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FakeBedrock, FakeRequest } from './fakes/fake-bedrock.ts';
import { bedrockEnv, startFakeBedrock } from './fakes/fake-bedrock.ts';
import type { ConnectorCall } from './fakes/fake-teams-connector.ts';
import { validateActivity } from './fakes/fake-teams-connector.ts';
import type { TeamsBot } from './support/teams-bot.ts';
import { ALICE, BOB, BOT_ID, TENANT, channelMessage, personalMessage, startTeamsBot } from './support/teams-bot.ts';

const BASE_URL = 'https://intranet.example.com/handbook/';

/** The passages' numbers and files as the prompt lists them ("[n] Heading › Path (file#anchor)"). */
function promptPassages(system: string): Array<{ n: number; file: string; anchor: string }> {
  return [...system.matchAll(/^\[(\d+)\] .* \(([^()#\s]+)#([^()\s]*)\)$/gm)].map((m) => ({ n: Number(m[1]), file: m[2]!, anchor: m[3]! }));
}

/** A model that cites the prompt's second and first passages (in that order), and one number it was never given. */
function citingModel(request: FakeRequest): { text: string; stopReason: 'end_turn' } {
  const passages = promptPassages(request.system);
  const [first, second] = [passages[0]!.n, (passages[1] ?? passages[0]!).n];
  return { text: `Full-time employees get paid vacation every year [${second}]. Unused days can be carried over within limits [${first}, ${second}]. See also [99].`, stopReason: 'end_turn' };
}

const entityOf = (activity: ConnectorCall['activity'], type: string) => (activity.entities ?? []).find((e: { type?: string }) => e.type === type);
const aiEntity = (activity: ConnectorCall['activity']) => entityOf(activity, 'https://schema.org/Message');

function feedbackInvoke(serviceUrl: string, replyToId: string, reaction: string, user = ALICE, conversationId = `a:personal-${ALICE.aadObjectId}`): Record<string, unknown> {
  return {
    type: 'invoke',
    name: 'message/submitAction',
    id: `f${Date.now()}${Math.random().toString(16).slice(2, 8)}`,
    channelId: 'msteams',
    serviceUrl,
    from: user,
    recipient: { id: BOT_ID, name: 'HR Assistant' },
    conversation: { id: conversationId, conversationType: 'personal', tenantId: TENANT },
    replyToId,
    value: { actionName: 'feedback', actionValue: { reaction, feedback: JSON.stringify({ feedbackText: 'Wrong number of days' }) } },
    channelData: { tenant: { id: TENANT } },
  };
}

describe('Teams: AI answers with the AI label, citations and the feedback loop', () => {
  let bedrock: FakeBedrock;
  let t: TeamsBot;
  before(async () => {
    bedrock = await startFakeBedrock({ chunkChars: 24 });
    bedrock.reply(citingModel);
    t = await startTeamsBot({ ...bedrockEnv(bedrock.url), KNOWLEDGE_BASE_URL: BASE_URL, BOT_NAME: 'People Desk' }, { tuning: { stream: { minIntervalMs: 0 } } });
  });
  after(async () => {
    await t.close();
    await bedrock.close();
  });

  it('labels a streamed 1:1 answer as AI, links each [n] to a citation, and turns on the feedback loop', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
    const conversation = (activity.conversation as { id: string }).id;
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1, 10_000);
    const final = t.connector.messages(conversation).at(-1)!;
    const wire = final.activity;
    // Captured for the closing note of issue 13: the exact JSON Teams receives.
    if (process.env.HRBOT_CAPTURE_TEAMS_ANSWER !== undefined) writeFileSync(process.env.HRBOT_CAPTURE_TEAMS_ANSWER, JSON.stringify(wire, null, 2));
    assert.equal(t.connector.rejected.length, 0, JSON.stringify(t.connector.rejected.map((r) => r.reason)));
    assert.equal(validateActivity(wire), undefined);

    // The stream's final message closes the stream and carries the answer's own entities beside it.
    assert.equal(entityOf(wire, 'streaminfo')?.streamType, 'final');
    const entity = aiEntity(wire);
    assert.deepEqual(
      { type: entity.type, '@type': entity['@type'], '@context': entity['@context'], additionalType: entity.additionalType },
      { type: 'https://schema.org/Message', '@type': 'Message', '@context': 'https://schema.org', additionalType: ['AIGeneratedContent'] },
    );
    // Markers renumbered in order of first mention; "[1, 3]" style lists become one marker each; [99] had no source and is gone.
    assert.equal(wire.text, 'Full-time employees get paid vacation every year [1]. Unused days can be carried over within limits [2][1]. See also.');
    assert.deepEqual(
      entity.citation.map((c: { position: number }) => c.position),
      [1, 2],
    );
    const prompt = bedrock.calls.at(-1)!;
    const passages = promptPassages((prompt.body.system as Array<{ text: string }>).map((block) => block.text).join('\n\n'));
    for (const [index, passage] of [passages[1] ?? passages[0]!, passages[0]!].entries()) {
      const citation = entity.citation[index];
      assert.equal(citation['@type'], 'Claim');
      assert.equal(citation.appearance['@type'], 'DigitalDocument');
      assert.ok(citation.appearance.name.startsWith(`${passage.file} › `), citation.appearance.name);
      assert.ok(citation.appearance.name.length <= 80);
      assert.ok(citation.appearance.abstract.length > 0 && citation.appearance.abstract.length <= 160);
      assert.doesNotMatch(citation.appearance.abstract, /[#*|`]/, 'the abstract is plain text');
      assert.equal(citation.appearance.url, `${BASE_URL}${passage.file}#${passage.anchor}`);
    }
    assert.equal(wire.channelData.feedbackLoopEnabled, true);
    assert.equal(wire.attachments, undefined, 'no card: no custom feedback buttons, and the sources are the citations');
    assert.equal(wire.channelData.hrbotEntities, undefined, 'the private carrier key never reaches Teams');
  });

  it('records 👍/👎 from the feedback loop for the answer’s owner only, answering each invoke 200 with an empty body', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'can I carry over vacation days?');
    const conversation = (activity.conversation as { id: string }).id;
    const before = t.connector.messages(conversation).length;
    await t.post(activity);
    await t.connector.waitFor(() => t.connector.messages(conversation).length > before, 10_000);
    const answer = t.connector.messages(conversation).at(-1)!;
    const messageId = entityOf(answer.activity, 'streaminfo')?.streamId ?? answer.responseId;
    const rows = () => t.bot.core.db.prepare('SELECT rating, owner_key FROM feedback').all() as Array<{ rating: string; owner_key: string }>;
    const count = rows().length;

    const byBob = await t.post(feedbackInvoke(t.connector.serviceUrl, messageId, 'like', BOB));
    assert.deepEqual(byBob, { status: 200, body: '' });
    assert.equal(rows().length, count, "Bob's press on Alice's answer is not recorded");

    const byAlice = await t.post(feedbackInvoke(t.connector.serviceUrl, messageId, 'dislike'));
    assert.deepEqual(byAlice, { status: 200, body: '' });
    assert.deepEqual(rows().slice(count), [{ rating: 'down', owner_key: `teams:${TENANT}:${ALICE.aadObjectId}` }]);
    await t.connector.settle();
    assert.equal(t.connector.messages(conversation).length, before + 1, 'Teams confirms feedback itself: the bot sends nothing');
    // The form's text is kept with Alice's rating (Bob's press stored nothing, text included), and never logged.
    const comments = t.bot.core.db.prepare('SELECT comment FROM feedback WHERE comment IS NOT NULL').pluck().all();
    assert.deepEqual(comments, ['Wrong number of days']);
    assert.doesNotMatch(t.bot.logText(), /Wrong number of days/);

    const unknown = await t.post(feedbackInvoke(t.connector.serviceUrl, 'no-such-message', 'like'));
    assert.deepEqual(unknown, { status: 200, body: '' });
    const malformed = await t.post({ ...feedbackInvoke(t.connector.serviceUrl, messageId, 'like'), value: { actionName: 'feedback', actionValue: { reaction: 'love' } } });
    assert.equal(malformed.status, 400);
  });

  it('answers in a channel with the AI label and citations too, in one message with no stream', async () => {
    const activity = channelMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
    const conversation = (activity.conversation as { id: string }).id;
    await t.post(activity);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1, 10_000);
    const wire = t.connector.messages(conversation).at(-1)!.activity;
    assert.equal(entityOf(wire, 'streaminfo'), undefined);
    assert.deepEqual(aiEntity(wire).additionalType, ['AIGeneratedContent']);
    assert.equal(aiEntity(wire).citation.length, 2);
    assert.equal(t.connector.rejected.length, 0);
  });

  it('gives answers that are not written by AI no AI label', async () => {
    const activity = personalMessage(t.connector.serviceUrl, 'policy parental leave', { user: BOB });
    const conversation = (activity.conversation as { id: string }).id;
    await t.post(activity);
    await t.connector.waitFor(() => t.connector.messages(conversation).length >= 1, 10_000);
    const wire = t.connector.messages(conversation).at(-1)!.activity;
    assert.equal(aiEntity(wire), undefined);
    assert.equal(wire.channelData?.feedbackLoopEnabled, undefined);
    const card = wire.attachments?.[0]?.content;
    assert.equal(card?.version, '1.5');
  });
});

describe('Teams: Stop during streaming', () => {
  let bedrock: FakeBedrock;
  let t: TeamsBot;
  before(async () => {
    // Small chunks, so the answer streams in many updates and Stop lands in the middle.
    bedrock = await startFakeBedrock({ chunkChars: 8 });
    bedrock.reply(citingModel);
    t = await startTeamsBot({ ...bedrockEnv(bedrock.url) }, { tuning: { stream: { minIntervalMs: 0 } } });
  });
  after(async () => {
    await t.close();
    await bedrock.close();
  });

  it('sends nothing more once the user pressed Stop: no later update, no final answer as a new message', async () => {
    t.connector.stopStreamAt(2);
    const activity = personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
    const conversation = (activity.conversation as { id: string }).id;
    assert.equal((await t.post(activity)).status, 200);
    await t.connector.waitFor(() => t.connector.stoppedStreams.length === 1, 10_000, 'the stopped stream');
    const stopped = t.connector.faulted.find((c) => c.conversationId === conversation)!;
    // Wait until the inbox item is done (the answer was computed and the item closed), then check nothing followed.
    const open = () => t.bot.core.db.prepare("SELECT COUNT(*) FROM inbox WHERE platform = 'teams' AND state != 'done'").pluck().get() as number;
    await waitUntil(() => open() === 0, 10_000);
    await t.connector.settle();
    const after = t.connector.calls.filter((c) => c.conversationId === conversation && c.at >= stopped.at);
    assert.deepEqual(after, [], 'no activity after the stop');
    assert.deepEqual(
      t.connector.faulted.filter((c) => c.conversationId === conversation).length,
      1,
      'not even an attempt at the final message',
    );
    const shown = t.connector.shownMessages(conversation);
    assert.equal(shown.length, 1, 'what was streamed stays as the only message');
    assert.equal(shown[0]!.activity.type, 'typing');
  });
});

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

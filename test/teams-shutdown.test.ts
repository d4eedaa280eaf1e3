import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { Answerer, AnswerRequest, AnswerResult } from '../src/answer/answerer.ts';
import { sourceOf } from '../src/answer/answerer.ts';
import { personalMessage, startTeamsBot } from './support/teams-bot.ts';

/** Takes a while, like an LLM call past the 15 s HTTP deadline would (scaled down). */
const slow: Answerer = {
  async answer(request: AnswerRequest): Promise<AnswerResult> {
    await sleep(400);
    return { kind: 'answer', text: 'Slow but complete.', sources: request.sections.slice(0, 1).map(sourceOf) };
  },
};

describe('Teams: slow answers and shutdown', () => {
  it('acknowledges at once, answers after the response, and drains in-flight answers on close', async () => {
    const t = await startTeamsBot({}, { extensions: { answerer: slow } });
    let closed = false;
    try {
      const activity = personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
      const started = Date.now();
      assert.equal((await t.post(activity)).status, 200);
      assert.ok(Date.now() - started < 300, 'HTTP response before the answer is written');
      assert.equal(t.teams.pendingJobs, 1);
      await t.teams.close(5000);
      assert.equal(t.teams.pendingJobs, 0);
      assert.equal(t.connector.messages().length, 1, 'the answer went out before close resolved');
      assert.match(JSON.stringify(t.connector.messages()[0]!.activity), /Slow but complete/);
      const late = await t.post(personalMessage(t.connector.serviceUrl, 'holidays'));
      assert.equal(late.status, 503, 'no new work once closing');
      await t.close();
      closed = true;
    } finally {
      if (!closed) await t.close();
    }
  });
});

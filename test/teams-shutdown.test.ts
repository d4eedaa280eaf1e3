import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { Answerer, AnswerRequest, AnswerResult } from '../src/answer/answerer.ts';
import { sourceOf } from '../src/answer/answerer.ts';
import { personalMessage, startTeamsBot } from './support/teams-bot.ts';

/** Holds its answer until released (bounded), like an LLM call past the 15 s HTTP deadline would. */
class HeldAnswerer implements Answerer {
  calls = 0;
  #released = false;
  release(): void {
    this.#released = true;
  }
  async answer(request: AnswerRequest): Promise<AnswerResult> {
    this.calls += 1;
    for (let i = 0; i < 500 && !this.#released; i++) await sleep(10);
    return { kind: 'answer', text: 'Slow but complete.', sources: request.sections.slice(0, 1).map(sourceOf) };
  }
}

describe('Teams: slow answers and shutdown', () => {
  it('acknowledges before the answer; a stop lets the answer in flight finish within its drain, and still stores what comes after', async () => {
    const held = new HeldAnswerer();
    const t = await startTeamsBot({}, { extensions: { answerer: held } });
    try {
      const activity = personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?');
      assert.equal((await t.post(activity)).status, 200);
      await t.connector.waitFor(() => held.calls === 1, 5_000, 'the answer to start');
      assert.equal(t.connector.messages().length, 0, 'the 200 came before the answer');
      const stopping = t.bot.core.inbox.worker.stop(5_000);
      held.release();
      assert.equal(await stopping, 0, 'nothing handed back: the answer finished within the drain');
      assert.equal(t.connector.shownMessages().length, 1, 'the answer went out before the stop resolved');
      assert.match(JSON.stringify(t.connector.shownMessages()[0]!.activity), /Slow but complete/);

      // Still acknowledged (no 503) and stored, for the next start to answer.
      const late = await t.post(personalMessage(t.connector.serviceUrl, 'holidays'));
      assert.equal(late.status, 200);
      assert.equal(t.bot.core.db.prepare("SELECT count(*) FROM inbox WHERE state = 'pending'").pluck().get(), 1);
      await t.connector.settle(200);
      assert.equal(t.connector.shownMessages().length, 1, 'a stopped worker answers nothing');
    } finally {
      await t.close();
    }
  });
});

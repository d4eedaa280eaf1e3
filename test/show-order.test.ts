import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShowOrder } from '../src/inbox/show-order.ts';

describe('show order: a chat’s new messages in the order of their questions', () => {
  it('runs a lane’s shows one after another in the order they were queued, other lanes beside them', async () => {
    const order = new ShowOrder();
    const log: string[] = [];
    const show = (name: string, ms: number) => () => sleep(ms).then(() => log.push(name));
    await Promise.all([order.inTurn('a', show('a1', 30)), order.inTurn('a', show('a2', 1)), order.inTurn('b', show('b1', 5)), order.inTurn('a', show('a3', 1))]);
    assert.deepEqual(log, ['b1', 'a1', 'a2', 'a3']);
    await sleep(1);
    assert.equal(order.size, 0, 'nothing kept once the lanes are idle');
  });

  it('a failed show does not stop the ones after it', async () => {
    const order = new ShowOrder();
    const failed = order.inTurn('a', () => Promise.reject(new Error('connector down')));
    const next = order.inTurn('a', () => Promise.resolve('sent'));
    await assert.rejects(failed, /connector down/);
    assert.equal(await next, 'sent');
  });

  it('waits for the answer in progress to show its first message, and only that long', async () => {
    const order = new ShowOrder({ maxHeadWaitMs: 5_000 });
    const log: string[] = [];
    const shown = order.answering('a');
    const notice = order.inTurn('a', () => Promise.resolve(log.push('notice')));
    const other = order.inTurn('b', () => Promise.resolve(log.push('other lane')));
    await other;
    await sleep(20);
    assert.deepEqual(log, ['other lane'], 'the notice waits while the answer has nothing on screen');
    log.push('answer');
    shown();
    await notice;
    assert.deepEqual(log, ['other lane', 'answer', 'notice']);
    shown();
    await sleep(1);
    assert.equal(order.size, 0, 'nothing kept once the lanes are idle');
  });

  it('sends anyway once the wait for the answer runs out', async () => {
    const order = new ShowOrder({ maxHeadWaitMs: 30 });
    order.answering('a');
    const started = Date.now();
    await order.inTurn('a', () => Promise.resolve());
    assert.ok(Date.now() - started >= 25, 'it waited');
  });
});

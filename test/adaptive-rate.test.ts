// The adaptive request rate on an injected clock: no timing assertions, only the rate and the waits it hands out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveRate } from '../src/llm/adaptive-rate.ts';

/** Send `n` attempts at `perSecond` on the fake clock, advancing it; returns the tickets. */
function send(rate: AdaptiveRate, clock: { now: number }, n: number, perSecond: number) {
  return Array.from({ length: n }, () => {
    const ticket = rate.acquire();
    clock.now += 1000 / perSecond;
    return ticket;
  });
}

void describe('adaptive request rate', () => {
  void it('paces nothing without a ceiling until the first throttle, then drops to 0.7 x the measured send rate', () => {
    const clock = { now: 0 };
    const rate = new AdaptiveRate({ now: () => clock.now });
    assert.equal(rate.rate, Infinity);
    const tickets = send(rate, clock, 200, 100);
    assert.ok(tickets.every((t) => t.waitMs === 0), 'no waiting before a throttle');
    assert.ok(Math.abs(rate.measuredRate - 100) < 5, `measured ${rate.measuredRate}`);
    rate.onThrottle(tickets.at(-1) ?? tickets[0]!);
    assert.ok(Math.abs(rate.rate - 70) < 4, `dropped to ${rate.rate}`);
  });

  void it('counts one burst of throttles once, and a throttle after the decrease again', () => {
    const clock = { now: 0 };
    const rate = new AdaptiveRate({ ceiling: 50, now: () => clock.now });
    const burst = send(rate, clock, 10, 50);
    for (const ticket of burst) rate.onThrottle(ticket);
    const once = rate.rate;
    assert.ok(once < 50 && once >= 50 * 0.7 * 0.9, `one decrease, is ${once}`);
    const [probe] = send(rate, clock, 1, once);
    rate.onThrottle(probe!);
    assert.ok(rate.rate < once, 'a throttle on an attempt paced at the new rate lowers it again');
  });

  void it('recovers on success back to the ceiling and never above it', () => {
    const clock = { now: 0 };
    const rate = new AdaptiveRate({ ceiling: 50, now: () => clock.now });
    const [ticket] = send(rate, clock, 25, 50);
    rate.onThrottle(ticket!);
    const low = rate.rate;
    assert.ok(low < 50);
    for (let i = 0; i < 200; i++) {
      send(rate, clock, 1, 50);
      rate.onSuccess();
    }
    assert.equal(rate.rate, 50);
  });

  void it('never goes below the floor, and a throttle storm at the floor is reported', () => {
    const clock = { now: 0 };
    const rate = new AdaptiveRate({ ceiling: 50, minRate: 0.5, now: () => clock.now });
    for (let i = 0; i < 50; i++) {
      const [ticket] = send(rate, clock, 1, 1);
      rate.onThrottle(ticket!);
    }
    assert.equal(rate.rate, 0.5);
    assert.equal(rate.atFloor, true);
  });

  void it('hands out reservations 1/rate apart: n waiting callers wait at most n / rate', () => {
    const clock = { now: 0 };
    const rate = new AdaptiveRate({ ceiling: 10, burstSeconds: 0, now: () => clock.now });
    const waits = Array.from({ length: 16 }, () => rate.acquire().waitMs);
    assert.deepEqual(waits.slice(0, 3), [0, 100, 200]);
    assert.ok(Math.max(...waits) <= (16 / 10) * 1000, `longest wait ${Math.max(...waits)} ms`);
    clock.now += 60_000;
    assert.equal(rate.acquire().waitMs, 0, 'an idle spell leaves no backlog of unused slots to burst through');
    assert.ok(rate.acquire().waitMs > 0);
  });
});

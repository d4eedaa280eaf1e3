// The adaptive request rate on an injected clock: no timing assertions, only the rate and the waits it hands out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveRate } from '../src/llm/adaptive-rate.ts';
import { seededRandom as seeded } from './support/seeded-random.ts';


interface Drive {
  /** Attempts the caller would send per second if the limiter let it. */
  demand: number;
  seconds: number;
  /** Share of attempts throttled at random, whatever the rate. */
  background: number;
  /** A sliding one-second quota, from `quotaFrom` seconds on. Randomly throttled attempts do not count against it. */
  quota?: number;
  quotaFrom?: number;
  seed?: number;
}

/**
 * One caller sending as fast as the limiter allows (at most `demand`/s) for `seconds` of fake time.
 * Returns the send rate, the answered rate and the lowest paced rate over the last quarter of the run.
 */
function drive(rate: AdaptiveRate, clock: { now: number }, d: Drive) {
  const random = seeded(d.seed ?? 1);
  const admitted: number[] = [];
  const end = clock.now + d.seconds * 1000;
  const lastQuarter = end - d.seconds * 250;
  let sent = 0;
  let answered = 0;
  let lowest = Infinity;
  while (clock.now < end) {
    const ticket = rate.acquire();
    clock.now += Math.max(ticket.waitMs, 1000 / d.demand);
    let throttled = random() < d.background;
    if (!throttled && d.quota !== undefined && clock.now >= (d.quotaFrom ?? 0) * 1000) {
      while (admitted.length > 0 && clock.now - admitted[0]! >= 1000) admitted.shift();
      throttled = admitted.length >= d.quota;
      if (!throttled) admitted.push(clock.now);
    }
    if (throttled) rate.onThrottle(ticket);
    else rate.onSuccess(ticket);
    if (clock.now < lastQuarter) continue;
    sent += 1;
    if (!throttled) answered += 1;
    lowest = Math.min(lowest, rate.rate);
  }
  const seconds = d.seconds / 4;
  return { sendPerSecond: sent / seconds, answeredPerSecond: answered / seconds, lowestRate: lowest };
}

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

  void it('counts one burst of throttles once; at the new rate a run of throttles lowers it again, a single one does not', () => {
    const clock = { now: 0 };
    const rate = new AdaptiveRate({ ceiling: 50, now: () => clock.now });
    const burst = send(rate, clock, 10, 50);
    for (const ticket of burst) assert.equal(rate.onThrottle(ticket), ticket === burst[0] ? 'cut' : 'held', 'only the first of the burst cuts');
    const once = rate.rate;
    assert.ok(once < 50 && once >= 50 * 0.7 * 0.9, `one decrease, is ${once}`);
    // The attempts after a cut are a probe: one throttle among them may be background, four in a row
    // say the lower rate is still throttled (a quota window still full).
    const probe = send(rate, clock, 4, once);
    assert.equal(rate.onThrottle(probe[0]!), 'held', 'a single throttle at the new rate does not cut');
    assert.equal(rate.rate, once);
    for (const ticket of probe.slice(1)) rate.onThrottle(ticket);
    assert.ok(rate.rate < once, 'a run of throttles at the new rate lowers it again');
  });

  void it('without evidence, any throttle at the new rate lowers it again', () => {
    const clock = { now: 0 };
    const rate = new AdaptiveRate({ ceiling: 50, evidence: false, now: () => clock.now });
    const [first] = send(rate, clock, 10, 50);
    rate.onThrottle(first!);
    const once = rate.rate;
    const [probe] = send(rate, clock, 1, once);
    assert.equal(rate.onThrottle(probe!), 'cut');
    assert.ok(rate.rate < once);
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

  void it('random throttles at a constant share do not drive the rate down: the probe finds them background and undoes the cut', () => {
    const clock = { now: 0 };
    let undone = 0;
    const rate = new AdaptiveRate({ now: () => clock.now, onCutUndone: () => (undone += 1) });
    const run = drive(rate, clock, { demand: 50, seconds: 60, background: 0.3 });
    assert.ok(undone >= 1, 'a cut was undone');
    assert.ok(run.lowestRate >= 25, `the rate stayed up, lowest ${run.lowestRate.toFixed(1)}/s over the last 15 s`);
    assert.ok(run.answeredPerSecond >= 0.9 * 50 * 0.7, `answered ${run.answeredPerSecond.toFixed(1)}/s of the 35/s that get through`);
    assert.ok(rate.background > 0.15 && rate.background <= 0.5, `background taken as ${rate.background}`);

    // The same run, every throttle taken as the quota's: cut after cut, down towards the floor.
    const naiveClock = { now: 0 };
    const naive = new AdaptiveRate({ evidence: false, now: () => naiveClock.now });
    const collapsed = drive(naive, naiveClock, { demand: 50, seconds: 60, background: 0.3 });
    assert.ok(collapsed.answeredPerSecond < 10, `without evidence ${collapsed.answeredPerSecond.toFixed(1)}/s`);
  });

  void it("a quota's throttles still cut the rate: alone, and when it appears on top of background throttles", () => {
    const clock = { now: 0 };
    const rate = new AdaptiveRate({ now: () => clock.now });
    const alone = drive(rate, clock, { demand: 100, seconds: 60, background: 0, quota: 20 });
    assert.ok(alone.sendPerSecond <= 1.25 * 20, `sends ${alone.sendPerSecond.toFixed(1)}/s against a quota of 20/s`);
    assert.ok(alone.answeredPerSecond >= 0.8 * 20, `answered ${alone.answeredPerSecond.toFixed(1)}/s`);

    // 30% background first (learnt, tolerated), then a quota of 20/s appears: at most 20/0.7 = 29 sends/s
    // get through both. The rate comes down from the 100/s asked for, and the quota is kept busy.
    const mixedClock = { now: 0 };
    const mixed = new AdaptiveRate({ now: () => mixedClock.now });
    const before = drive(mixed, mixedClock, { demand: 100, seconds: 20, background: 0.3, seed: 2 });
    assert.ok(before.sendPerSecond > 90, `background alone: sends ${before.sendPerSecond.toFixed(1)}/s`);
    const after = drive(mixed, mixedClock, { demand: 100, seconds: 60, background: 0.3, quota: 20, seed: 3 });
    assert.ok(after.sendPerSecond < 60, `with the quota: sends ${after.sendPerSecond.toFixed(1)}/s`);
    assert.ok(after.answeredPerSecond >= 0.8 * 20, `answered ${after.answeredPerSecond.toFixed(1)}/s`);
  });
});

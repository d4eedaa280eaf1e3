// A warning for something that happens to every request once it starts: at most one line per
// interval, carrying how many times it happened since the line before.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OccasionalWarning } from '../src/log/occasional-warning.ts';

void describe('OccasionalWarning', () => {
  void it('logs the first occurrence, then one line per interval with the count since the last line', () => {
    const lines: { obj: Record<string, unknown>; msg: string }[] = [];
    const warning = new OccasionalWarning({ warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) }, 'model down', 60_000, 'questions');
    warning.warn({ reason: 'a' }, 1_000);
    for (let at = 2_000; at < 61_000; at += 1_000) warning.warn({ reason: 'b' }, at);
    assert.equal(lines.length, 1, 'nothing more within the interval');
    warning.warn({ reason: 'c' }, 61_000);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines.map((line) => line.obj), [
      { reason: 'a', questions: 1 },
      { reason: 'c', questions: 60 },
    ]);
    assert.ok(lines.every((line) => line.msg === 'model down'));
  });
});

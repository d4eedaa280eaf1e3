import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { CONSOLE_LINE_MAX_CHARS, routeConsoleTo } from '../src/log/console-bridge.ts';
import { createLogger } from '../src/log/logger.ts';

function capture(level = 'info') {
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const log = createLogger({ level, destination: sink, pseudonymKey: 'test-key' });
  return {
    log,
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('routeConsoleTo', () => {
  it('turns each console call into one redacted log line at the matching level', () => {
    const out = capture('debug');
    const originalError = console.error;
    const restore = routeConsoleTo(out.log);
    try {
      const error = new Error('token refused for jane.doe@example.com');
      console.error(error, 'Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQtdmFsdWU.c2lnbmF0dXJlLXZhbHVlLXh5eg');
      console.warn('careful: %s', 'ring 415-555-0100');
      console.log('plain', 42);
      console.info({ user: 'U0ALICE', note: 'info' });
      console.debug('debugging');
      console.dir({ nested: { deep: true } });
    } finally {
      restore();
    }
    assert.equal(console.error, originalError, 'restore puts the original back');
    const lines = out.lines();
    assert.deepEqual(
      lines.map((line) => [line.level, line.source]),
      [
        [50, 'console.error'],
        [40, 'console.warn'],
        [30, 'console.log'],
        [30, 'console.info'],
        [20, 'console.debug'],
        [30, 'console.dir'],
      ],
    );
    const raw = out.text();
    assert.doesNotMatch(raw, /jane\.doe@example\.com/);
    assert.doesNotMatch(raw, /eyJhbGciOiJSUzI1NiJ9/);
    assert.doesNotMatch(raw, /c2VjcmV0LXBheWxvYWQtdmFsdWU/);
    assert.doesNotMatch(raw, /555-0100/);
    assert.match(String(lines[0]!.msg), /token refused for \[email\]/);
    assert.match(String(lines[0]!.msg), /at /, 'the stack is kept, redacted');
    assert.match(String(lines[2]!.msg), /^plain 42$/);
  });

  it('drops lines below the logger level and cuts very long ones', () => {
    const out = capture('warn');
    const restore = routeConsoleTo(out.log);
    try {
      console.log('not at warn');
      console.debug('not at warn either');
      console.warn('x'.repeat(CONSOLE_LINE_MAX_CHARS * 3));
    } finally {
      restore();
    }
    const lines = out.lines();
    assert.equal(lines.length, 1);
    assert.ok(String(lines[0]!.msg).length <= CONSOLE_LINE_MAX_CHARS + 10);
  });

  it('nests: a later bridge wins, and restoring in reverse order gives the original back', () => {
    const first = capture();
    const second = capture();
    const original = console.warn;
    const restoreFirst = routeConsoleTo(first.log);
    const restoreSecond = routeConsoleTo(second.log);
    console.warn('to the second logger');
    restoreSecond();
    console.warn('to the first logger');
    restoreFirst();
    assert.equal(console.warn, original);
    assert.equal(first.lines().length, 1);
    assert.equal(second.lines().length, 1);
  });
});

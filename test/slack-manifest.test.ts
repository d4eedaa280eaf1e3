import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const manifest = readFileSync(new URL('../manifest/slack.yaml', import.meta.url), 'utf8');

/** The items of the YAML list under `key:` (a plain block list of scalars). */
function listUnder(key: string): string[] {
  const lines = manifest.split('\n');
  const start = lines.findIndex((line) => line.trim() === `${key}:`);
  assert.ok(start >= 0, `${key} in manifest`);
  const items: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^\s*#/.test(line)) continue;
    const item = /^\s*-\s+(\S+)\s*$/.exec(line);
    if (item === null) break;
    items.push(item[1]!);
  }
  return items;
}

describe('Slack app manifest', () => {
  it('asks only for the bot scopes the adapter uses', () => {
    assert.deepEqual(listUnder('bot').sort(), ['app_mentions:read', 'chat:write', 'commands', 'im:history']);
  });

  it('subscribes to DMs and mentions, with /hr and interactivity, all on /slack/events', () => {
    assert.deepEqual(listUnder('bot_events').sort(), ['app_mention', 'message.im']);
    assert.match(manifest, /- command: \/hr\n/);
    assert.match(manifest, /interactivity:\n\s+is_enabled: true/);
    const urls = [...manifest.matchAll(/^\s*(?:request_)?url:\s*(\S+)/gm)].map((m) => m[1]);
    assert.equal(urls.length, 3);
    for (const url of urls) assert.equal(url, 'https://hrbot.example.com/slack/events');
    assert.match(manifest, /messages_tab_enabled: true/);
    assert.match(manifest, /messages_tab_read_only_enabled: false/);
  });
});

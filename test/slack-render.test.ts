import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMessageEvent, stripBotMention } from '../adapters/slack/parse.ts';
import { MAX_BLOCKS_PER_MESSAGE, MAX_SECTION_CHARS, renderReply, splitText, toMrkdwn } from '../adapters/slack/render.ts';
import type { Reply } from '../src/message.ts';

const bot = { userId: 'UBOT', botId: 'BBOT' };
const envelope = { event_id: 'Ev1', team_id: 'T1' };

describe('markdown to Slack mrkdwn', () => {
  it('converts bold, italics, links, lists and headings, and escapes control characters', () => {
    assert.equal(toMrkdwn('**Parental leave** is *16 weeks*'), '*Parental leave* is _16 weeks_');
    assert.equal(toMrkdwn('See [the policy](https://hr.example.com/leave?a=1&b=2)'), 'See <https://hr.example.com/leave?a=1&amp;b=2|the policy>');
    assert.equal(toMrkdwn('- one\n- two\n  * nested'), '• one\n• two\n  • nested');
    assert.equal(toMrkdwn('## Holidays'), '*Holidays*');
    assert.equal(toMrkdwn('a < b & c > d'), 'a &lt; b &amp; c &gt; d');
    assert.equal(toMrkdwn('~~old~~ _kept_'), '~old~ _kept_');
    assert.equal(toMrkdwn('use `**raw**` as is'), 'use `**raw**` as is');
    assert.equal(toMrkdwn('[snake_case_link](https://x.test/a_b_c)'), '<https://x.test/a_b_c|snake_case_link>');
  });
});

describe('splitting long replies', () => {
  it('splits at paragraph and line boundaries, never mid-word, and loses nothing', () => {
    const paragraphs = Array.from({ length: 40 }, (_, i) => `Paragraph ${i}: ${'word '.repeat(60 + i).trim()}.`);
    const text = paragraphs.join('\n\n');
    const pieces = splitText(text, MAX_SECTION_CHARS);
    assert.ok(pieces.length > 1);
    for (const piece of pieces) {
      assert.ok(piece.length <= MAX_SECTION_CHARS);
      assert.match(piece, /^Paragraph \d+:/);
      assert.match(piece, /\.$/);
    }
    assert.equal(pieces.join('\n\n'), text);
  });

  it('splits a huge reply into several messages within the block limit, buttons and sources on the last', () => {
    const text = Array.from({ length: 400 }, (_, i) => `Line ${i}: ${'x'.repeat(280)}`).join('\n\n');
    const reply: Reply = {
      kind: 'answer',
      text,
      sources: [{ file: 'leave.md', title: 'Leave', heading: 'Parental', headingPath: 'Leave › Parental', anchor: 'parental' }],
      visibility: 'public',
      answerId: 'a1',
    };
    const messages = renderReply(reply);
    assert.ok(messages.length > 1);
    const all = messages.flatMap((m) => m.blocks);
    for (const message of messages) {
      assert.ok(message.blocks.length <= MAX_BLOCKS_PER_MESSAGE);
      assert.ok(message.text.length > 0);
    }
    const sections = all.filter((b) => b.type === 'section').map((b) => (b.type === 'section' ? (b.text?.text ?? '') : ''));
    assert.ok(sections.every((s) => s.length <= MAX_SECTION_CHARS));
    assert.equal(sections.join('\n\n'), toMrkdwn(text));
    assert.equal(all.filter((b) => b.type === 'actions').length, 1);
    assert.equal(messages.at(-1)!.blocks.at(-1)!.type, 'actions');
    assert.equal(messages.at(-1)!.blocks.at(-2)!.type, 'context');
  });
});

describe('Slack event parsing', () => {
  it('ignores the bot itself, other bots, edits, deletions, joins and channel messages', () => {
    const base = { type: 'message', channel: 'D1', channel_type: 'im', user: 'U1', text: 'hi', ts: '1.1' };
    const skips = [
      { ...base, user: 'UBOT' },
      { ...base, bot_id: 'BBOT' },
      { ...base, bot_id: 'BOTHER', user: 'UOTHERBOT' },
      { ...base, subtype: 'bot_message', bot_id: 'BOTHER' },
      { ...base, subtype: 'message_changed' },
      { ...base, subtype: 'message_deleted' },
      { ...base, subtype: 'channel_join' },
      { ...base, edited: { user: 'U1', ts: '1.2' } },
      { ...base, channel_type: 'channel', channel: 'C1' },
      { type: 'app_mention', channel: 'D1', channel_type: 'im', user: 'U1', text: '<@UBOT> hi', ts: '1.1' },
    ];
    for (const event of skips) assert.ok('skip' in parseMessageEvent(envelope, event, bot), JSON.stringify(event));
    assert.ok('message' in parseMessageEvent(envelope, base, bot));
  });

  it('takes identity from the envelope and the thread from the mention', () => {
    const parsed = parseMessageEvent(envelope, { type: 'app_mention', channel: 'C1', user: 'U1', text: '<@UBOT|hrbot> what is PTO?', ts: '5.5' }, bot);
    assert.ok('message' in parsed);
    assert.equal(parsed.message.tenantId, 'T1');
    assert.equal(parsed.message.userId, 'U1');
    assert.equal(parsed.message.threadId, '5.5');
    assert.equal(parsed.message.text, 'what is PTO?');
    assert.equal(parsed.message.eventId, 'Ev1');
    assert.equal(stripBotMention('<@UBOT> hi <@UOTHER>', 'UBOT'), 'hi <@UOTHER>');
  });
});

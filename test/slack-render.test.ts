import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMessageEvent, stripBotMention } from '../adapters/slack/parse.ts';
import { MAX_BLOCKS_PER_MESSAGE, MAX_SECTION_CHARS, renderReply, splitText, toMrkdwn } from '../adapters/slack/render.ts';
import type { Reply } from '../src/message.ts';

const bot = { userId: 'UBOT', botId: 'BBOT' };
const envelope = { event_id: 'Ev1', team_id: 'T1' };
const trusted = { trustedLinkHosts: new Set(['x.test']) };

describe('markdown to Slack mrkdwn', () => {
  it('converts bold, italics, links, lists and headings, and escapes control characters', () => {
    assert.equal(toMrkdwn('**Parental leave** is *16 weeks*'), '*Parental leave* is _16 weeks_');
    assert.equal(toMrkdwn('See [the policy](https://hr.example.com/leave?a=1&b=2)'), 'See the policy (<https://hr.example.com/leave?a=1&amp;b=2>)');
    assert.equal(toMrkdwn('- one\n- two\n  * nested'), '• one\n• two\n  • nested');
    assert.equal(toMrkdwn('## Holidays'), '*Holidays*');
    assert.equal(toMrkdwn('a < b & c > d'), 'a &lt; b &amp; c &gt; d');
    assert.equal(toMrkdwn('~~old~~ _kept_'), '~old~ _kept_');
    assert.equal(toMrkdwn('use `**raw**` as is'), 'use `**raw**` as is');
    assert.equal(toMrkdwn('[snake_case_link](https://x.test/a_b_c)', trusted), '<https://x.test/a_b_c|snake_case_link>');
  });

  it('keeps a link label only for the URL itself or a trusted host; otherwise shows where it goes', () => {
    assert.equal(toMrkdwn('[Verify payroll](https://evil.example/login)'), 'Verify payroll (<https://evil.example/login>)');
    assert.equal(toMrkdwn('[Leave](https://x.test/leave)', trusted), '<https://x.test/leave|Leave>');
    assert.equal(toMrkdwn('[https://evil.example/](https://evil.example/)'), '<https://evil.example/|https://evil.example/>');
    assert.equal(toMrkdwn('[**Leave**](https://x.test/a|b>c)', trusted), '<https://x.test/a%7Cb&gt;c|Leave>', 'a | or > in the URL cannot end it');
    assert.equal(toMrkdwn('see https://x.test/a_b_c.'), 'see <https://x.test/a_b_c>.');
  });

  it('never produces a mention, broadcast or link from link syntax with another target', () => {
    assert.equal(toMrkdwn('[everyone](!channel)'), 'everyone (!channel)');
    assert.equal(toMrkdwn('[hi](!here) [boss](@U0VICTIM1) [team](!subteam^S1) [x](<@U1>)'), 'hi (!here) boss (@U0VICTIM1) team (!subteam^S1) x (&lt;@U1&gt;)');
    assert.equal(toMrkdwn('[Open](mailto:a@evil.example) [run](javascript:alert(1))'), 'Open (mailto:a@evil.example) run (javascript:alert(1))');
    for (const raw of ['<!channel>', '<!here|here>', '<@U0123ABCD>', '<!subteam^S1|hr>', '<https://evil.example|Verify>', '`<!here>`', '```\n<!channel>\n```']) {
      assert.doesNotMatch(toMrkdwn(raw), /<[!@#]|\|Verify>/, raw);
    }
  });

  it('shows backslash-escaped characters literally and ignores placeholder characters typed by a user', () => {
    assert.equal(toMrkdwn('\\[everyone\\]\\(\\!channel\\)'), '[everyone](!channel)');
    assert.equal(toMrkdwn('_\\<!here\\> \\*not bold\\*_'), '_&lt;!here&gt; *not bold*_');
    assert.equal(toMrkdwn('a \\` b ` c`'), 'a ` b ` c`');
    assert.equal(toMrkdwn('x\uE0010\uE001y\uE000'), 'x0y');
  });

  it('marks every mrkdwn block verbatim, so Slack adds no links or mentions of its own', () => {
    const reply: Reply = { kind: 'lookup', text: 'ask @channel in #general', sources: [{ file: 'a.md', title: 'A', heading: 'B', headingPath: 'A › B', anchor: 'b' }], visibility: 'public' };
    const blocks = renderReply(reply)[0]!.blocks;
    const texts = blocks.flatMap((block) => (block.type === 'section' ? [block.text] : block.type === 'context' ? block.elements : []));
    assert.ok(texts.length >= 2);
    for (const text of texts) assert.deepEqual('verbatim' in text! ? text.verbatim : undefined, true);
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
    assert.equal(all.filter((b) => b.type === 'context_actions').length, 1);
    assert.equal(messages.at(-1)!.blocks.at(-1)!.type, 'context_actions');
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

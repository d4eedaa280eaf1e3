import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMessageEvent, parsePromptsEvent, stripBotMention } from '../adapters/slack/parse.ts';
import {
  MAX_BLOCKS_PER_MESSAGE,
  MAX_MARKDOWN_CHARS,
  MAX_SECTION_CHARS,
  renderReply,
  SlackMarkdownStream,
  slackRenderOptions,
  sourceUrl,
  splitText,
  toMrkdwn,
  toSlackMarkdown,
} from '../adapters/slack/render.ts';
import type { Reply, Source } from '../src/message.ts';
import { blocksError } from './fakes/fake-slack-api.ts';
import type { RecordedBlock } from './fakes/fake-slack-api.ts';

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

  it('marks every mrkdwn element verbatim, so Slack adds no links or mentions of its own', () => {
    const reply: Reply = { kind: 'lookup', text: 'ask @channel in #general', sources: [{ file: 'a.md', title: 'A', heading: 'B', headingPath: 'A › B', anchor: 'b' }], visibility: 'public' };
    const blocks = renderReply(reply)[0]!.blocks;
    const texts = blocks.flatMap((block) => (block.type === 'section' ? [block.text] : block.type === 'context' ? block.elements : []));
    assert.ok(texts.length >= 1);
    for (const text of texts) assert.deepEqual('verbatim' in text! ? text.verbatim : undefined, true);
  });
});

const ZW = '\u200B';
const source = (file: string, heading: string, anchor: string): Source => ({ file, title: 'Leave', heading, headingPath: `Leave › ${heading}`, anchor });

describe('reply markdown for Slack markdown blocks and streams', () => {
  it('keeps markdown (Slack renders it) and breaks only what could reach someone', () => {
    assert.equal(toSlackMarkdown('**Parental leave** is *16 weeks*\n\n- one\n- two\n\n## Holidays\n\n| a | b |\n|---|---|\n| 1 | 2 |'), '**Parental leave** is *16 weeks*\n\n- one\n- two\n\n## Holidays\n\n| a | b |\n|---|---|\n| 1 | 2 |');
    assert.equal(toSlackMarkdown('<!channel> <@U1> <!subteam^S1|hr> a & b'), `<${ZW}!channel> <${ZW}@U1> <${ZW}!subteam^S1|hr> a &${ZW} b`);
    assert.equal(toSlackMarkdown('ping @channel and @here, not me@here.example'), `ping @${ZW}channel and @${ZW}here, not me@${ZW}here.example`);
    assert.equal(toSlackMarkdown('use `<!here>` and\n```\n<@U1>\n```'), `use \`<${ZW}!here>\` and\n\`\`\`\n<${ZW}@U1>\n\`\`\``);
  });

  it('keeps a link label only for the URL itself or a trusted host; anything else shows where it goes', () => {
    const trusted = { trustedLinkHosts: new Set(['hr.example.com']) };
    assert.equal(toSlackMarkdown('[Leave](https://hr.example.com/leave)', trusted), '[Leave](https://hr.example.com/leave)');
    assert.equal(toSlackMarkdown('[Verify payroll](https://evil.example/login)', trusted), 'Verify payroll (https://evil.example/login)');
    assert.equal(toSlackMarkdown('[everyone](!channel) [boss](<@U1>) [x](javascript:alert(1))'), `everyone (!channel) boss (<${ZW}@U1>) x (javascript:alert(1))`);
    assert.equal(toSlackMarkdown('[a](https://hr.example.com/x(y)', trusted), '[a](https://hr.example.com/x%28y)', 'a parenthesis cannot end the destination early');
    assert.equal(toSlackMarkdown('![https://e.test/p.png](https://e.test/p.png) ![logo](https://hr.example.com/l.png)', trusted), `!${ZW}[https://e.test/p.png](https://e.test/p.png) !${ZW}[logo](https://hr.example.com/l.png)`, 'never an embedded image');
  });

  it('keeps user text escaped: a quoted payload stays characters, never a link or mention', () => {
    const quoted = 'what about \\[Verify\\]\\(https://evil.example/\\) \\<\\!here\\>';
    const out = toSlackMarkdown(quoted);
    assert.doesNotMatch(out, /(?<!\\)\[[^\]]*\]\(/);
    assert.doesNotMatch(out, /<[!@]/);
    assert.equal(out.replace(new RegExp(ZW, 'g'), '').replace(/\\(.)/g, '$1'), 'what about [Verify](https://evil.example/) <!here>');
  });

  it('hands out streamed deltas so the stream shows exactly what the whole reply renders to, however it is cut', () => {
    const text = 'See [the leave page](https://hr.example.com/l) now @channel\n<!here> and `code [x](y) z` then [evil page](https://e.test/a)\n```\ncode <x> [a](b)\n```\nend';
    const options = { trustedLinkHosts: new Set(['hr.example.com']) };
    for (const size of [1, 2, 3, 5, 8, 13, 1000]) {
      const stream = new SlackMarkdownStream(options);
      let shown = '';
      for (let i = 0; i < text.length; i += size) shown += stream.push(text.slice(i, i + size));
      shown += stream.end();
      assert.equal(shown, toSlackMarkdown(text, options), `deltas of ${size}`);
      assert.equal(stream.shown, shown);
      assert.equal(stream.raw, text);
    }
    const words = new SlackMarkdownStream();
    assert.equal(words.push('one two thr'), 'one two ', 'a paragraph streams by words, without waiting for its end');
  });

  it('renders the body as one markdown block, with the sources linked to KNOWLEDGE_BASE_URL', () => {
    const options = slackRenderOptions({ KNOWLEDGE_BASE_URL: 'https://hr.example.com/handbook' });
    const reply: Reply = { kind: 'answer', text: 'You get **25 days**. See [PTO](https://hr.example.com/handbook/pto.md).', sources: [source('leave/pto.md', 'Carry over', 'carry-over')], visibility: 'public', answerId: 'a1' };
    const [message, ...more] = renderReply(reply, options);
    assert.equal(more.length, 0);
    assert.deepEqual(message!.blocks[0], { type: 'markdown', text: 'You get **25 days**. See [PTO](https://hr.example.com/handbook/pto.md).' });
    assert.equal(message!.text, 'You get *25 days*. See <https://hr.example.com/handbook/pto.md|PTO>.');
    const context = message!.blocks[1]!;
    assert.equal(context.type, 'context');
    assert.equal(context.type === 'context' && 'text' in context.elements[0]! ? context.elements[0].text : '', ':book: *Sources:* <https://hr.example.com/handbook/leave/pto.md#carry-over|Leave › Carry over>');
    assert.equal(blocksError(message!.blocks as unknown as RecordedBlock[]), undefined);
  });

  it('shows sources as file › heading without KNOWLEDGE_BASE_URL, and builds links from file path and anchor', () => {
    const reply: Reply = { kind: 'excerpts', text: 'x', sources: [source('pto.md', 'Carry <over>', 'carry-over'), source('pto.md', 'Carry <over>', 'carry-over')], visibility: 'public' };
    const context = renderReply(reply)[0]!.blocks.find((b) => b.type === 'context');
    assert.equal(context?.type === 'context' && 'text' in context.elements[0]! ? context.elements[0].text : '', ':book: *Sources:* `pto.md` › Carry &lt;over&gt;');
    assert.equal(sourceUrl({ file: 'people/parental leave.md', anchor: 'who-is-eligible' }, 'https://hr.example.com/'), 'https://hr.example.com/people/parental%20leave.md#who-is-eligible');
    assert.equal(sourceUrl({ file: 'pto.md', anchor: 'x' }, undefined), undefined);
    assert.deepEqual(slackRenderOptions({}), {});
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

  it('splits a reply over 12,000 characters into several messages Slack accepts, buttons and sources on the last', () => {
    const text = Array.from({ length: 400 }, (_, i) => `Line ${i}: ${'x'.repeat(280)} <!here>`).join('\n\n');
    const reply: Reply = { kind: 'answer', text, sources: [source('leave.md', 'Parental', 'parental')], visibility: 'public', answerId: 'a1' };
    const messages = renderReply(reply);
    assert.ok(messages.length > 1);
    for (const message of messages) {
      assert.ok(message.blocks.length <= MAX_BLOCKS_PER_MESSAGE);
      assert.ok(message.text.length > 0);
      assert.equal(blocksError(message.blocks as unknown as RecordedBlock[]), undefined, 'within every limit the fake enforces');
      const markdown = message.blocks.flatMap((b) => (b.type === 'markdown' ? [b.text] : []));
      assert.equal(markdown.length, 1);
      assert.ok(markdown[0]!.length <= MAX_MARKDOWN_CHARS);
      assert.match(markdown[0]!, /^Line \d+:/, 'each message starts at a paragraph');
    }
    const all = messages.flatMap((m) => m.blocks);
    const body = all.flatMap((b) => (b.type === 'markdown' ? [b.text] : [])).join('\n\n');
    assert.equal(body, toSlackMarkdown(text));
    assert.equal(all.filter((b) => b.type === 'context_actions').length, 1);
    assert.equal(messages.at(-1)!.blocks.at(-1)!.type, 'context_actions');
    assert.equal(messages.at(-1)!.blocks.at(-2)!.type, 'context');
  });

  it('is refused by the fake where Slack would refuse it: over 50 blocks, 12,000 markdown characters, 3,000 in a section', () => {
    assert.match(blocksError(Array.from({ length: 51 }, () => ({ type: 'divider' }))) ?? '', /50 blocks/);
    assert.match(blocksError([{ type: 'markdown', text: 'a'.repeat(6001) }, { type: 'markdown', text: 'b'.repeat(6000) }]) ?? '', /12000/);
    assert.match(blocksError([{ type: 'section', text: { type: 'mrkdwn', text: 'a'.repeat(3001) } }]) ?? '', /3000/);
    assert.equal(blocksError([{ type: 'markdown', text: 'a'.repeat(12_000) }]), undefined);
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

  it("answers a DM in its own thread: a top-level DM starts one, a reply stays in the thread it was written in", () => {
    const top = parseMessageEvent(envelope, { type: 'message', channel: 'D1', channel_type: 'im', user: 'U1', text: 'hi', ts: '7.7' }, bot);
    assert.ok('message' in top);
    assert.deepEqual(top.target, { channel: 'D1', userId: 'U1', teamId: 'T1', kind: 'dm', threadTs: '7.7', startsThread: true });
    assert.equal(top.message.threadId, '7.7');
    const reply = parseMessageEvent(envelope, { type: 'message', channel: 'D1', channel_type: 'im', user: 'U1', text: 'and?', ts: '8.8', thread_ts: '7.7' }, bot);
    assert.ok('message' in reply);
    assert.deepEqual(reply.target, { channel: 'D1', userId: 'U1', teamId: 'T1', kind: 'dm', threadTs: '7.7' });
    const mention = parseMessageEvent(envelope, { type: 'app_mention', channel: 'C1', user: 'U1', text: '<@UBOT> hi', ts: '9.9' }, bot);
    assert.ok('message' in mention);
    assert.equal(mention.target.startsThread, undefined, "a mention's thread is the channel's, titled by no one");
  });

  it('reads suggested-prompt requests: the Messages tab opened (agent view) or an assistant thread started', () => {
    assert.deepEqual(parsePromptsEvent(envelope, { type: 'app_home_opened', user: 'U1', channel: 'D1', tab: 'messages' }), { tenantId: 'T1', userId: 'U1', channel: 'D1' });
    assert.equal(parsePromptsEvent(envelope, { type: 'app_home_opened', user: 'U1', channel: 'D1', tab: 'home' }), undefined, 'the Home tab is not a conversation');
    assert.equal(parsePromptsEvent({ event_id: 'Ev2' }, { type: 'app_home_opened', user: 'U1', channel: 'D1', tab: 'messages' }), undefined, 'no verified workspace');
    assert.deepEqual(
      parsePromptsEvent(envelope, { type: 'assistant_thread_started', assistant_thread: { user_id: 'U1', channel_id: 'D1', thread_ts: '1.2' } }),
      { tenantId: 'T1', userId: 'U1', channel: 'D1', threadTs: '1.2' },
    );
    assert.equal(parsePromptsEvent(envelope, { type: 'assistant_thread_started', assistant_thread: { channel_id: 'D1', thread_ts: '1.2' } }), undefined);
  });
});

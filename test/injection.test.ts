import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { escapeMrkdwn } from '../adapters/slack/render.ts';
import { renderText } from '../adapters/console/render-text.ts';
import { teamsMarkdown } from '../adapters/teams/render-reply.ts';
import { quoteUserText } from '../src/engine/user-text.ts';
import type { RecordedCall } from './fakes/fake-slack-api.ts';
import { sectionText } from './support/slack-blocks.ts';
import { streamingAnswerer } from './support/test-answerers.ts';
import type { SlackTestBot } from './support/slack-bot.ts';
import { startSlackBot } from './support/slack-bot.ts';
import { commandBody, dmEvent, eventBody, FORM_TYPE, JSON_TYPE, mentionEvent, postSigned } from './support/slack-requests.ts';
import type { TeamsBot } from './support/teams-bot.ts';
import { ALICE, channelMessage, personalMessage, startTeamsBot } from './support/teams-bot.ts';

/**
 * What a user can type to make the bot say something live on their behalf: Slack broadcasts,
 * mentions and group mentions (raw, as Slack delivers a real @channel, and as markdown links,
 * which the renderer used to turn into Slack links), and links whose label hides where they go.
 */
const SLACK_PAYLOADS = [
  '<!channel>',
  '<!here>',
  '<@U0VICTIM1>',
  '<!subteam^S0HRTEAM|hr-team>',
  '<https://evil.example/login|Verify payroll>',
  '[everyone](!channel)',
  '[everyone here](!here)',
  '[your manager](@U0VICTIM1)',
  '[hr team](!subteam^S0HRTEAM)',
  '[Verify payroll](https://evil.example/login)',
  '[Open](mailto:attacker@evil.example)',
];

/** Anything in a Slack message that notifies people or links under a label other than its URL. */
function slackViolations(calls: readonly RecordedCall[]): string[] {
  const found: string[] = [];
  for (const call of calls) {
    const json = JSON.stringify(call.args);
    for (const live of json.match(/<!channel|<!here|<!everyone|<@[UW]|<!subteam|<#C/g) ?? []) found.push(`${call.method}: ${live}`);
    for (const [, url, label] of json.matchAll(/<((?:https?|mailto):[^|>]*)\|([^>]*)>/g)) {
      if (label !== url) found.push(`${call.method}: link "${label}" → ${url}`);
    }
    // Markdown Slack renders itself (markdown blocks, streamed text): a `[label](url)` link is live there.
    const markdown = [...(call.args.blocks ?? []).flatMap((b) => (typeof b.text === 'string' ? [b.text] : [])), String(call.args.markdown_text ?? ''), ...(call.args.chunks ?? []).map((c) => c.text ?? '')];
    for (const text of markdown) {
      for (const [, label, url] of text.matchAll(/(?<!\\)\[([^\]]*)\]\(([^)\s]*)\)/g)) {
        if (label !== url) found.push(`${call.method}: markdown link "${label}" → ${url}`);
      }
    }
  }
  return found;
}

/** A reply's markdown read back as typed: no zero-width breaks, backslash escapes undone, bare links as their URL. */
function asTyped(markdown: string): string {
  return markdown.replace(/\u200B/g, '').replace(/\\([!-/:-@[-`{-~])/g, '$1');
}

/** Calls that carry a rendered reply (placeholders and status lines have no blocks). */
function replies(t: SlackTestBot): RecordedCall[] {
  return t.api.calls.filter((call) => call.args.blocks !== undefined && ['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'response_url'].includes(call.method));
}

describe('Slack: user text never becomes a mention, broadcast or labelled link', () => {
  let t: SlackTestBot;
  before(async () => {
    t = await startSlackBot({ env: { RATE_LIMIT_PER_MINUTE: '1000' } });
  });
  after(async () => {
    await t.close();
  });

  it('in public channel replies: /hr policy (found and not found), an unknown command and /hr contact', async () => {
    const start = replies(t).length;
    const texts = SLACK_PAYLOADS.flatMap((payload) => [`/hr policy parental leave ${payload}`, `/hr policy ${payload}`, `/hr ${payload}`, `/hr contact ${payload}`]);
    for (const text of texts) {
      const response = await postSigned(t.baseUrl, eventBody(mentionEvent(text, 'UMALLORY')), JSON_TYPE);
      assert.equal(response.status, 200);
    }
    await t.api.waitFor(() => replies(t).length >= start + texts.length, 15_000, 'every mention answered');
    const posted = replies(t).slice(start);
    assert.ok(posted.every((call) => call.method === 'chat.postMessage'), 'these replies are public');
    assert.deepEqual(slackViolations(t.api.calls), []);
    // The text is shown as typed, not dropped: the escaped payload is in the echo, and in the
    // notification fallback (mrkdwn, where bare URLs are made links that show themselves).
    const all = posted.map((call) => asTyped(sectionText(call.args.blocks))).join('\n');
    for (const payload of SLACK_PAYLOADS) assert.ok(all.includes(payload), `${payload} is echoed literally`);
    const fallback = posted.map((call) => String(call.args.text).replace(/<(https?:[^|>]*)>/g, '$1')).join('\n');
    for (const payload of SLACK_PAYLOADS) assert.ok(fallback.includes(escapeMrkdwn(payload)), `${payload} is echoed literally in the fallback text`);
  });

  it('in a DM question, the DM history list and a slash command', async () => {
    const start = replies(t).length;
    for (const payload of SLACK_PAYLOADS) {
      const response = await postSigned(t.baseUrl, eventBody(dmEvent(`what about ${payload}`, 'UMALLORY')), JSON_TYPE);
      assert.equal(response.status, 200);
    }
    await t.api.waitFor(() => replies(t).length >= start + SLACK_PAYLOADS.length, 15_000, 'every DM answered');
    await postSigned(t.baseUrl, eventBody(dmEvent('/hr history', 'UMALLORY')), JSON_TYPE);
    for (const payload of SLACK_PAYLOADS) {
      await postSigned(t.baseUrl, commandBody(`policy ${payload}`, t.api.responseUrl(`inj-${SLACK_PAYLOADS.indexOf(payload)}`), 'UMALLORY'), FORM_TYPE);
    }
    await t.api.waitFor(() => replies(t).length >= start + 2 * SLACK_PAYLOADS.length + 1, 15_000, 'history and slash commands answered');
    assert.deepEqual(slackViolations(t.api.calls), []);
    const history = replies(t).find((call) => /Your last/.test(sectionText(call.args.blocks)));
    assert.ok(history, 'the history list was posted');
    assert.match(sectionText(history.args.blocks), /what about \\\[Verify payroll\\\]\u200B\\\(https:\/\/evil\.example\/login\\\)/);
  });
});

const TEAMS_PAYLOADS = [
  '[Verify payroll](https://evil.example/login)',
  '[everyone](https://evil.example/x)',
  '![badge](https://evil.example/pixel.png)',
  '<at>Bob</at>',
  '<a href="https://evil.example/login">Verify payroll</a>',
  '<img src="https://evil.example/pixel.png">',
];

/** Anything in a Teams activity that links under a label other than its URL, or is a tag Teams could render. */
function teamsViolations(activities: ReadonlyArray<Record<string, unknown>>): string[] {
  const found: string[] = [];
  for (const activity of activities) {
    const json = JSON.stringify({ text: activity.text, attachments: activity.attachments });
    for (const [, label, url] of json.matchAll(/\[([^[\]]*)\]\(([^)\s]*)\)/g)) {
      if (label !== url) found.push(`link "${label}" → ${url}`);
    }
    for (const tag of json.match(/<(?:at|a|img)[\s>]/gi) ?? []) found.push(`tag ${tag}`);
  }
  return found;
}

describe('Teams: user text never becomes a link, tag or mention', () => {
  let t: TeamsBot;
  before(async () => {
    t = await startTeamsBot({ RATE_LIMIT_PER_MINUTE: '1000' });
  });
  after(async () => {
    await t.close();
  });

  it('in personal chat replies (policy, not found, unknown command, contact, a question, history) and a channel reply', async () => {
    const personal = `a:personal-${ALICE.aadObjectId}`;
    const texts = TEAMS_PAYLOADS.flatMap((payload) => [`policy parental leave ${payload}`, `policy ${payload}`, `/hr ${payload}`, `contact ${payload}`, `what about ${payload}`]);
    for (const text of texts) assert.equal((await t.post(personalMessage(t.connector.serviceUrl, text))).status, 200);
    // A burst gets "questions ahead of yours" notices, each replaced by its answer: count what is shown, once settled.
    const answered = (count: number) => {
      const shown = t.connector.shownMessages(personal);
      return shown.length >= count && shown.every((call) => !/ahead of yours/.test(String(call.activity.text)));
    };
    await t.connector.waitFor(() => answered(texts.length), 15_000, 'every personal message answered');
    await t.post(personalMessage(t.connector.serviceUrl, 'history'));
    await t.connector.waitFor(() => answered(texts.length + 1), 5000, 'history');
    const channel = '19:general-abc@thread.tacv2';
    for (const payload of TEAMS_PAYLOADS) await t.post(channelMessage(t.connector.serviceUrl, `policy parental leave ${payload}`));
    await t.connector.waitFor(() => t.connector.messages(channel).length >= TEAMS_PAYLOADS.length, 10_000, 'channel replies');
    assert.deepEqual(teamsViolations(t.connector.calls.map((call) => call.activity)), []);
    const history = t.connector.shownMessages(personal).at(-1)!.activity;
    assert.match(JSON.stringify(history), /Your last/);
  });
});

describe('quoting user text in replies', () => {
  it('escapes every markup character, flattens lines and cuts to the limit', () => {
    assert.equal(quoteUserText('[everyone](!channel)'), '\\[everyone\\]\\(\\!channel\\)');
    assert.equal(quoteUserText('<!here> *now* _x_ `y` ~z~ #1 a|b & c\\d'), '\\<\\!here\\> \\*now\\* \\_x\\_ \\`y\\` \\~z\\~ \\#1 a\\|b \\& c\\\\d');
    assert.equal(quoteUserText('line one\n\n# heading\n- item'), 'line one \\# heading - item');
    assert.equal(quoteUserText('x'.repeat(100), 10), `${'x'.repeat(10)}…`);
    assert.equal(quoteUserText('😀'.repeat(5), 2), '😀😀…', 'never cuts a surrogate pair');
  });
});

describe('Teams markdown', () => {
  it('keeps a link label only for the URL itself or a trusted host, and breaks every other link, tag and entity', () => {
    assert.equal(teamsMarkdown('[Verify payroll](https://evil.example/login)'), 'Verify payroll (https://evil.example/login)');
    assert.equal(teamsMarkdown('[Leave](https://hr.test/leave)', { trustedLinkHosts: new Set(['hr.test']) }), '[Leave](https://hr.test/leave)');
    assert.equal(teamsMarkdown('[https://hr.test/](https://hr.test/)'), '[https://hr.test/](https://hr.test/)');
    assert.equal(teamsMarkdown('[everyone](!channel)'), 'everyone (!channel)');
    assert.equal(teamsMarkdown('<at>Bob</at> &lt;b&gt;'), '<\u200Bat>Bob<\u200B/at> &\u200Blt;b&\u200Bgt;');
    assert.equal(teamsMarkdown('\\[x\\]\\(https://evil.example\\) _\\<at\\>_'), '[x]\u200B(https://evil.example) _<\u200Bat>_');
    assert.equal(teamsMarkdown('`[x](https://evil.example)` **bold**'), '`[x]\u200B(https://evil.example)` **bold**', 'cards have no code spans, so code is broken too');
  });
});

describe('streamed AI answers steered into links and mentions', () => {
  // Long enough to pass the Slack SDK's 256-character stream buffer, so the stream really starts.
  const chunks = [`${'Please read this. '.repeat(20)}`, '[Verify pay', 'roll](https://evil.example/login) and tell <!chan', `nel> and <at>Bob</at> now. ${'More. '.repeat(50)}`];

  it('Slack: a mention answer streamed in its thread carries no live link or broadcast', async () => {
    const t = await startSlackBot({ extensions: { answerer: streamingAnswerer(chunks) } });
    try {
      await postSigned(t.baseUrl, eventBody(mentionEvent('how many vacation days do I get?', 'USTEERED')), JSON_TYPE);
      await t.api.waitFor(() => t.api.callsOf('chat.stopStream').length === 1, 8000, 'stopStream');
      const streamed = t.api.calls.flatMap((call) => (call.args.chunks ?? []).map((chunk) => chunk.text ?? '')).join('');
      assert.ok(streamed.includes('Verify pay'), 'the answer was streamed');
      assert.doesNotMatch(streamed, /\]\(|<[!@a]/);
      assert.deepEqual(slackViolations(t.api.calls), []);
    } finally {
      await t.close();
    }
  });

  it('Teams: a streamed personal answer and its final message carry no live link or tag', async () => {
    const t = await startTeamsBot({}, { extensions: { answerer: streamingAnswerer(chunks) }, tuning: { stream: { minIntervalMs: 0 } } });
    try {
      await t.post(personalMessage(t.connector.serviceUrl, 'how many vacation days do I get?'));
      await t.connector.waitFor(() => t.connector.messages().length === 1, 8000, 'final message');
      const activities = t.connector.calls.map((call) => call.activity);
      assert.ok(activities.some((activity) => activity.type === 'typing' && String(activity.text ?? '').includes('Verify pay')), 'the answer was streamed');
      assert.deepEqual(teamsViolations(activities), []);
    } finally {
      await t.close();
    }
  });
});

describe('terminal chat', () => {
  it('shows quoted user text as typed, without the escapes', () => {
    const text = `I couldn't find anything about _${quoteUserText('[everyone](!channel) **x** <b>')}_.`;
    assert.equal(renderText({ kind: 'excerpts', text, sources: [], visibility: 'public' }, { color: false }), "I couldn't find anything about [everyone](!channel) **x** <b>.");
  });
});

// The pieces of a Teams AI answer checked against Teams' documented limits, one rule at a time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aiMessage, CITATION_LIMITS, plainText, sourceUrl } from '../adapters/teams/ai-message.ts';
import { teamsMarkdown } from '../adapters/teams/render-reply.ts';
import { streamableText } from '../adapters/teams/stream-progress.ts';
import type { Reply, Source } from '../src/message.ts';
import { validateActivity } from './fakes/fake-teams-connector.ts';

const source = (n: number, extra: Partial<Source> = {}): Source => ({
  file: `policy-${n}.md`,
  title: `Policy ${n}`,
  heading: `Section ${n}`,
  headingPath: `Policy ${n} › Section ${n}`,
  anchor: `section-${n}`,
  citation: n,
  passage: `Passage ${n} says something.`,
  ...extra,
});
const answer = (text: string, sources: Source[]): Reply => ({ kind: 'answer', text, sources, visibility: 'public' });
const render = { markdown: (text: string) => teamsMarkdown(text) };

describe('Teams AI message: citations within Teams limits', () => {
  it('cites at most 10 sources; later markers are dropped, and Teams (the fake) takes the result', () => {
    const sources = Array.from({ length: 12 }, (_, i) => source(i + 1));
    const text = sources.map((s) => `Fact [${s.citation}].`).join(' ');
    const ai = aiMessage(answer(text, sources), render);
    assert.equal(ai.entity.citation?.length, CITATION_LIMITS.maxCitations);
    assert.doesNotMatch(ai.text, /\[11\]|\[12\]/);
    assert.equal(validateActivity({ type: 'message', text: ai.text, entities: [ai.entity] }), undefined);
    const first = ai.entity.citation?.[0];
    const eleven = { ...ai.entity, citation: [...(ai.entity.citation ?? []), { ...first, position: 11 }] };
    assert.match(validateActivity({ type: 'message', text: ai.text, entities: [eleven] }) ?? '', /more than 10 citations/);
  });

  it('cuts a long title to 80 and a long passage to 160 characters, without splitting an emoji, as plain text', () => {
    const long = source(1, { file: `${'very-long-folder-name/'.repeat(5)}benefits.md`, heading: 'H'.repeat(60), passage: `## Heading\n\n| a | b |\n|---|---|\n| **bold** | [link](https://x.example) |\n\n${'😀'.repeat(200)}` });
    const ai = aiMessage(answer('See [1].', [long]), render);
    const appearance = ai.entity.citation![0]!.appearance;
    assert.ok(appearance.name.length <= 80 && appearance.name.endsWith('…'), appearance.name);
    assert.ok(appearance.abstract.length <= 160 && appearance.abstract.endsWith('…'));
    assert.doesNotMatch(appearance.abstract, /[#|*]|https/);
    assert.ok(appearance.abstract.startsWith('Heading a b bold link'));
    assert.doesNotMatch(appearance.abstract, /[\uD800-\uDBFF]…$/, 'no lone surrogate before the ellipsis');
    assert.equal(validateActivity({ type: 'message', text: ai.text, entities: [ai.entity] }), undefined);
  });

  it('lists the sources under an AI answer that cites none, with no citation entity', () => {
    const ai = aiMessage(answer('You get 25 days.', [source(1, { citation: undefined })]), render);
    assert.equal(ai.entity.citation, undefined);
    assert.deepEqual(ai.entity.additionalType, ['AIGeneratedContent']);
    assert.equal(ai.uncited.length, 1);
  });

  it('keeps user text from forging a citation: brackets from the markdown stay broken, only our markers are [n]', () => {
    const ai = aiMessage(answer('Write `[1]` like this [1] and ] & <at>x</at>', [source(1)]), render);
    assert.equal((ai.text.match(/\[1\]/g) ?? []).length, 1);
    assert.match(ai.text, /<\u200Bat>/);
  });

  it('links a source into the published handbook, percent-encoding the path', () => {
    assert.equal(sourceUrl(source(1, { file: 'leave/parental leave.md', anchor: 'who-is-eligible' }), 'https://intranet.example.com/hr'), 'https://intranet.example.com/hr/leave/parental%20leave.md#who-is-eligible');
    assert.equal(sourceUrl(source(1), undefined), undefined);
    assert.equal(plainText('**Bold** _it_ `code` [x](y)'), 'Bold it code x');
  });
});

describe('fake Teams connector: streaming rules', () => {
  it('refuses, as Teams does, a streaming update that drops text the stream showed, and plays Stop', async () => {
    const { FakeTeamsConnector, STREAM_STOPPED_ERROR } = await import('./fakes/fake-teams-connector.ts');
    const fake = await new FakeTeamsConnector().start();
    try {
      const post = async (text: string, streamId?: string) => {
        const info = { type: 'streaminfo', streamType: 'streaming', ...(streamId === undefined ? {} : { streamId }) };
        const response = await fetch(`${fake.serviceUrl}v3/conversations/a%3Ax/activities`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'typing', text, entities: [info] }) });
        return { status: response.status, body: (await response.json()) as { id?: string; error?: { code: string; message: string } } };
      };
      const first = await post('You get 25');
      const id = first.body.id!;
      assert.equal((await post('You get 25 days', id)).status, 200);
      const dropped = await post('You have 25 days', id);
      assert.equal(dropped.status, 403);
      assert.equal(dropped.body.error?.code, 'ContentStreamNotAllowed');
      fake.stopStreamAt(1);
      const stopped = await post('You get 25 days of', id);
      assert.deepEqual([stopped.status, stopped.body.error], [403, STREAM_STOPPED_ERROR]);
      assert.equal((await post('You get 25 days of leave', id)).status, 403, 'a stopped stream stays stopped');
    } finally {
      await fake.close();
    }
  });
});

describe('Teams streaming: each update extends the last', () => {
  it('holds back unfinished links, markers, escapes and trailing spaces, and leaves citation markers to the final message', () => {
    const answers = [
      'You get 25 days [2]. See [the policy](https://intranet.example.com/p) and `[1]` \\* ok [1, 3]. Next line\n\n- item [4]',
      'A & B <at>x</at> [x] y [3](z) `co [de` e\\_f ```\nfence [1]\n``` g [2]',
      '**Bold [1]** and _it [2]_ | a | b |\n|---|---|\n| 1 [3] | 2 |',
    ];
    for (const answer of answers) {
      let shown = '';
      for (let end = 1; end <= answer.length; end += 1) {
        const next = streamableText(answer.slice(0, end));
        assert.ok(next.startsWith(shown), `${JSON.stringify(shown)} -> ${JSON.stringify(next)}`);
        shown = next;
      }
      assert.doesNotMatch(shown, /\[\d+(, ?\d+)*\]/, 'no prompt-numbered marker is streamed');
    }
  });
});

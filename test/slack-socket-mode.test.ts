import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FakeSocketMode } from './fakes/fake-socket-mode.ts';
import { contextText, sectionText } from './support/slack-blocks.ts';
import type { SlackTestBot } from './support/slack-bot.ts';
import { APP_TOKEN, startSocketModeBot } from './support/slack-bot.ts';
import { BOT_TOKEN, eventBody, mentionEvent } from './support/slack-requests.ts';
import { GatedAnswerer } from './support/test-answerers.ts';

describe('Slack over Socket Mode', () => {
  let t: SlackTestBot;
  let socket: FakeSocketMode;
  before(async () => {
    ({ t, socket } = await startSocketModeBot());
  });
  after(async () => {
    await t.close();
    await socket.close();
  });

  it('connects with the app token and has no HTTP route', async () => {
    assert.equal(t.slack.mode, 'socket');
    assert.equal(socket.connections, 1);
    const open = t.api.callsOf('apps.connections.open');
    assert.equal(open.length, 1);
    assert.equal(open[0]!.token, APP_TOKEN);
    const response = await fetch(`${t.baseUrl}/slack/events`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 404);
  });

  it('acknowledges an events_api envelope by its id and answers through the Web API, once', async () => {
    const event = mentionEvent('/hr policy parental leave', 'USOCKET');
    const payload = JSON.parse(eventBody(event, { eventId: 'EvSOCKET1' }));
    const envelopeId = socket.send('events_api', payload);
    await t.api.waitFor(() => t.api.callsOf('chat.postMessage').length === 1, 5000, 'answer');
    assert.ok(socket.acks.some((ack) => ack.envelope_id === envelopeId));
    const post = t.api.callsOf('chat.postMessage')[0]!;
    assert.equal(post.token, BOT_TOKEN);
    assert.equal(post.args.channel, 'C1');
    assert.equal(post.args.thread_ts, event.ts);
    assert.match(sectionText(post.args.blocks), /parental/i);
    assert.match(contextText(post.args.blocks), /Sources/);

    // Slack redelivers an envelope it thinks was lost: acknowledged again, not answered again.
    const again = socket.send('events_api', payload, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(socket.acks.some((ack) => ack.envelope_id === again));
    assert.equal(t.api.callsOf('chat.postMessage').length, 1);
  });

  it('keeps the app token out of the log', () => {
    assert.ok(!t.bot.logText().includes(APP_TOKEN));
    assert.ok(!t.bot.logText().includes(BOT_TOKEN));
  });
});

describe('Slack over Socket Mode: shutdown', () => {
  it('waits for an answer still being written before the stop resolves', async () => {
    const gated = new GatedAnswerer();
    const { t, socket } = await startSocketModeBot({ answerer: gated });
    try {
      socket.send('events_api', JSON.parse(eventBody(mentionEvent('how many vacation days do I get?', 'USTOP'), { eventId: 'EvSTOP1' })));
      await t.api.waitFor(() => gated.calls === 1, 5000, 'answerer called');
      // As main.ts stops: stop receiving, then let the inbox worker finish what it holds.
      const stopping = t.slack.stop().then(() => t.bot.core.inbox.worker.stop(5_000));
      setTimeout(() => gated.release(), 100);
      assert.equal(await stopping, 0, 'nothing handed back');
      assert.equal(t.api.callsOf('chat.postMessage').length, 1, 'the answer went out before the stop resolved');
    } finally {
      await t.close();
      await socket.close();
    }
  });
});

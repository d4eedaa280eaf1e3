/**
 * The smallest Slack bot @slack/bolt makes, for the `bolt-side-by-side` bench: Bolt's default
 * HTTPReceiver on 127.0.0.1, the same signing secret and token as the test bots, and on every DM
 * message a fixed reply of about 3 KB with chat.postMessage (Bolt acknowledges events itself, before
 * the listener runs). Run as `node --import tsx test/bench/bare-bolt-app.ts` with SLACK_SIGNING_SECRET,
 * SLACK_BOT_TOKEN, SLACK_API_URL (the fake Web API, `<url>/api/`) and PORT (0: any free port); it
 * prints one JSON line `{"msg":"bare bolt listening","port":N}` once it listens.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import bolt from '@slack/bolt';

const { App, LogLevel } = bolt;

/** The reply: a fixed text of about 3 KB (a handbook answer's size). */
const BARE_REPLY = `Parental leave. ${'Employees who become parents get paid leave; see the handbook for the details. '.repeat(38)}`.slice(0, 3_000);

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

const apiUrl = required('SLACK_API_URL');
const app = new App({
  signingSecret: required('SLACK_SIGNING_SECRET'),
  token: required('SLACK_BOT_TOKEN'),
  clientOptions: { slackApiUrl: apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/` },
  logLevel: LogLevel.WARN,
});

app.message(async ({ message, client }) => {
  if (message.subtype !== undefined || message.channel_type !== 'im') return;
  await client.chat.postMessage({ channel: message.channel, text: BARE_REPLY });
});

const server = (await app.start({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })) as Server;
process.stdout.write(`${JSON.stringify({ msg: 'bare bolt listening', port: (server.address() as AddressInfo).port })}\n`);

const stop = (): void => {
  void app.stop().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

import { join } from 'node:path';
import { BOT_TOKEN, SIGNING_SECRET } from './slack-requests.ts';
import { KNOWLEDGE_DIR } from './temp-bot.ts';

/**
 * The environment of a bot process (adapters/main.ts) in Slack HTTP mode against the fake Slack Web
 * API at `apiUrl`, on 127.0.0.1 and any free port, with its database in `dir` and the sample handbook.
 */
export function slackProcessEnv(apiUrl: string, dir: string) {
  return {
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_API_URL: apiUrl,
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_PATH: join(dir, 'hrbot.db'),
    KNOWLEDGE_DIR,
  };
}

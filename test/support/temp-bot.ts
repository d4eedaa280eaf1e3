import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Config } from '../../src/config.ts';
import { loadConfig } from '../../src/config.ts';
import type { Core, CoreExtensions } from '../../src/core.ts';
import { createCore } from '../../src/core.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { IncomingMessage, Reply } from '../../src/message.ts';

/** The sample handbook shipped with the project. */
export const KNOWLEDGE_DIR = new URL('../../knowledge/', import.meta.url).pathname;

/** A scratch folder that removes itself. */
export function tempDir(prefix = 'hrbot-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A bot core on a temp database and a temp copy of the handbook, with captured logs. */
export interface TempBot {
  core: Core;
  config: Config;
  dir: string;
  knowledgeDir: string;
  databasePath: string;
  /** Every log line written, parsed. */
  logs: Array<Record<string, unknown>>;
  /** The raw log output. */
  logText(): string;
  close(): void;
}

/** Build a core as `npm start` would, from env overrides, on throwaway files. */
export function startTempBot(env: Record<string, string> = {}, extensions: CoreExtensions = {}): TempBot {
  const dir = tempDir();
  const knowledgeDir = join(dir.path, 'knowledge');
  cpSync(KNOWLEDGE_DIR, knowledgeDir, { recursive: true });
  const databasePath = join(dir.path, 'hrbot.db');
  const config = loadConfig({ DATABASE_PATH: databasePath, KNOWLEDGE_DIR: knowledgeDir, LOG_LEVEL: 'info', ...env });
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  const log = createLogger({ level: config.env.LOG_LEVEL, destination: sink, pseudonymKey: 'test-key' });
  const core = createCore(config, log, extensions);
  return {
    core,
    config,
    dir: dir.path,
    knowledgeDir,
    databasePath,
    get logs() {
      return text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => text,
    close() {
      core.close();
      dir.remove();
    },
  };
}

let eventCounter = 0;

/** A console-style DM from `userId`, with a fresh event id unless one is given. */
export function dm(text: string, userId = 'alice', extra: Partial<IncomingMessage> = {}): IncomingMessage {
  eventCounter += 1;
  return {
    platform: 'console',
    tenantId: 'local',
    userId,
    conversationId: `dm-${userId}`,
    conversationKind: 'dm',
    privateReplies: true,
    text,
    eventId: `evt-${process.pid}-${eventCounter}`,
    ...extra,
  };
}

/** Send a message and insist on a reply (not a dedupe). */
export async function ask(core: Core, message: IncomingMessage): Promise<Reply> {
  const reply = await core.engine.handle(message);
  if (reply === null) throw new Error(`no reply to ${JSON.stringify(message.text)}`);
  return reply;
}

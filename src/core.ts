import type { Answerer } from './answer/answerer.ts';
import type { Config } from './config.ts';
import { Engine } from './engine/engine.ts';
import { toError } from './errors.ts';
import { HandbookIndex } from './handbook/handbook-index.ts';
import type { Logger } from './log/logger.ts';
import { Metrics } from './metrics.ts';
import type { Db } from './store/database.ts';
import { isWritable, openDatabase } from './store/database.ts';
import type { ErasureStep } from './store/erasure.ts';

/** The platform-independent parts of a running bot. */
export interface Core {
  config: Config;
  db: Db;
  handbook: HandbookIndex;
  engine: Engine;
  metrics: Metrics;
  log: Logger;
  /** Readiness for `/readyz`: the store takes writes and the engine is not saturated. */
  ready(): { ready: boolean; reason?: string };
  /** Stop timers and close the database. */
  close(): void;
}

/** Extension points for later parts (the LLM gateway and its cache). */
export interface CoreExtensions {
  answerer?: Answerer;
  erasureSteps?: readonly ErasureStep[];
}

/** How often the handbook folder is checked for changed files, in ms. */
const HANDBOOK_REFRESH_MS = 60_000;

/** Open the store, index the handbook and build the engine from validated configuration. */
export function createCore(config: Config, log: Logger, extensions: CoreExtensions = {}): Core {
  const { env } = config;
  const db = openDatabase(env.DATABASE_PATH);
  const metrics = new Metrics();
  let handbook: HandbookIndex;
  try {
    handbook = new HandbookIndex({ db, dir: env.KNOWLEDGE_DIR, log });
    const indexed = handbook.refresh();
    log.info({ files: indexed.files, sections: indexed.sections, version: handbook.version }, 'handbook indexed');
  } catch (error) {
    db.close();
    throw error;
  }
  const engine = new Engine(
    {
      db,
      handbook,
      log,
      metrics,
      ...(extensions.answerer === undefined ? {} : { answerer: extensions.answerer }),
      ...(extensions.erasureSteps === undefined ? {} : { erasureSteps: extensions.erasureSteps }),
    },
    {
      maxMessageChars: env.MAX_MESSAGE_CHARS,
      limits: { perMinute: env.RATE_LIMIT_PER_MINUTE, dailyQuestions: env.DAILY_QUESTION_QUOTA },
      lanes: { maxPendingPerLane: env.CONVERSATION_QUEUE_LIMIT, maxLanes: env.ACTIVE_CONVERSATIONS_MAX },
      admins: config.admins,
    },
  );
  const refresh = setInterval(() => {
    try {
      const result = handbook.refresh();
      if (result.changed) log.info({ files: result.files, sections: result.sections, version: handbook.version }, 'handbook re-indexed');
    } catch (error) {
      // Keep serving the last good index; the next tick tries again.
      log.error({ err: toError(error) }, 'handbook re-index failed');
    }
  }, HANDBOOK_REFRESH_MS);
  refresh.unref();
  return {
    config,
    db,
    handbook,
    engine,
    metrics,
    log,
    ready() {
      if (!isWritable(db)) return { ready: false, reason: 'store not writable' };
      if (engine.activeConversations >= env.ACTIVE_CONVERSATIONS_MAX * 0.9) return { ready: false, reason: 'engine saturated' };
      return { ready: true };
    },
    close() {
      clearInterval(refresh);
      if (db.open) db.close();
    },
  };
}

import type { Answerer } from './answer/answerer.ts';
import { LlmAnswerer } from './answer/llm-answerer.ts';
import type { AnswerCacheRows } from './cache/answer-cache.ts';
import { AnswerCache, SqliteAnswerCacheRows } from './cache/answer-cache.ts';
import type { Config } from './config.ts';
import { Engine } from './engine/engine.ts';
import { ownerKey } from './engine/ownership.ts';
import { ConfigError, toError } from './errors.ts';
import type { HandbookAgreementOptions } from './handbook/handbook-agreement.ts';
import { HandbookAgreement } from './handbook/handbook-agreement.ts';
import { HandbookIndex } from './handbook/handbook-index.ts';
import { PROCESS_ID } from './inbox/process-id.ts';
import { PassageVectors } from './handbook/passage-vectors.ts';
import { PassageReranker } from './handbook/passage-reranker.ts';
import type { InboxLimits } from './inbox/inbox-store.ts';
import type { InboxStore } from './inbox/inbox-store.ts';
import type { InboxWorkerOptions } from './inbox/inbox-worker.ts';
import { InboxWorker } from './inbox/inbox-worker.ts';
import { createBedrockClient } from './llm/bedrock-client.ts';
import type { ModelClient } from './llm/bedrock-client.ts';
import { LlmGateway } from './llm/llm-gateway.ts';
import type { LlmGatewayOptions } from './llm/llm-gateway.ts';
import type { Logger } from './log/logger.ts';
import { Metrics } from './metrics.ts';
import type { Db } from './store/database.ts';
import { flushWrites, openDatabase } from './store/database.ts';
import type { ErasureStep } from './store/erasure.ts';
import { CheckpointThread } from './store/checkpoint-thread.ts';
import { ErasureFeed } from './store/erasure-feed.ts';
import type { SharedStores } from './store/shared-stores.ts';
import { sqliteStores } from './store/shared-stores.ts';
import { JournalPurge } from './store/journal-purge.ts';
import { Retention } from './store/retention.ts';

/** The platform-independent parts of a running bot. */
export interface Core {
  config: Config;
  db: Db;
  handbook: HandbookIndex;
  engine: Engine;
  metrics: Metrics;
  log: Logger;
  /** The LLM gateway, when AI answers are on; with the embeddings gateway and passage vectors when hybrid search is on too. */
  llm?: { gateway: LlmGateway; cache: AnswerCache; embeddings?: { gateway: LlmGateway; vectors: PassageVectors; sync(): Promise<void> }; reranker?: { gateway: LlmGateway } };
  /** The durable inbox: platform adapters store verified events here before their ack, and register a handler with the worker. */
  inbox: { store: InboxStore; worker: InboxWorker };
  /** Where users' data lives: the SQLite file, or PostgreSQL (DATABASE_URL). */
  shared: SharedStores;
  /** Readiness for `/readyz`: the store takes writes and the engine is not saturated. */
  ready(): Promise<{ ready: boolean; reason?: string }>;
  /** Stop timers and close the database (stop the inbox worker first: it hands unfinished items back). */
  close(): void;
}

/** Extension points for later parts (the LLM gateway and its cache). */
export interface CoreExtensions {
  answerer?: Answerer;
  erasureSteps?: readonly ErasureStep[];
  /** Inbox bounds and worker timing other than the defaults (tests: short leases, tiny bounds). */
  inbox?: { limits?: Partial<InboxLimits>; worker?: Partial<InboxWorkerOptions> };
  /**
   * The shared stores, already open (PostgreSQL with DATABASE_URL: see openPostgresStores); by
   * default they are on the SQLite file DATABASE_PATH. The core closes them with itself.
   */
  shared?: SharedStores;
  /** Timing of the handbook-version agreement between processes, and this process's name in it (tests: short beats, several cores in one process). */
  agreement?: HandbookAgreementOptions & { processId?: string };
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
    log.info({ files: indexed.files, sections: indexed.sections, unreadable: indexed.unreadable.length, version: handbook.version }, 'handbook indexed');
  } catch (error) {
    db.close();
    throw error;
  }
  // An answerer given by the caller (tests) wins; otherwise Bedrock when configured, else excerpts.
  let llm: ReturnType<typeof createLlm> | undefined;
  try {
    // The cache's shared tier lives with the other shared data (PostgreSQL with DATABASE_URL).
    const cacheRows = extensions.shared?.answerCacheRows() ?? new SqliteAnswerCacheRows(db);
    llm = extensions.answerer === undefined && config.bedrock.enabled ? createLlm(config, db, cacheRows, handbook, log, metrics) : undefined;
  } catch (error) {
    db.close();
    throw error;
  }
  const answerer = extensions.answerer ?? llm?.answerer;
  const checkpoints = CheckpointThread.start(db, env.DATABASE_PATH, log);
  const journal = new JournalPurge(db, { log });
  // On SQLite the cache's rows go in the erase's own transaction; PostgreSQL's erase deletes them itself.
  const erasureSteps = [...(llm === undefined || extensions.shared !== undefined ? [] : [llm.cache.erasureStep]), ...(extensions.erasureSteps ?? [])];
  const limits = { perMinute: env.RATE_LIMIT_PER_MINUTE, dailyQuestions: env.DAILY_QUESTION_QUOTA };
  const shared = extensions.shared ?? sqliteStores(db, { limits, erasureSteps, ...(extensions.inbox?.limits === undefined ? {} : { inboxLimits: extensions.inbox.limits }) });
  const inboxStore = shared.inbox;
  const engine = new Engine(
    {
      db,
      handbook,
      log,
      metrics,
      ...(answerer === undefined ? {} : { answerer }),
      // On PostgreSQL users' data never reaches the local file: its journal needs no purge after an erase.
      journal: shared.engine === 'sqlite' ? journal : null,
      usage: shared.usage,
      history: shared.history,
      ledger: shared.ledger,
      erasure: shared.erasure,
    },
    {
      maxMessageChars: env.MAX_MESSAGE_CHARS,
      limits,
      lanes: { maxPendingPerLane: env.CONVERSATION_QUEUE_LIMIT, maxLanes: env.ACTIVE_CONVERSATIONS_MAX },
      admins: config.admins,
      memory: {
        turns: env.MEMORY_TURNS,
        maxTokens: env.MEMORY_MAX_TOKENS,
        maxConversations: env.MEMORY_MAX_CONVERSATIONS,
        idleTtlMs: env.MEMORY_IDLE_TTL_MS,
      },
      keepHistory: env.RETENTION_DAYS > 0,
      botName: env.BOT_NAME,
    },
  );
  // Once now (so a lowered RETENTION_DAYS takes effect at start) and hourly.
  const inbox = { store: inboxStore, worker: new InboxWorker(inboxStore, log.child({ component: 'inbox' }), extensions.inbox?.worker) };
  inbox.worker.collectMetrics(metrics);
  const retention = new Retention(shared.deleteBatch, { days: env.RETENTION_DAYS, log, ...(shared.engine === 'sqlite' ? { journal } : {}) });
  retention.start();
  // Passages are embedded in the background, after the first index and after each refresh: answers
  // never wait for it, and until a passage has its vector it is found by words alone.
  const embeddings = llm?.embeddings;
  void embeddings?.sync();
  // Another process's `/hr forget` (WORKERS, replicas): drop this process's memory copies too.
  const erasures = new ErasureFeed(shared.erasureLog);
  const answerCache = llm?.cache;
  // This process's own erase: at once (on SQLite the erase's cache step already did it).
  if (answerCache !== undefined && shared.engine !== 'sqlite') engine.onErased((owner) => answerCache.forgetMemoryOf(ownerKey(owner)));
  if (answerCache !== undefined) {
    erasures.start(
      (owners) => {
        const dropped = answerCache.forgetErased(owners);
        if (dropped > 0) log.info({ erased: owners.size, dropped }, 'answer-cache memory: dropped the answers of users erased elsewhere');
      },
      (error) => log.warn({ err: toError(error) }, 'could not read erasures made elsewhere; trying again'),
    );
  }
  // Every process sharing the store answers from the same handbook, or /readyz says it does not.
  const { processId = PROCESS_ID, ...agreementTiming } = extensions.agreement ?? {};
  const agreement = new HandbookAgreement(shared.replicas, processId, () => handbook.version, log, agreementTiming);
  agreement.start();
  const refresh = setInterval(() => {
    try {
      const result = handbook.refresh();
      if (result.changed) log.info({ files: result.files, sections: result.sections, version: handbook.version }, 'handbook re-indexed');
    } catch (error) {
      // Keep serving the last good index; the next tick tries again.
      log.error({ err: toError(error) }, 'handbook re-index failed');
    }
    void embeddings?.sync();
  }, HANDBOOK_REFRESH_MS);
  refresh.unref();
  return {
    config,
    db,
    handbook,
    engine,
    metrics,
    log,
    ...(llm === undefined
      ? {}
      : { llm: { gateway: llm.gateway, cache: llm.cache, ...(llm.embeddings === undefined ? {} : { embeddings: llm.embeddings }), ...(llm.reranker === undefined ? {} : { reranker: llm.reranker }) } }),
    inbox,
    shared,
    async ready() {
      if (!(await shared.writable())) return { ready: false, reason: 'store not writable' };
      if (!agreement.state.agreed) return { ready: false, reason: 'handbook version differs from the other replicas' };
      if (engine.activeConversations >= env.ACTIVE_CONVERSATIONS_MAX * 0.9) return { ready: false, reason: 'engine saturated' };
      if (llm?.gateway.saturated === true) return { ready: false, reason: 'llm queue saturated' };
      return { ready: true };
    },
    close() {
      clearInterval(refresh);
      erasures.stop();
      // Gone from the registry at once; should this fail, its row ages out of the live window.
      agreement.stop().catch((error: unknown) => log.warn({ err: toError(error) }, 'could not leave the replica registry'));
      inbox.worker.halt();
      retention.stop();
      journal.close();
      llm?.embeddings?.close();
      llm?.reranker?.close();
      llm?.gateway.close();
      // Writes held for the commit spacing go now, before the last checkpoint and the close.
      if (db.open) flushWrites(db);
      checkpoints?.stop();
      // The shared store may still be ending its connections; nothing waits for it (the process is stopping).
      shared.close().catch((error: unknown) => log.warn({ err: toError(error) }, 'could not close the shared store'));
      if (db.open) db.close();
    },
  };
}

/** Bedrock client, gateway, answer cache and the answerer over them, from the Bedrock block of the config. */
function createLlm(config: Config, db: Db, cacheRows: AnswerCacheRows, handbook: HandbookIndex, log: Logger, metrics: Metrics) {
  const { env } = config;
  const region = env.AWS_REGION;
  const modelId = env.BEDROCK_MODEL_ID;
  if (region === undefined || modelId === undefined) throw new ConfigError('AWS_REGION and BEDROCK_MODEL_ID are required for AI answers');
  const client = createBedrockClient({
    region,
    modelId,
    ...bedrockConnection(env),
  });
  const gateway = new LlmGateway(
    client,
    {
      concurrency: env.LLM_CONCURRENCY,
      queueLimit: env.LLM_QUEUE_LIMIT,
      requestsPerMinute: env.LLM_REQUESTS_PER_MINUTE,
      timeoutMs: env.LLM_TIMEOUT_MS,
      maxAttempts: env.LLM_MAX_ATTEMPTS,
      maxThrottledAttempts: env.LLM_MAX_THROTTLED_ATTEMPTS,
      backoffBaseMs: env.LLM_BACKOFF_BASE_MS,
      backoffMaxMs: env.LLM_BACKOFF_MAX_MS,
      breakerFailures: env.LLM_BREAKER_FAILURES,
      breakerCooldownMs: env.LLM_BREAKER_COOLDOWN_MS,
    },
    { log, metrics },
  );
  const cache = new AnswerCache(
    cacheRows,
    { maxEntries: env.ANSWER_CACHE_MAX_ENTRIES, maxBytes: env.ANSWER_CACHE_MAX_BYTES, maxRows: env.ANSWER_CACHE_MAX_ROWS },
    { log, metrics },
  );
  const answerer = new LlmAnswerer(
    { gateway, cache, log, metrics },
    // RETENTION_DAYS=0 keeps no answers, shared ones included.
    { modelId, maxTokens: env.BEDROCK_MAX_TOKENS, handbookVersion: () => handbook.version, cacheAnswers: env.RETENTION_DAYS > 0 },
  );
  log.info({ region, modelId, endpoint: env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME === undefined ? 'aws' : 'override' }, 'AI answers on (Amazon Bedrock)');
  const embeddings = env.BEDROCK_EMBEDDING_MODEL_ID === 'off' ? undefined : createEmbeddings(config, db, handbook, log, metrics);
  const reranker = env.BEDROCK_RERANK_MODEL_ID === undefined ? undefined : createReranker(config, env.BEDROCK_RERANK_MODEL_ID, handbook, log, metrics);
  return { gateway, cache, answerer, ...(embeddings === undefined ? {} : { embeddings }), ...(reranker === undefined ? {} : { reranker }) };
}

/**
 * Credentials and endpoint of both Bedrock clients (answers and embeddings), from the configuration.
 * The endpoint is the value the SDK would read itself from the process environment; passed because
 * the configuration may come from elsewhere (tests build it from an object).
 */
function bedrockConnection(env: Config['env']) {
  return {
    ...(env.AWS_ACCESS_KEY_ID !== undefined && env.AWS_SECRET_ACCESS_KEY !== undefined
      ? {
          credentials: {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: env.AWS_SESSION_TOKEN }),
          },
        }
      : {}),
    ...(env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME === undefined ? {} : { endpoint: env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME }),
  };
}

/** Vectors per embedding call, and the vector size asked: 512 keeps nearly all of 1,024's retrieval quality at half the memory. */
const EMBEDDING_DIMENSIONS = 512;
/**
 * The embeddings gateway's own limits: its own waiting line, rate and breaker (Bedrock's quotas are
 * per model, and an embedding model that is not enabled must not open the breaker of answers), a
 * short attempt deadline (Titan answers in tens of ms) and few attempts: a question never waits
 * long for its vector, it is searched by words alone instead.
 */
const EMBEDDING_GATEWAY = { concurrency: 4, queueLimit: 200, timeoutMs: 5_000, maxAttempts: 2, maxThrottledAttempts: 3 } as const;

/** Hybrid search: an embeddings gateway over Titan Text Embeddings, the passage vectors, and their background sync. */
function createEmbeddings(config: Config, db: Db, handbook: HandbookIndex, log: Logger, metrics: Metrics) {
  const { env } = config;
  const model = env.BEDROCK_EMBEDDING_MODEL_ID;
  const client = createBedrockClient({
    region: env.AWS_REGION!,
    modelId: model,
    dimensions: EMBEDDING_DIMENSIONS,
    ...bedrockConnection(env),
  });
  const embedLog = log.child({ component: 'embeddings' });
  const gateway = sideGateway(client, EMBEDDING_GATEWAY, env, embedLog);
  const vectors = new PassageVectors(db, {
    model,
    dimensions: EMBEDDING_DIMENSIONS,
    log: embedLog,
    embed: async (text) => {
      const result = await gateway.embed(text);
      metrics.increment('hrbot_embedding_tokens_total', 'Tokens sent to the embedding model', {}, result.tokens);
      return result.vector;
    },
  });
  handbook.useEmbeddings(vectors);
  const stop = new AbortController();
  const sync = async (): Promise<void> => {
    try {
      await vectors.sync(stop.signal);
    } catch (error) {
      embedLog.error({ err: toError(error) }, 'handbook embedding pass failed');
    }
  };
  log.info({ model, dimensions: EMBEDDING_DIMENSIONS }, 'hybrid handbook search on (Bedrock embeddings)');
  return {
    gateway,
    vectors,
    sync,
    close() {
      stop.abort();
      gateway.close();
    },
  };
}

/** A rerank call's own gateway limits, like the embeddings' (see {@link EMBEDDING_GATEWAY}): a question never waits long for it. */
const RERANK_GATEWAY = { concurrency: 8, queueLimit: 200, timeoutMs: 5_000, maxAttempts: 2, maxThrottledAttempts: 2 } as const;

/**
 * The gateway of a model beside the answers' (embeddings, rerank): its own limits and breaker, with
 * the answers' rate ceiling and backoff, and attempts cut short (the question does not wait for them).
 */
function sideGateway(client: ModelClient, limits: Pick<LlmGatewayOptions, 'concurrency' | 'queueLimit' | 'timeoutMs' | 'maxAttempts' | 'maxThrottledAttempts'>, env: Config['env'], log: Logger): LlmGateway {
  return new LlmGateway(
    client,
    {
      ...limits,
      timeoutMs: Math.min(limits.timeoutMs, env.LLM_TIMEOUT_MS),
      requestsPerMinute: env.LLM_REQUESTS_PER_MINUTE,
      backoffBaseMs: env.LLM_BACKOFF_BASE_MS,
      backoffMaxMs: Math.min(env.LLM_BACKOFF_MAX_MS, 2_000),
      breakerFailures: env.LLM_BREAKER_FAILURES,
      breakerCooldownMs: env.LLM_BREAKER_COOLDOWN_MS,
    },
    { log },
  );
}

/** Reranking: a gateway over a Bedrock rerank model, attached to the handbook's hybrid search. */
function createReranker(config: Config, model: string, handbook: HandbookIndex, log: Logger, metrics: Metrics) {
  const { env } = config;
  const client = createBedrockClient({ region: env.AWS_REGION!, modelId: model, ...bedrockConnection(env) });
  const rerankLog = log.child({ component: 'rerank' });
  const gateway = sideGateway(client, RERANK_GATEWAY, env, rerankLog);
  handbook.useReranker(
    new PassageReranker(async (query, documents, topN) => {
      const ranking = await gateway.rerank(query, documents, topN);
      metrics.increment('hrbot_rerank_documents_total', 'Passages read by the rerank model', {}, documents.length);
      return ranking.order;
    }, rerankLog),
  );
  log.info({ model }, 'handbook passages reranked (Bedrock rerank model)');
  return { gateway, close: () => gateway.close() };
}

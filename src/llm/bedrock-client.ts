/**
 * The only module that imports the AWS SDK. It turns Bedrock's Converse and ConverseStream (and
 * InvokeModel for text embeddings and reranking) into small functions over plain types, so the
 * gateway, its tests and the rest of the bot never see SDK shapes.
 */
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import type { BedrockRuntimeClientConfig, Message } from '@aws-sdk/client-bedrock-runtime';
import { LlmUnavailableError } from '../errors.ts';

/** One turn of the conversation sent to the model. */
export interface ChatTurn {
  role: 'user' | 'assistant';
  text: string;
}

/** What one model call needs. */
export interface ModelRequest {
  system: string;
  messages: readonly ChatTurn[];
  maxTokens: number;
  temperature?: number;
}

/** A complete model answer. */
export interface ModelResponse {
  text: string;
  /** end_turn, max_tokens, stop_sequence, guardrail_intervened, content_filtered… */
  stopReason: string;
  usage: { input: number; output: number };
}

/** A text's embedding, and the tokens Bedrock counted for it. */
export interface Embedding {
  vector: Float32Array;
  tokens: number;
}

/** Documents in a reranker's order, most relevant first: each one's place in the list given, and its relevance. */
export interface Ranking {
  order: { index: number; score: number }[];
}

/** Bedrock as the gateway sees it; tests of the gateway drive the real one against the fake server. */
export interface ModelClient {
  converse(request: ModelRequest, signal: AbortSignal): Promise<ModelResponse>;
  /** Streams text pieces to `onDelta` (awaited, in order); resolves only when the model said it stopped. */
  converseStream(request: ModelRequest, signal: AbortSignal, onDelta: (text: string) => Promise<void>): Promise<ModelResponse>;
  /** Embed one text with the model (an embedding model: see {@link createBedrockClient}'s `embedding` option). */
  embed(text: string, signal: AbortSignal): Promise<Embedding>;
  /** Order `documents` by relevance to `query` with the model (a rerank model), keeping the `topN` best. */
  rerank(query: string, documents: readonly string[], topN: number, signal: AbortSignal): Promise<Ranking>;
  destroy(): void;
}

/** Titan Text Embeddings V2 takes at most 50,000 characters (and 8,192 tokens) per text. */
export const MAX_EMBEDDING_CHARS = 50_000;
/**
 * Characters of each document sent to a rerank model: Cohere Rerank 3.5 reads 4,096 tokens of query
 * and document together, and a passage is a few hundred words, so only an odd one is cut.
 */
export const MAX_RERANK_DOCUMENT_CHARS = 4_000;
/** Documents per rerank request: Bedrock's rerank models take at most 1,000. */
export const MAX_RERANK_DOCUMENTS = 1_000;
/** The output sizes Titan Text Embeddings V2 accepts. */
export const EMBEDDING_DIMENSIONS = [256, 512, 1024] as const;

/** How to reach Bedrock. */
export interface BedrockClientOptions {
  region: string;
  modelId: string;
  /** Explicit keys; when absent the SDK's default chain (AWS_PROFILE, SSO, instance role…) applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Endpoint override. When absent the SDK reads AWS_ENDPOINT_URL_BEDROCK_RUNTIME from the process
   * environment itself; we pass it explicitly only when the configuration came from somewhere else.
   */
  endpoint?: string;
  /** Vector size asked of an embedding model (Titan Text Embeddings V2: 256, 512 or 1024). Default 512. */
  dimensions?: (typeof EMBEDDING_DIMENSIONS)[number];
}

/** Bedrock answered an embedding request with something that is not a vector of the size asked. */
export class MalformedEmbeddingError extends LlmUnavailableError {
  constructor(message: string) {
    super('llm_embedding_malformed', message);
  }
}

/** Bedrock answered a rerank request with something that is not an order of the documents sent. */
export class MalformedRankingError extends LlmUnavailableError {
  constructor(message: string) {
    super('llm_rerank_malformed', message);
  }
}

/** A stream that ended without messageStop was cut: never treat it as a complete answer. */
export class IncompleteStreamError extends LlmUnavailableError {
  constructor(message: string) {
    super('llm_stream_incomplete', message);
  }
}

/** Build the Bedrock Runtime client wrapper. */
export function createBedrockClient(options: BedrockClientOptions): ModelClient {
  const config: BedrockRuntimeClientConfig = {
    region: options.region,
    // Exactly one retry loop: ours (the gateway), which knows about the queue, AIMD and the breaker.
    maxAttempts: 1,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
  };
  const client = new BedrockRuntimeClient(config);
  const modelId = options.modelId;

  const input = (request: ModelRequest) => ({
    modelId,
    system: [{ text: request.system }],
    messages: request.messages.map((turn): Message => ({ role: turn.role, content: [{ text: turn.text }] })),
    inferenceConfig: { maxTokens: request.maxTokens, temperature: request.temperature ?? 0 },
  });

  return {
    async converse(request, signal) {
      const out = await client.send(new ConverseCommand(input(request)), { abortSignal: signal });
      const text = (out.output?.message?.content ?? []).map((block) => block.text ?? '').join('');
      return {
        text,
        stopReason: out.stopReason ?? 'unknown',
        usage: { input: out.usage?.inputTokens ?? 0, output: out.usage?.outputTokens ?? 0 },
      };
    },

    async converseStream(request, signal, onDelta) {
      const out = await client.send(new ConverseStreamCommand(input(request)), { abortSignal: signal });
      if (out.stream === undefined) throw new IncompleteStreamError('ConverseStream returned no stream');
      let text = '';
      let stopReason: string | undefined;
      let usage = { input: 0, output: 0 };
      for await (const event of out.stream) {
        if (signal.aborted) throw new IncompleteStreamError('stream aborted');
        const delta = event.contentBlockDelta?.delta?.text;
        if (delta !== undefined && delta !== '') {
          text += delta;
          await onDelta(delta);
        }
        if (event.messageStop !== undefined) stopReason = event.messageStop.stopReason ?? 'unknown';
        if (event.metadata?.usage !== undefined) {
          usage = { input: event.metadata.usage.inputTokens ?? 0, output: event.metadata.usage.outputTokens ?? 0 };
        }
      }
      // An aborted HTTP/2 stream can end quietly; only messageStop proves the model finished.
      if (stopReason === undefined || signal.aborted) throw new IncompleteStreamError('stream ended without messageStop');
      return { text, stopReason, usage };
    },

    async embed(text, signal) {
      const dimensions = options.dimensions ?? 512;
      // Titan Text Embeddings V2's own body (InvokeModel): unit-length vectors, so a dot product is the cosine.
      const body = JSON.stringify({ inputText: text.slice(0, MAX_EMBEDDING_CHARS), dimensions, normalize: true });
      const out = await client.send(
        new InvokeModelCommand({ modelId, contentType: 'application/json', accept: 'application/json', body: new TextEncoder().encode(body) }),
        { abortSignal: signal },
      );
      return parseEmbedding(out.body.transformToString(), dimensions);
    },

    async rerank(query, documents, topN, signal) {
      const sent = documents.slice(0, MAX_RERANK_DOCUMENTS).map((document) => document.slice(0, MAX_RERANK_DOCUMENT_CHARS));
      // The rerank models' own InvokeModel body; Cohere's asks for its API version (2 and up).
      const body = JSON.stringify({ query, documents: sent, top_n: Math.min(topN, sent.length), ...(modelId.includes('cohere.') ? { api_version: 2 } : {}) });
      const out = await client.send(
        new InvokeModelCommand({ modelId, contentType: 'application/json', accept: 'application/json', body: new TextEncoder().encode(body) }),
        { abortSignal: signal },
      );
      return parseRanking(out.body.transformToString(), sent.length);
    },

    destroy() {
      client.destroy();
    },
  };
}

/** A response body as JSON, or the model's own malformed-response error. */
function parseBody(json: string, malformed: (message: string) => LlmUnavailableError): unknown {
  try {
    return JSON.parse(json);
  } catch (error) {
    throw malformed(`response is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function parseRanking(json: string, documents: number): Ranking {
  const parsed = parseBody(json, (message) => new MalformedRankingError(`rerank ${message}`));
  const results = ((parsed ?? {}) as { results?: unknown }).results;
  if (!Array.isArray(results)) throw new MalformedRankingError('rerank response has no results');
  const seen = new Set<number>();
  const order = results.map((result: unknown) => {
    const { index, relevance_score: score } = (result ?? {}) as { index?: unknown; relevance_score?: unknown };
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= documents || seen.has(index) || typeof score !== 'number' || !Number.isFinite(score)) {
      throw new MalformedRankingError(`rerank result is not a new document of the ${documents} sent with a score`);
    }
    seen.add(index);
    return { index, score };
  });
  // Most relevant first, whatever order the model listed them in.
  return { order: order.sort((a, b) => b.score - a.score || a.index - b.index) };
}

function parseEmbedding(json: string, dimensions: number): Embedding {
  const parsed = parseBody(json, (message) => new MalformedEmbeddingError(`embedding ${message}`));
  const record = (parsed ?? {}) as { embedding?: unknown; inputTextTokenCount?: unknown };
  const values = record.embedding;
  if (!Array.isArray(values) || values.length !== dimensions || !values.every((value) => typeof value === 'number' && Number.isFinite(value))) {
    throw new MalformedEmbeddingError(`embedding response has no vector of ${dimensions} numbers`);
  }
  return { vector: Float32Array.from(values as number[]), tokens: typeof record.inputTextTokenCount === 'number' ? record.inputTextTokenCount : 0 };
}

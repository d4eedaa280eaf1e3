import { sourceOf } from '../../src/answer/answerer.ts';
import type { Answerer, AnswerRequest, AnswerResult } from '../../src/answer/answerer.ts';

/** An answerer that streams `chunks` as deltas (with `gapMs` between them) and returns `final` (default: the chunks joined). */
export function streamingAnswerer(chunks: readonly string[], options: { gapMs?: number; final?: string } = {}): Answerer {
  return {
    async answer(request: AnswerRequest): Promise<AnswerResult> {
      for (const text of chunks) {
        await request.hooks?.onProgress?.({ type: 'delta', text });
        if (options.gapMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
      }
      return { kind: 'answer', text: options.final ?? chunks.join(''), sources: request.sections.slice(0, 2).map(sourceOf) };
    },
  };
}

/** An answerer that waits until released, so tests can act while an answer is being written. */
export class GatedAnswerer implements Answerer {
  calls = 0;
  #release: () => void = () => undefined;
  readonly #gate = new Promise<void>((resolve) => {
    this.#release = resolve;
  });

  release(): void {
    this.#release();
  }

  async answer(request: AnswerRequest): Promise<AnswerResult> {
    this.calls += 1;
    // Bounded: a test that forgets to release still finishes.
    await Promise.race([this.#gate, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    return { kind: 'answer', text: 'You get **25 vacation days** a year.', sources: request.sections.slice(0, 1).map(sourceOf) };
  }
}

/** An answerer whose answer is `text` (e.g. a very long one). */
export function fixedAnswerer(text: string): Answerer {
  return {
    answer: (request) => Promise.resolve({ kind: 'answer', text, sources: request.sections.slice(0, 1).map(sourceOf) }),
  };
}

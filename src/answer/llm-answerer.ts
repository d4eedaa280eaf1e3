import { answerCacheKey } from '../cache/answer-cache.ts';
import type { AnswerCache } from '../cache/answer-cache.ts';
import { validateAnswer } from '../cache/answer-validation.ts';
import { BusyError, LlmUnavailableError } from '../errors.ts';
import type { ChatTurn } from '../llm/bedrock-client.ts';
import type { LlmGateway } from '../llm/llm-gateway.ts';
import { PROMPT_VERSION, buildPrompt, citedSections, saysNotCovered } from '../llm/prompt.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics.ts';
import type { AnswerRequest, AnswerResult, Answerer } from './answerer.ts';
import { sourceOf } from './answerer.ts';
import { HandbookExcerptAnswerer } from './handbook-excerpts.ts';

/** The note above excerpts when the LLM could not answer, so nobody takes them for an AI answer. */
export const UNAVAILABLE_NOTE = '_AI answers are unavailable right now, so here are the matching handbook passages._';
/** The note above excerpts when the LLM waiting line was full. */
export const BUSY_NOTE = "_I'm very busy right now, so here are the matching handbook passages. Ask again in a minute for a written answer._";

/** How much of a cited passage a source carries: enough for a citation preview (Teams shows 160 characters). */
const PASSAGE_PREVIEW_CHARS = 300;

export interface LlmAnswererOptions {
  modelId: string;
  /** BEDROCK_MAX_TOKENS: always sent, Bedrock reserves input + maxTokens against the token quota. */
  maxTokens: number;
  /** The current handbook version: part of the cache key, so a re-index invalidates old answers. */
  handbookVersion: () => string;
  /** False (RETENTION_DAYS=0) keeps no answers: nothing is written to the cache. Default true. */
  cacheAnswers?: boolean;
}

export interface LlmAnswererDependencies {
  gateway: LlmGateway;
  cache: AnswerCache;
  log: Logger;
  metrics?: Metrics;
  /** The no-AI answer, used as the fallback. */
  fallback?: Answerer;
}

/**
 * Answers with Bedrock, grounded in the retrieved handbook sections: cache lookup → gateway (streaming
 * when the adapter can show progress) → validation → cache store. When the LLM cannot answer (breaker
 * open, retries spent, a stream broke, the waiting line is full) the user gets the handbook excerpts at
 * once, labeled as such, and they are never cached.
 *
 * Sharing rule: an answer whose prompt carried the user's earlier turns is private to that user. It is
 * neither read from nor written to the shared cache, nor coalesced with anyone else's call.
 */
export class LlmAnswerer implements Answerer {
  readonly #deps: LlmAnswererDependencies;
  readonly #options: LlmAnswererOptions;
  readonly #fallback: Answerer;

  constructor(deps: LlmAnswererDependencies, options: LlmAnswererOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#fallback = deps.fallback ?? new HandbookExcerptAnswerer();
  }

  async answer(request: AnswerRequest): Promise<AnswerResult> {
    const { gateway, cache, log } = this.#deps;
    const history: ChatTurn[] = request.history.map((turn) => ({ role: turn.role, text: turn.text }));
    const prompt = buildPrompt(request.question, request.sections, history, this.#options.maxTokens);
    // The prompt builder may drop unusable turns; what matters is whether any context reached the model.
    const usesContext = prompt.messages.length > 1;
    const key = usesContext
      ? undefined
      : answerCacheKey({
          question: request.question,
          handbookVersion: this.#options.handbookVersion(),
          modelId: this.#options.modelId,
          promptVersion: PROMPT_VERSION,
        });
    if (key !== undefined) {
      const cached = await cache.get(key);
      if (cached !== undefined) return { kind: 'answer', text: cached.text, sources: cached.sources };
    }

    // The engine hands over hooks that log and swallow their own failures (see Engine).
    const hooks = request.hooks;
    const onDelta = hooks?.onProgress === undefined ? undefined : async (text: string): Promise<void> => hooks.onProgress?.({ type: 'delta', text });

    let result;
    try {
      result = await gateway.complete(prompt, {
        ...(key === undefined ? {} : { coalesceKey: key }),
        ...(onDelta === undefined ? {} : { onDelta }),
      });
    } catch (error) {
      if (error instanceof BusyError) return this.#fallbackAnswer(request, BUSY_NOTE, 'busy');
      if (error instanceof LlmUnavailableError) return this.#fallbackAnswer(request, UNAVAILABLE_NOTE, error.code);
      throw error;
    }

    const text = result.text.trim();
    if (text === '') {
      log.warn({ stopReason: result.stopReason }, 'llm returned an empty answer');
      return this.#fallbackAnswer(request, UNAVAILABLE_NOTE, 'empty', result.shared ? undefined : result.usage);
    }
    const cited = citedSections(text, request.sections.length);
    // A cited section keeps the number the text cites it by, and the start of its passage, so a
    // platform can link each `[n]` to its source; uncited, every section is a source without one.
    const sources =
      cited.length > 0
        ? cited.flatMap((n) => {
            const hit = request.sections[n - 1];
            return hit === undefined ? [] : [{ ...sourceOf(hit), citation: n, passage: (hit.excerpt ?? hit.text).trim().slice(0, PASSAGE_PREVIEW_CHARS) }];
          })
        : request.sections.map(sourceOf);
    const verdict = validateAnswer({ text, stopReason: result.stopReason, sectionCount: request.sections.length });
    // Followers of a coalesced call got the leader's answer: the leader stores it once. The write is
    // dropped if the asker was erased while the answer was being written (the row derives from their question).
    if (key !== undefined && verdict.ok && !result.shared && this.#options.cacheAnswers !== false) {
      await cache.set(key, { text, sources }, request.ownerKey, Date.now(), request.erasureMark);
    }
    if (!verdict.ok) this.#deps.metrics?.increment('hrbot_answer_not_cached_total', 'LLM answers not cached, by reason', { reason: verdict.reason });
    const shown = result.stopReason === 'max_tokens' ? `${text}\n\n_(This answer was cut short; ask a narrower question for the rest.)_` : text;
    return {
      kind: 'answer',
      text: shown,
      sources,
      ...(result.shared ? {} : { usage: result.usage }),
      ...(cited.length === 0 && saysNotCovered(text) ? { notCovered: true } : {}),
    };
  }

  async #fallbackAnswer(request: AnswerRequest, note: string, reason: string, usage?: { input: number; output: number }): Promise<AnswerResult> {
    this.#deps.metrics?.increment('hrbot_llm_fallbacks_total', 'Questions answered with handbook excerpts instead of the LLM', { reason });
    const excerpts = await this.#fallback.answer(request);
    return { ...excerpts, kind: 'excerpts', text: `${note}\n\n${excerpts.text}`, ...(usage === undefined ? {} : { usage }) };
  }
}

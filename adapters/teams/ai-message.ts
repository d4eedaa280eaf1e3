import { splitCode } from '../../src/engine/user-text.ts';
import type { Reply, Source } from '../../src/message.ts';

/**
 * Teams' limits for citations on a bot message (docs: "Bot messages with AI-generated content",
 * and the Agents SDK's ClientCitation): Teams refuses a message with more than 10 citations; a
 * citation's name (its title) is at most 80 characters, its abstract (the excerpt shown in the
 * pop-up) at most 160.
 */
export const CITATION_LIMITS = { maxCitations: 10, maxNameChars: 80, maxAbstractChars: 160 } as const;

/** The root message entity that gives a Teams message the "AI generated" label and its citations. */
export interface AiMessageEntity {
  type: 'https://schema.org/Message';
  '@type': 'Message';
  '@context': 'https://schema.org';
  '@id': '';
  additionalType: ['AIGeneratedContent'];
  citation?: ClientCitation[];
}

/** One citation: `position` is the `[n]` in the message text it explains. */
export interface ClientCitation {
  '@type': 'Claim';
  position: number;
  appearance: { '@type': 'DigitalDocument'; name: string; abstract: string; url?: string };
}

/** An AI answer as Teams shows it: the text with its markers renumbered, and the entity that labels and cites it. */
export interface AiMessage {
  /** Teams markdown; each `[n]` is a citation's position. */
  text: string;
  entity: AiMessageEntity;
  /** Sources no marker cites (the answer cited none): shown as a list under the text instead. */
  uncited: Source[];
}

/** Options for {@link aiMessage}. */
export interface AiMessageOptions {
  /** The engine's markdown as Teams markdown (render-reply's teamsMarkdown). */
  markdown: (text: string) => string;
  /** KNOWLEDGE_BASE_URL: a citation's title links to `<url>/<file>#<anchor>` when set. */
  knowledgeBaseUrl?: string | undefined;
}

// A citation marker as the model writes it ("[2]", "[1, 3]"), the same shape the engine counts as cited.
const MARKER = /(\s*)\[(\d+(?:\s*,\s*\d+)*)\]/g;
// Private-use placeholders that carry a marker through the markdown conversion, which breaks every `]`.
const OPEN = '\uE010';
const CLOSE = '\uE011';

/**
 * Is this reply written by the AI? Only `answer` replies are: excerpts, lookups and notices come
 * from the handbook or the bot itself and get no AI label.
 */
export function isAiAnswer(reply: Reply): boolean {
  return reply.kind === 'answer';
}

/**
 * The text and message entity of an AI answer. Markers are numbered 1, 2, … in order of first
 * mention and each gets a citation with the source's title (file › heading), the start of the
 * passage and, with a base URL, a link; a marker with no source behind it (a number the answer
 * could not have been given) is dropped rather than shown as a citation that explains nothing.
 */
export function aiMessage(reply: Reply, options: AiMessageOptions): AiMessage {
  const byNumber = new Map<number, Source>();
  for (const source of reply.sources) if (source.citation !== undefined && !byNumber.has(source.citation)) byNumber.set(source.citation, source);
  const positions = new Map<number, number>();
  const citations: ClientCitation[] = [];
  const clean = reply.text.replaceAll(OPEN, '').replaceAll(CLOSE, '');
  const cite = (_match: string, space: string, list: string): string => {
    let out = '';
    for (const part of list.split(',')) {
      const n = Number(part.trim());
      const source = byNumber.get(n);
      if (source === undefined) continue;
      let position = positions.get(n);
      if (position === undefined) {
        if (citations.length >= CITATION_LIMITS.maxCitations) continue;
        position = citations.length + 1;
        positions.set(n, position);
        citations.push(citationOf(source, position, options));
      }
      out += `${OPEN}${position}${CLOSE}`;
    }
    // A marker with nothing left takes its leading space with it ("see [99]." → "see.").
    return out === '' ? '' : `${space}${out}`;
  };
  // Markers in code spans are text the answer quotes, not citations: a zero-width space after the
  // `[` keeps Teams from taking them for one (breakMarkup's, after the `]`, would not).
  const marked = splitCode(clean)
    .map((part) => (part.code ? part.text.replace(/\[(?=\d)/g, '[\u200B') : part.text.replace(MARKER, cite)))
    .join('');
  const text = options.markdown(marked).replace(new RegExp(`${OPEN}(\\d+)${CLOSE}`, 'g'), '[$1]');
  const entity: AiMessageEntity = {
    type: 'https://schema.org/Message',
    '@type': 'Message',
    '@context': 'https://schema.org',
    '@id': '',
    additionalType: ['AIGeneratedContent'],
    ...(citations.length === 0 ? {} : { citation: citations }),
  };
  return { text, entity, uncited: citations.length === 0 ? reply.sources : [] };
}

function citationOf(source: Source, position: number, options: AiMessageOptions): ClientCitation {
  const url = sourceUrl(source, options.knowledgeBaseUrl);
  return {
    '@type': 'Claim',
    position,
    appearance: {
      '@type': 'DigitalDocument',
      name: cut(`${source.file} › ${source.heading}`, CITATION_LIMITS.maxNameChars),
      abstract: cut(plainText(source.passage ?? source.headingPath) || source.headingPath, CITATION_LIMITS.maxAbstractChars),
      ...(url === undefined ? {} : { url }),
    },
  };
}

/** `<base>/<file>#<anchor>`, or undefined without a base URL. */
export function sourceUrl(source: Source, base: string | undefined): string | undefined {
  if (base === undefined || base === '') return undefined;
  const root = new URL(base.endsWith('/') ? base : `${base}/`);
  if (root.protocol !== 'https:' && root.protocol !== 'http:') return undefined;
  const path = source.file.split('/').map(encodeURIComponent).join('/');
  return new URL(`${path}${source.anchor === '' ? '' : `#${encodeURIComponent(source.anchor)}`}`, root).href;
}

/** Markdown as plain text for a preview: no heading marks, emphasis, code ticks, table bars or link targets. */
export function plainText(markdown: string): string {
  return markdown
    .replace(/!?\[([^\]\n]*)\]\([^)\s]*\)/g, '$1')
    .replace(/^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+/gm, '')
    .replace(/^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/gm, '')
    .replace(/[*_`~|]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** At most `max` UTF-16 units (what JSON string lengths count), with an ellipsis when cut, never splitting a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = '';
  for (const char of text) {
    if (out.length + char.length > max - 1) break;
    out += char;
  }
  return `${out.trimEnd()}…`;
}

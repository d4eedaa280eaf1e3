import type { Activity, Attachment } from 'botbuilder';
import { breakMarkup, linkRendering, MARKDOWN_ESCAPE, splitCode } from '../../src/engine/user-text.ts';
import type { Reply } from '../../src/message.ts';
import { assertNever } from '../../src/message.ts';
import type { Source } from '../../src/message.ts';
import { aiMessage, isAiAnswer, sourceUrl } from './ai-message.ts';

/** How a reply is drawn. */
export interface RenderOptions {
  /** Adaptive Cards for answers with sources or feedback; false: markdown only. */
  cards: boolean;
  /**
   * The answer text is already the message text (a streamed reply's final message), so the card
   * carries only the sources and the feedback buttons.
   */
  textOutsideCard?: boolean;
  /** Hosts whose links keep their label (the handbook's own site); default none. */
  trustedLinkHosts?: ReadonlySet<string>;
  /** KNOWLEDGE_BASE_URL: sources and citations link to `<url>/<file>#<anchor>` when set. */
  knowledgeBaseUrl?: string | undefined;
}

const CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
/** The newest Adaptive Card version Teams renders (1.4 and up also carry Action.Execute, Universal Actions). */
export const CARD_VERSION = '1.5';

/** What the engine's reply kinds are called on the card. */
function label(reply: Reply): string | undefined {
  switch (reply.kind) {
    case 'answer':
      return 'Answer from the HR handbook';
    case 'excerpts':
      return 'From the HR handbook (passages, no AI)';
    default:
      return undefined;
  }
}

/** Does this reply get a card (it has sources or can take feedback) or plain markdown? */
export function wantsCard(reply: Reply, options: RenderOptions): boolean {
  return options.cards && (reply.sources.length > 0 || reply.answerId !== undefined || (reply.actions?.length ?? 0) > 0);
}

/**
 * The activity fields (text, attachments, entities, channel data) that show a reply in Teams. An AI
 * answer is a markdown message with Teams' own AI label, its citations and its 👍/👎 feedback loop
 * (when it can take feedback); the rest are cards or markdown as before.
 */
export function renderReply(reply: Reply, options: RenderOptions): Partial<Activity> {
  if (isAiAnswer(reply)) return renderAiAnswer(reply, options);
  if (!wantsCard(reply, options)) return { type: 'message', text: markdownWithSources(reply, options), textFormat: 'markdown' };
  const card = adaptiveCard(reply, options);
  return {
    type: 'message',
    ...(options.textOutsideCard === true ? { text: teamsMarkdown(reply.text, options), textFormat: 'markdown' } : {}),
    attachments: [card],
  };
}

/**
 * An AI answer: the text with its `[n]` markers renumbered to match the citations, the message
 * entity that adds the AI label and the citations, and `feedbackLoopEnabled`, which shows Teams'
 * own 👍/👎 under the message (answered by the `message/submitAction` invoke). Sources no marker
 * cites are listed under the text.
 */
function renderAiAnswer(reply: Reply, options: RenderOptions): Partial<Activity> {
  const ai = aiMessage(reply, { markdown: (text) => teamsMarkdown(text, options), knowledgeBaseUrl: options.knowledgeBaseUrl });
  return {
    type: 'message',
    text: withSourceList(ai.text, ai.uncited, options),
    textFormat: 'markdown',
    entities: [ai.entity],
    ...(reply.answerId === undefined ? {} : { channelData: { feedbackLoopEnabled: true } }),
  };
}

/** Markdown for clients or settings without cards: the text, then its sources as a list. */
export function markdownWithSources(reply: Reply, options: Pick<RenderOptions, 'trustedLinkHosts' | 'knowledgeBaseUrl'> = {}): string {
  return withSourceList(teamsMarkdown(reply.text, options), reply.sources, options);
}

function withSourceList(text: string, sources: readonly Source[], options: Pick<RenderOptions, 'knowledgeBaseUrl'>): string {
  if (sources.length === 0) return text;
  return `${text}\n\n**Sources**\n${sources.map((source) => `- ${sourceLabel(source, options)}`).join('\n')}`;
}

/** A source as Teams markdown: a link to the handbook with a base URL, else `heading path (file)`. */
function sourceLabel(source: Source, options: Pick<RenderOptions, 'knowledgeBaseUrl'>): string {
  const label = breakMarkup(`${source.headingPath} (${source.file})`);
  const url = sourceUrl(source, options.knowledgeBaseUrl);
  // The URL is built from our own base and the file name, percent-encoded: nothing in it can end the link.
  return url === undefined ? label : `[${label}](${url})`;
}

/**
 * The engine's markdown as Teams markdown (message text and card TextBlocks read the same subset).
 * Nothing in it can become a link with a chosen label, an HTML tag, an `<at>` mention or an
 * entity: `[label](url)` keeps its label only where {@link linkRendering} allows (else
 * `label (url)`), `\x` escapes become the literal character, and every other `<`, `]` and `&`
 * is broken with a zero-width space ({@link breakMarkup}), since Teams has no escape that works in
 * both messages and cards.
 */
export function teamsMarkdown(markdown: string, options: Pick<RenderOptions, 'trustedLinkHosts'> = {}): string {
  return splitCode(markdown.replace(/\uE002/g, ''))
    .map((part) => (part.code ? breakMarkup(part.text) : safeProse(part.text, options.trustedLinkHosts)))
    .join('');
}

// Private-use placeholder for an escaped character while links are found; removed from the input first.
const LITERAL = '\uE002';
const MARKDOWN_LINK = /\[([^\]\n]+)\]\(([^)\s]+)\)/g;

function safeProse(markdown: string, trustedHosts: ReadonlySet<string> | undefined): string {
  const literals: string[] = [];
  const marked = markdown.replace(MARKDOWN_ESCAPE, (_m, char: string) => {
    literals.push(char);
    return `${LITERAL}${literals.length - 1}${LITERAL}`;
  });
  const restore = (text: string) => text.replace(new RegExp(`${LITERAL}(\\d+)${LITERAL}`, 'g'), (_m, index: string) => literals[Number(index)] ?? '');
  let out = '';
  let last = 0;
  for (const match of marked.matchAll(MARKDOWN_LINK)) {
    out += breakMarkup(restore(marked.slice(last, match.index))) + teamsLink(restore(match[1] ?? ''), restore(match[2] ?? ''), trustedHosts);
    last = match.index + match[0].length;
  }
  return out + breakMarkup(restore(marked.slice(last)));
}

function teamsLink(label: string, url: string, trustedHosts: ReadonlySet<string> | undefined): string {
  const shownLabel = breakMarkup(label);
  const rendering = linkRendering(label, url, trustedHosts);
  switch (rendering) {
    case 'labelled':
      return `[${shownLabel}](${new URL(url).href})`;
    case 'url-only':
      return `${shownLabel} (${new URL(url).href})`;
    case 'text':
      return `${shownLabel} (${breakMarkup(url)})`;
    default:
      return assertNever(rendering);
  }
}

function adaptiveCard(reply: Reply, options: RenderOptions): Attachment {
  const textOutsideCard = options.textOutsideCard === true;
  const body: unknown[] = [];
  const heading = label(reply);
  if (heading !== undefined && !textOutsideCard) body.push({ type: 'TextBlock', text: heading, weight: 'Bolder', size: 'Small', isSubtle: true, wrap: true });
  if (!textOutsideCard) body.push({ type: 'TextBlock', text: teamsMarkdown(reply.text, options), wrap: true });
  if (reply.sources.length > 0) {
    body.push({ type: 'TextBlock', text: 'Sources', weight: 'Bolder', size: 'Small', spacing: 'Medium', wrap: true });
    for (const source of reply.sources) {
      body.push({ type: 'TextBlock', text: sourceLabel(source, options), size: 'Small', isSubtle: true, spacing: 'None', wrap: true });
    }
  }
  const actions: unknown[] =
    reply.answerId === undefined
      ? []
      : (['up', 'down'] as const).map((rating) => ({
          // Action.Execute arrives as an adaptiveCard/action invoke carrying the clicking user's
          // verified identity; the data below only says which answer and which rating.
          type: 'Action.Execute',
          title: rating === 'up' ? '👍 Helpful' : '👎 Not helpful',
          verb: 'feedback',
          data: { hrbot: 'feedback', answerId: reply.answerId, rating },
        }));
  if (reply.actions?.includes('forget') === true) {
    // Erases the data of whoever clicks (the invoke's verified user), never of the card's recipient.
    // Erasing cannot be undone: the button opens a confirmation first (cards have no confirm dialog).
    actions.push({
      type: 'Action.ShowCard',
      title: 'Erase my data',
      card: {
        type: 'AdaptiveCard',
        body: [{ type: 'TextBlock', text: 'This erases your questions, answers, feedback and usage records. It cannot be undone.', wrap: true }],
        actions: [{ type: 'Action.Execute', title: 'Erase everything', verb: 'forget', style: 'destructive', data: { hrbot: 'forget' } }],
      },
    });
  }
  return {
    contentType: CARD_CONTENT_TYPE,
    content: {
      type: 'AdaptiveCard',
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      version: CARD_VERSION,
      body,
      ...(actions.length === 0 ? {} : { actions }),
      msteams: { width: 'Full' },
    },
  };
}

import type { types } from '@slack/bolt';
import type { Reply, Source } from '../../src/message.ts';
import { assertNever } from '../../src/message.ts';
import { breakMarkup, linkRendering, MARKDOWN_ESCAPE, splitCode } from '../../src/engine/user-text.ts';
import { FEEDBACK_BUTTONS, FORGET } from './parse.ts';

type KnownBlock = types.KnownBlock;

/** Slack's limit on a section block's text (and on any text object, e.g. a context element). */
export const MAX_SECTION_CHARS = 3000;
/** Slack's limit on blocks in one message. */
export const MAX_BLOCKS_PER_MESSAGE = 50;
/**
 * Slack's limit on the markdown of one payload: "the cumulative limit for all markdown blocks in a
 * single payload is 12,000 characters" (Block Kit reference, markdown block); chat.appendStream's
 * `markdown_text` has the same limit. A longer answer goes out as several messages.
 */
export const MAX_MARKDOWN_CHARS = 12_000;
/** Sources shown in the context block (a context block holds at most 10 elements). */
const MAX_SOURCES = 10;

/** One Slack message: Block Kit blocks plus the plain `text` fallback for notifications and screen readers. */
export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

/** How replies are drawn. */
export interface RenderOptions extends MrkdwnOptions {
  /** Where the handbook is published (KNOWLEDGE_BASE_URL): sources become links to `base + file + '#' + anchor`. */
  knowledgeBaseUrl?: string;
}

/** Render options from the environment: sources link to the handbook site, whose links may keep their labels. */
export function slackRenderOptions(env: { KNOWLEDGE_BASE_URL?: string | undefined }): RenderOptions {
  const base = env.KNOWLEDGE_BASE_URL;
  if (base === undefined || !URL.canParse(base)) return {};
  return { knowledgeBaseUrl: base, trustedLinkHosts: new Set([new URL(base).hostname.toLowerCase()]) };
}

/**
 * Render a reply as one or more Slack messages. The body goes in a `markdown` block, which Slack
 * renders itself (the same renderer as streamed `markdown_text`, so a streamed answer and a posted
 * one look alike); a body over {@link MAX_MARKDOWN_CHARS} is split at paragraph and line
 * boundaries over several messages. The last message carries a context block with the sources and
 * the 👍/👎 buttons when the reply can take feedback. `text`, the notification fallback, is the
 * same body as mrkdwn ({@link toMrkdwn}), where nothing can mention or disguise a link.
 */
export function renderReply(reply: Reply, options: RenderOptions = {}): SlackMessage[] {
  const extras = extraBlocks(reply, options);
  const pieces = splitText(toSlackMarkdown(reply.text, options), MAX_MARKDOWN_CHARS);
  return pieces.map((piece, index) => ({
    text: toMrkdwn(piece.replace(/\u200B/g, ''), options),
    blocks: [{ type: 'markdown', text: piece }, ...(index === pieces.length - 1 ? extras : [])],
  }));
}

/** The blocks that follow the answer: sources, then feedback buttons. Also appended to a streamed answer. */
export function extraBlocks(reply: Reply, options: RenderOptions = {}): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  if (reply.sources.length > 0) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: sourcesText(reply.sources, options), verbatim: true }] });
  }
  if (reply.answerId !== undefined && (reply.kind === 'answer' || reply.kind === 'excerpts' || reply.kind === 'lookup')) {
    // Slack's own feedback element: a 👎 opens the form asking what was wrong (see feedback-modal.ts).
    blocks.push({
      type: 'context_actions',
      // Unique per message, as Slack asks of a block_id.
      block_id: `hr_feedback:${reply.answerId}`,
      elements: [
        {
          type: 'feedback_buttons',
          action_id: FEEDBACK_BUTTONS,
          positive_button: { text: { type: 'plain_text', text: '👍' }, value: `up:${reply.answerId}`, accessibility_label: 'This answer was helpful' },
          negative_button: { text: { type: 'plain_text', text: '👎' }, value: `down:${reply.answerId}`, accessibility_label: 'This answer was not helpful' },
        },
      ],
    });
  }
  if (reply.actions?.includes('forget') === true) {
    blocks.push({
      type: 'actions',
      block_id: 'hr_forget',
      elements: [eraseDataButton()],
    });
  }
  return blocks;
}

/**
 * The sources line: each handbook section once, as a link to the published handbook when
 * KNOWLEDGE_BASE_URL is set, otherwise as `file › heading`. Whole items are dropped rather than a
 * link cut, to stay within a text object's 3,000 characters.
 */
/** The "Erase my data" button, behind Slack's own confirmation (erasing cannot be undone); in replies and on the App Home. */
export function eraseDataButton(): types.Button {
  return {
    type: 'button',
    action_id: FORGET,
    style: 'danger',
    text: { type: 'plain_text', text: 'Erase my data', emoji: true },
    confirm: {
      title: { type: 'plain_text', text: 'Erase everything?' },
      text: { type: 'mrkdwn', text: 'This erases your questions, answers, feedback and usage records. It cannot be undone.' },
      confirm: { type: 'plain_text', text: 'Erase' },
      deny: { type: 'plain_text', text: 'Keep' },
      style: 'danger',
    },
  };
}

function sourcesText(sources: readonly Source[], options: RenderOptions): string {
  const seen = new Set<string>();
  const items: string[] = [];
  for (const source of sources) {
    const key = `${source.file}#${source.anchor}`;
    if (seen.has(key) || items.length >= MAX_SOURCES) continue;
    seen.add(key);
    const url = sourceUrl(source, options.knowledgeBaseUrl);
    items.push(
      url === undefined
        ? `\`${escapeMrkdwn(source.file).replace(/`/g, "'")}\` › ${escapeMrkdwn(source.heading)}`
        : `<${escapeUrl(url)}|${escapeMrkdwn(source.headingPath).replace(/\|/g, '¦')}>`,
    );
  }
  const label = ':book: *Sources:* ';
  while (items.length > 1 && label.length + items.join(' · ').length > MAX_SECTION_CHARS) items.pop();
  const text = `${label}${items.join(' · ')}`;
  return text.length <= MAX_SECTION_CHARS ? text : `${text.slice(0, MAX_SECTION_CHARS - 1)}…`;
}

/** A section's address on the published handbook: base + file path + '#' + heading anchor; undefined without a base. */
export function sourceUrl(source: Pick<Source, 'file' | 'anchor'>, base: string | undefined): string | undefined {
  if (base === undefined) return undefined;
  const path = source.file.split('/').map(encodeURIComponent).join('/');
  const anchor = source.anchor === '' ? '' : `#${encodeURIComponent(source.anchor)}`;
  return `${base.endsWith('/') ? base : `${base}/`}${path}${anchor}`;
}

/** Escape the three characters Slack treats as control sequences in mrkdwn. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** How replies are drawn. */
export interface MrkdwnOptions {
  /**
   * Hosts whose links keep their label, e.g. the handbook's own site; default none. Any other
   * labelled link is shown as `label (url)`, so a steered answer cannot disguise where a link goes.
   */
  trustedLinkHosts?: ReadonlySet<string>;
}

/**
 * Convert the engine's markdown to Slack mrkdwn: `**b**` → `*b*`, `*i*` → `_i_`, `- ` lists → `• `,
 * headings → bold lines, `~~s~~` → `~s~`, `\x` → a literal x. Code spans and fences are left as they
 * are apart from escaping, since Slack shows them verbatim.
 *
 * Nothing in the text can become a mention, broadcast or disguised link: `&`, `<` and `>` are
 * escaped everywhere (so `<!channel>`, `<@U…>`, `<!subteam^…>` and `<url|label>` typed by anyone
 * stay text), and `[label](url)` becomes a Slack link only for an http(s) URL, with its label only
 * where {@link linkRendering} allows it.
 */
export function toMrkdwn(markdown: string, options: MrkdwnOptions = {}): string {
  // A user could type our placeholder characters; they must not be read as ours.
  return splitCode(markdown.replace(PLACEHOLDERS, ''))
    .map((part) => (part.code ? escapeMrkdwn(part.text) : convertProse(part.text, options)))
    .join('');
}

// Private-use characters as placeholders; toMrkdwn removes any that arrive in the text.
const BOLD = '\uE000';
const LINK = '\uE001';
const LITERAL = '\uE002';
const PLACEHOLDERS = /[\uE000-\uE002]/g;
const MARKDOWN_LINK = /\[([^\]\n]+)\]\(([^)\s]+)\)/g;
// A bare URL, up to whitespace, markup, a bracket or an escaped character; trailing punctuation and emphasis marks are not part of it.
const BARE_URL = /\bhttps?:\/\/[^\s<>"'`|()[\]\uE000-\uE002]+?(?=[.,;:!?_*~]*(?:[\s<>"'`|()[\]\uE000-\uE002]|$))/gi;

function convertProse(markdown: string, options: MrkdwnOptions): string {
  const literals: string[] = [];
  const links: string[] = [];
  const restore = (text: string) => text.replace(new RegExp(`${LITERAL}(\\d+)${LITERAL}`, 'g'), (_m, index: string) => literals[Number(index)] ?? '');
  const link = (rendered: string) => {
    links.push(rendered);
    return `${LINK}${links.length - 1}${LINK}`;
  };
  return (
    markdown
      .replace(MARKDOWN_ESCAPE, (_m, char: string) => {
        literals.push(char);
        return `${LITERAL}${literals.length - 1}${LITERAL}`;
      })
      // Links first, out of the way of emphasis rules that would otherwise eat `_` or `*` in URLs.
      .replace(MARKDOWN_LINK, (_m, label: string, url: string) => link(slackLink(restore(label), restore(url), options)))
      .replace(BARE_URL, (url: string) => link(URL.canParse(restore(url)) ? `<${escapeUrl(restore(url))}>` : escapeMrkdwn(restore(url))))
      .replace(/[&<>]/g, (char) => escapeMrkdwn(char))
      .replace(/^#{1,6}\s+(.+?)\s*#*$/gm, `${BOLD}$1${BOLD}`)
      .replace(/\*\*([^*\n]+)\*\*/g, `${BOLD}$1${BOLD}`)
      .replace(/__([^_\n]+)__/g, `${BOLD}$1${BOLD}`)
      .replace(/(^|[^*\w])\*([^*\s][^*\n]*?)\*(?=[^*\w]|$)/gm, '$1_$2_')
      .replace(/~~([^~\n]+)~~/g, '~$1~')
      .replace(/^(\s*)[-*+]\s+/gm, '$1• ')
      .replace(new RegExp(BOLD, 'g'), '*')
      .replace(new RegExp(`${LINK}(\\d+)${LINK}`, 'g'), (_m, index: string) => links[Number(index)] ?? '')
      .replace(new RegExp(`${LITERAL}(\\d+)${LITERAL}`, 'g'), (_m, index: string) => escapeMrkdwn(literals[Number(index)] ?? ''))
  );
}

/** A markdown link as Slack mrkdwn: `<url|label>`, `label (<url>)` or plain text, as {@link linkRendering} decides. */
function slackLink(label: string, url: string, options: MrkdwnOptions): string {
  const shownLabel = escapeMrkdwn(label.replace(MARKDOWN_EMPHASIS, ''));
  const rendering = linkRendering(label, url, options.trustedLinkHosts);
  switch (rendering) {
    case 'labelled':
      return `<${escapeUrl(url)}|${shownLabel.replace(/\|/g, '¦')}>`;
    case 'url-only':
      return `${shownLabel} (<${escapeUrl(url)}>)`;
    case 'text':
      return `${shownLabel} (${escapeMrkdwn(url)})`;
    default:
      return assertNever(rendering);
  }
}

const MARKDOWN_EMPHASIS = /\*\*|__/g;

/** A URL inside Slack's `<…>`: control characters escaped, and `|` encoded so it cannot start a label. */
function escapeUrl(url: string): string {
  return escapeMrkdwn(url).replace(/\|/g, '%7C');
}

const ZWSP = '\u200B';
/** `@channel`, `@here` and `@everyone` typed as words: broken so no renderer reads them as a broadcast. */
const BROADCAST_WORD = /@(channel|here|everyone)\b/gi;

/**
 * Reply markdown as Slack's `markdown` block and streamed `markdown_text` should receive it: Slack
 * renders the markdown itself (bold, lists, headings, tables, code), so the text stays markdown;
 * only what could reach someone else is changed. A zero-width space after each `<`, `&` and `]`
 * outside links keeps `<!channel>`, `<@U…>`, `<url|label>`, entities and stray link syntax as the
 * characters they are; `@channel`/`@here` words are broken the same way; a backslash escape stays
 * an escape. `[label](url)` stays a link only for an http(s) URL, with its label only where
 * {@link linkRendering} allows it (otherwise `label (url)`, so a steered answer cannot disguise
 * where a link goes); an image (`![alt](url)`) is never embedded. Code keeps its text, with the same breaks.
 */
export function toSlackMarkdown(markdown: string, options: MrkdwnOptions = {}): string {
  const text = markdown.replace(PLACEHOLDERS, '');
  // A fence never closed runs to the end, as CommonMark reads it (and as a half-streamed code block is).
  const fences = [...text.matchAll(/```/g)];
  const open = fences.length % 2 === 1 ? (fences.at(-1)?.index ?? text.length) : text.length;
  return (
    splitCode(text.slice(0, open))
      .map((part) => (part.code ? codeText(part.text) : markdownProse(part.text, options)))
      .join('') + codeText(text.slice(open))
  );
}

function codeText(code: string): string {
  return breakMarkup(code).replace(BROADCAST_WORD, `@${ZWSP}$1`);
}

function markdownProse(markdown: string, options: MrkdwnOptions): string {
  const literals: string[] = [];
  const links: string[] = [];
  const restore = (text: string) => text.replace(new RegExp(`${LITERAL}(\\d+)${LITERAL}`, 'g'), (_m, index: string) => literals[Number(index)] ?? '');
  return markdown
    .replace(MARKDOWN_ESCAPE, (_m, char: string) => {
      literals.push(char);
      return `${LITERAL}${literals.length - 1}${LITERAL}`;
    })
    // `![alt](url)` would embed whatever the URL serves: broken into a plain `!` and a link.
    .replace(/!(?=\[)/g, `!${ZWSP}`)
    .replace(MARKDOWN_LINK, (_m, label: string, url: string) => {
      links.push(markdownLink(restore(label), restore(url), options));
      return `${LINK}${links.length - 1}${LINK}`;
    })
    .replace(/[<&\]]/g, `$&${ZWSP}`)
    .replace(BROADCAST_WORD, `@${ZWSP}$1`)
    .replace(new RegExp(`${LINK}(\\d+)${LINK}`, 'g'), (_m, index: string) => links[Number(index)] ?? '')
    .replace(new RegExp(`${LITERAL}(\\d+)${LITERAL}`, 'g'), (_m, index: string) => {
      const char = literals[Number(index)] ?? '';
      return `\\${char}${/[<&\]]/.test(char) ? ZWSP : ''}`;
    });
}

/** A markdown link for Slack's markdown renderer: kept, shown as `label (url)`, or plain text, as {@link linkRendering} decides. */
function markdownLink(label: string, url: string, options: MrkdwnOptions): string {
  const shown = label
    .replace(MARKDOWN_EMPHASIS, '')
    .replace(/[\\[\]]/g, '\\$&')
    .replace(/[<&]/g, `$&${ZWSP}`)
    .replace(BROADCAST_WORD, `@${ZWSP}$1`);
  const rendering = linkRendering(label, url, options.trustedLinkHosts);
  // Angle brackets and spaces never reach a destination; parentheses are encoded so none can end it early.
  const safeUrl = url.replace(/[<>()\s]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  switch (rendering) {
    case 'labelled':
      return `[${shown}](${safeUrl})`;
    case 'url-only':
      return `${shown} (${safeUrl})`;
    case 'text':
      return `${shown} (${breakMarkup(url).replace(BROADCAST_WORD, `@${ZWSP}$1`)})`;
    default:
      return assertNever(rendering);
  }
}

/**
 * Streamed reply markdown, converted as {@link toSlackMarkdown} converts a whole reply. Deltas are
 * handed out up to the last whitespace that splits no word, link or code span (a link, an escape
 * or an `@channel` cut in two would be converted wrongly), the rest is held until more arrives, and
 * {@link end} hands out what is left. What was handed out is kept, so the caller can tell whether
 * the stream shows exactly what the final reply renders to.
 */
export class SlackMarkdownStream {
  readonly #options: MrkdwnOptions;
  #raw = '';
  #shown = '';
  /** Characters of {@link raw} already converted and handed out. */
  #taken = 0;

  constructor(options: MrkdwnOptions = {}) {
    this.#options = options;
  }

  /** Add a delta; returns the markdown newly ready to append ('' when nothing can be handed out yet). */
  push(delta: string): string {
    this.#raw += delta;
    const end = safeEnd(this.#raw);
    return end > this.#taken ? this.#take(this.#raw.slice(0, end)) : '';
  }

  /** Everything not yet handed out. */
  end(): string {
    return this.#take(this.#raw);
  }

  /** The raw markdown received so far. */
  get raw(): string {
    return this.#raw;
  }

  /** The converted markdown handed out so far. */
  get shown(): string {
    return this.#shown;
  }

  #take(complete: string): string {
    // Converting the whole completed prefix (not just its new lines) keeps a code fence opened on an
    // earlier line read as code; text already handed out cannot change, so only the new part is sent.
    // If a later line changed how earlier text reads (a fence closed), the new lines are converted
    // alone; the stream then differs from the final rendering, and the caller replaces it.
    const converted = toSlackMarkdown(complete, this.#options);
    const fresh = converted.startsWith(this.#shown) ? converted.slice(this.#shown.length) : toSlackMarkdown(complete.slice(this.#taken), this.#options);
    this.#taken = complete.length;
    this.#shown += fresh;
    return fresh;
  }
}

/** Where streamed markdown can be cut: after the last whitespace of the open line that is inside no link or code span. */
function safeEnd(raw: string): number {
  const lineStart = raw.lastIndexOf('\n') + 1;
  const line = raw.slice(lineStart);
  for (let at = line.length - 1; at >= 0; at--) {
    if (/\s/.test(line[at]!) && cutOk(line.slice(0, at))) return lineStart + at + 1;
  }
  return lineStart;
}

/** Whether a line's text up to a whitespace ends outside any code span and link. */
function cutOk(prefix: string): boolean {
  if ((prefix.match(/`/g) ?? []).length % 2 === 1) return false;
  const bracket = prefix.lastIndexOf('[');
  if (bracket < 0) return true;
  const tail = prefix.slice(bracket);
  const close = tail.indexOf(']');
  // Inside a label; or a label followed by `(`: a link, cut only once its `)` has come.
  if (close < 0) return false;
  return tail[close + 1] !== '(' || tail.includes(')', close);
}

/**
 * Split text into pieces of at most `limit` characters, preferring paragraph breaks, then line
 * breaks, then spaces; a single unbroken run longer than the limit is the only thing ever cut.
 */
export function splitText(text: string, limit: number): string[] {
  const pieces: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    const window = rest.slice(0, limit + 1);
    let cut = window.lastIndexOf('\n\n');
    if (cut < limit / 4) cut = window.lastIndexOf('\n');
    if (cut < limit / 4) cut = window.lastIndexOf(' ');
    if (cut <= 0) cut = limit;
    pieces.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest !== '' || pieces.length === 0) pieces.push(rest === '' ? ' ' : rest);
  return pieces;
}

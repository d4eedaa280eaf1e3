import type { types } from '@slack/bolt';
import type { Reply, Source } from '../../src/message.ts';
import { assertNever } from '../../src/message.ts';
import { linkRendering, MARKDOWN_ESCAPE, splitCode } from '../../src/engine/user-text.ts';
import { FEEDBACK_BUTTONS, FORGET } from './parse.ts';

type KnownBlock = types.KnownBlock;

/** Slack's limit on a section block's text. */
export const MAX_SECTION_CHARS = 3000;
/** Slack's limit on blocks in one message. */
export const MAX_BLOCKS_PER_MESSAGE = 50;
/**
 * Body text per message. Slack truncates `text` past 40,000 characters and collapses long
 * messages; a few sections a message keeps each one readable and the fallback text whole.
 */
export const MAX_MESSAGE_BODY_CHARS = 12_000;
/** Sources shown in the context block (a context block holds at most 10 elements). */
const MAX_SOURCES = 10;

/** One Slack message: Block Kit blocks plus the plain `text` fallback for notifications and screen readers. */
export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

/**
 * Render a reply as one or more Slack messages: the body in mrkdwn sections split at paragraph
 * and line boundaries, and on the last message a context block with the sources and the
 * 👍/👎 buttons when the reply can take feedback.
 */
export function renderReply(reply: Reply, options: MrkdwnOptions = {}): SlackMessage[] {
  const extras = extraBlocks(reply);
  const sections = splitText(toMrkdwn(reply.text, options), MAX_SECTION_CHARS);
  const messages: SlackMessage[] = [];
  let blocks: KnownBlock[] = [];
  let body: string[] = [];
  let size = 0;
  const flush = () => {
    messages.push({ text: body.join('\n'), blocks });
    blocks = [];
    body = [];
    size = 0;
  };
  for (const section of sections) {
    if (blocks.length > 0 && (blocks.length + 1 > MAX_BLOCKS_PER_MESSAGE - extras.length || size + section.length > MAX_MESSAGE_BODY_CHARS)) flush();
    // verbatim: Slack must not turn plain words into links or mentions; every link is made explicitly by toMrkdwn.
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: section, verbatim: true } });
    body.push(section);
    size += section.length;
  }
  blocks.push(...extras);
  flush();
  return messages;
}

/** The blocks that follow the answer: sources, then feedback buttons. Also appended to a streamed answer. */
export function extraBlocks(reply: Reply): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  if (reply.sources.length > 0) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: sourcesText(reply.sources), verbatim: true }] });
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
      elements: [
        {
          type: 'button',
          action_id: FORGET,
          style: 'danger',
          text: { type: 'plain_text', text: 'Erase my data', emoji: true },
          // Erasing cannot be undone, so Slack asks the clicking user to confirm first.
          confirm: {
            title: { type: 'plain_text', text: 'Erase everything?' },
            text: { type: 'mrkdwn', text: 'This erases your questions, answers, feedback and usage records. It cannot be undone.' },
            confirm: { type: 'plain_text', text: 'Erase' },
            deny: { type: 'plain_text', text: 'Keep' },
            style: 'danger',
          },
        },
      ],
    });
  }
  return blocks;
}

function sourcesText(sources: readonly Source[]): string {
  const seen = new Set<string>();
  const items: string[] = [];
  for (const source of sources) {
    const key = `${source.file}#${source.anchor}`;
    if (seen.has(key) || items.length >= MAX_SOURCES) continue;
    seen.add(key);
    items.push(`${escapeMrkdwn(source.headingPath)} (\`${escapeMrkdwn(source.file)}\`)`);
  }
  const text = `:book: *Sources:* ${items.join(' · ')}`;
  return text.length <= MAX_SECTION_CHARS ? text : `${text.slice(0, MAX_SECTION_CHARS - 1)}…`;
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

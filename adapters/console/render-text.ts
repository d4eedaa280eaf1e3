import { MARKDOWN_ESCAPE } from '../../src/engine/user-text.ts';
import type { Reply } from '../../src/message.ts';

// Private-use placeholder for an escaped character while emphasis is read; removed from the input first.
const LITERAL = '\uE002';

/** Render a reply as terminal text: markdown emphasis dropped (or ANSI bold on a TTY), `\x` escapes shown as x, sources listed under it. */
export function renderText(reply: Reply, options: { color: boolean }): string {
  const bold = (text: string) => (options.color ? `\u001b[1m${text}\u001b[22m` : text);
  const dim = (text: string) => (options.color ? `\u001b[2m${text}\u001b[22m` : text);
  const literals: string[] = [];
  const body = reply.text
    .replace(/\uE002/g, '')
    .replace(MARKDOWN_ESCAPE, (_match, char: string) => `${LITERAL}${literals.push(char) - 1}${LITERAL}`)
    .replace(/\*\*([^*\n]+)\*\*/g, (_match, inner: string) => bold(inner))
    .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,:;!?]|$)/g, (_match, before: string, inner: string) => before + inner)
    .replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, '$1 <$2>')
    .replace(new RegExp(`${LITERAL}(\\d+)${LITERAL}`, 'g'), (_match, index: string) => literals[Number(index)] ?? '');
  if (reply.sources.length === 0) return body;
  const sources = reply.sources.map((source) => `  - ${source.headingPath} (${source.file}#${source.anchor})`);
  return `${body}\n${dim(['Sources:', ...sources].join('\n'))}`;
}

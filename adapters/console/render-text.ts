import type { Reply } from '../../src/message.ts';

/** Render a reply as terminal text: markdown emphasis dropped (or ANSI bold on a TTY), sources listed under it. */
export function renderText(reply: Reply, options: { color: boolean }): string {
  const bold = (text: string) => (options.color ? `\u001b[1m${text}\u001b[22m` : text);
  const dim = (text: string) => (options.color ? `\u001b[2m${text}\u001b[22m` : text);
  const body = reply.text
    .replace(/\*\*([^*\n]+)\*\*/g, (_match, inner: string) => bold(inner))
    .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,:;!?]|$)/g, (_match, before: string, inner: string) => before + inner)
    .replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, '$1 <$2>');
  if (reply.sources.length === 0) return body;
  const sources = reply.sources.map((source) => `  - ${source.headingPath} (${source.file}#${source.anchor})`);
  return `${body}\n${dim(['Sources:', ...sources].join('\n'))}`;
}

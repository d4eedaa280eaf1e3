import type { ServerResponse } from 'node:http';

/** One small page of the install flow: a heading, a sentence or two, and maybe a link. */
export interface OAuthPage {
  status: number;
  title: string;
  paragraphs: readonly string[];
  link?: { href: string; text: string };
}

/**
 * Headers of every page of the flow: it loads nothing from elsewhere (its policy forbids it), is never
 * cached (it may follow a one-time code), and sends no Referer on.
 */
export const OAUTH_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

/** Send a page of the install flow, with {@link OAUTH_PAGE_HEADERS}. */
export function sendOAuthPage(response: ServerResponse, page: OAuthPage): void {
  response.writeHead(page.status, { 'content-type': 'text/html; charset=utf-8', ...OAUTH_PAGE_HEADERS });
  response.end(renderOAuthPage(page));
}

/** The HTML of a page; everything shown is escaped. */
export function renderOAuthPage(page: OAuthPage): string {
  const link = page.link === undefined ? '' : `<p><a class="button" href="${escapeHtml(page.link.href)}" rel="noreferrer">${escapeHtml(page.link.text)}</a></p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; color: #1d1c1d; line-height: 1.5; }
.button { display: inline-block; padding: 0.6rem 1.2rem; border-radius: 6px; background: #4a154b; color: #fff; text-decoration: none; font-weight: 600; }
</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
${page.paragraphs.map((text) => `<p>${escapeHtml(text)}</p>`).join('\n')}
${link}
</body>
</html>
`;
}

/** Text made safe inside HTML elements and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

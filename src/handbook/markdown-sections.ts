/** One searchable piece of a handbook file: the text under one heading. */
export interface MarkdownSection {
  /** Heading depth: 1 for the title section, 2 for `##`, 3 for `###`. */
  level: 1 | 2 | 3;
  /** The heading's text, e.g. "Eligibility". */
  heading: string;
  /** Headings from the title down to this one, e.g. "Parental Leave › Eligibility". */
  headingPath: string;
  /** URL fragment for this heading, unique within the file and stable while the headings stay the same. */
  anchor: string;
  /** The section's markdown (without its heading line), trimmed. */
  body: string;
}

/** A markdown file split into its title and its non-empty sections, in document order. */
export interface MarkdownDocument {
  title: string;
  sections: MarkdownSection[];
}

/** Separator used in heading paths. */
export const HEADING_PATH_SEPARATOR = ' › ';

// Up to three leading spaces, 1–3 hashes, then whitespace (so "#hashtag" is not a heading); `####`
// and deeper stay in the body because they are too fine-grained to be useful as search units.
const HEADING = /^ {0,3}(#{1,3})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * Split markdown into sections at `#`, `##` and `###` headings. Text before the first `##` belongs
 * to the title section; sections with no body are dropped (their heading still appears in their
 * children's heading paths); lines inside fenced code blocks are never headings.
 * `fallbackTitle` is used when the file has no `#` heading.
 */
export function splitMarkdownSections(markdown: string, fallbackTitle: string): MarkdownDocument {
  const lines = markdown.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const title = findTitle(lines) ?? fallbackTitle;

  interface Draft { level: 1 | 2 | 3; heading: string; path: string[]; lines: string[] }
  const drafts: Draft[] = [{ level: 1, heading: title, path: [title], lines: [] }];
  let root = title;
  let h2: string | undefined;
  const inCode = fenceTracker();
  let titleSeen = false;

  for (const line of lines) {
    const current = drafts[drafts.length - 1]!;
    if (inCode(line)) {
      current.lines.push(line);
      continue;
    }
    const heading = HEADING.exec(line);
    const hashes = heading?.[1];
    const text = heading?.[2]?.trim();
    if (hashes === undefined || text === undefined || text === '') {
      current.lines.push(line);
      continue;
    }
    if (hashes.length === 1) {
      // The first `#` is the title the title section already carries; a later one starts a new top-level part.
      if (!titleSeen && current === drafts[0] && text === title) {
        titleSeen = true;
        continue;
      }
      root = text;
      h2 = undefined;
      drafts.push({ level: 1, heading: text, path: [text], lines: [] });
    } else if (hashes.length === 2) {
      h2 = text;
      drafts.push({ level: 2, heading: text, path: [root, text], lines: [] });
    } else {
      drafts.push({ level: 3, heading: text, path: h2 === undefined ? [root, text] : [root, h2, text], lines: [] });
    }
  }

  const usedAnchors = new Map<string, number>();
  const sections: MarkdownSection[] = [];
  for (const draft of drafts) {
    // Anchors are assigned to every heading, empty or not, so they match what a markdown renderer produces.
    const anchor = uniqueAnchor(slugify(draft.heading), usedAnchors);
    const body = draft.lines.join('\n').trim();
    if (body === '') continue;
    sections.push({
      level: draft.level,
      heading: draft.heading,
      headingPath: draft.path.join(HEADING_PATH_SEPARATOR),
      anchor,
      body,
    });
  }
  return { title, sections };
}

/** GitHub-style heading slug: lowercase, punctuation dropped, spaces to hyphens. */
export function slugify(heading: string): string {
  const slug = heading
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
  return slug === '' ? 'section' : slug;
}

function uniqueAnchor(slug: string, used: Map<string, number>): string {
  const seen = used.get(slug);
  used.set(slug, (seen ?? 0) + 1);
  return seen === undefined ? slug : `${slug}-${seen}`;
}

function findTitle(lines: string[]): string | undefined {
  const inCode = fenceTracker();
  for (const line of lines) {
    if (inCode(line)) continue;
    const heading = HEADING.exec(line);
    if (heading?.[1] === '#' && heading[2]?.trim()) return heading[2].trim();
  }
  return undefined;
}

/** Returns a line classifier that is true for fence lines and the lines between them. */
function fenceTracker(): (line: string) => boolean {
  let open: string | undefined;
  return (line) => {
    const marker = FENCE.exec(line)?.[1];
    if (open === undefined) {
      if (marker === undefined) return false;
      open = marker;
      return true;
    }
    // A fence closes only with the same character, at least as long, and nothing else on the line.
    if (marker !== undefined && marker[0] === open[0] && marker.length >= open.length && line.trim() === marker) open = undefined;
    return true;
  };
}

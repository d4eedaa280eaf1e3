import type { Source } from '../message.ts';
import type { Db } from '../store/database.ts';
import type { HistoryStore } from '../store/history-store.ts';
import type { Owner } from './ownership.ts';
import { tenantKey } from './ownership.ts';

/** A topic to suggest asking about: a handbook section title, never anyone's own words. */
export interface SuggestedTopic {
  /** Short label, e.g. "Parental leave". */
  title: string;
  /** What asking it sends, e.g. "What does the handbook say about Parental leave?". */
  message: string;
}

/** How topics are chosen. */
export interface SuggestedTopicsOptions {
  /** Topics returned at most. Default 4 (Slack shows up to four suggested prompts). */
  limit: number;
  /** Recent answers read to find the most-asked topics. Default 2,000. */
  window: number;
  /**
   * Distinct people who must have been answered from a section before it is suggested to others.
   * Default 3: a topic only one or two people asked about could tell a colleague what they asked.
   */
  minAskers: number;
}

/** Defaults of {@link SuggestedTopicsOptions}, stated once. */
export const DEFAULT_SUGGESTED_TOPICS: SuggestedTopicsOptions = { limit: 4, window: 2_000, minAskers: 3 };

/** Longest title kept; a longer heading is cut at a word. */
const MAX_TITLE_CHARS = 60;

/**
 * The handbook's most-asked topics in one workspace or tenant: the sections its recent answers
 * came from, counted once per answer, kept only when enough different people were answered from
 * them, most people first. When history is too thin (a new install, RETENTION_DAYS=0), the
 * handbook's own top-level documents fill the list. Only section and document titles leave this
 * function; no question text, and nothing that ties a topic to a person.
 */
export async function suggestedTopics(
  history: HistoryStore,
  handbook: Db,
  tenant: Pick<Owner, 'platform' | 'tenantId'>,
  options: Partial<SuggestedTopicsOptions> = {},
): Promise<SuggestedTopic[]> {
  const { limit, window, minAskers } = { ...DEFAULT_SUGGESTED_TOPICS, ...options };
  const rows = await history.recentSources(tenantKey(tenant), window);
  const topics = new Map<string, { heading: string; askers: Set<string>; answers: number }>();
  for (const row of rows) {
    let sources: Source[];
    try {
      sources = JSON.parse(row.sources) as Source[];
    } catch {
      // A row that does not parse counts for nothing; the others still decide.
      continue;
    }
    const seen = new Set<string>();
    for (const source of sources) {
      if (typeof source?.heading !== 'string' || source.heading.trim() === '') continue;
      const key = `${source.file}#${source.anchor}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const topic = topics.get(key) ?? { heading: source.heading, askers: new Set<string>(), answers: 0 };
      topic.askers.add(row.owner);
      topic.answers += 1;
      topics.set(key, topic);
    }
  }
  const chosen: SuggestedTopic[] = [];
  const titles = new Set<string>();
  const add = (heading: string) => {
    const title = shortTitle(heading);
    if (title === '' || titles.has(title.toLowerCase()) || chosen.length >= limit) return;
    titles.add(title.toLowerCase());
    chosen.push({ title, message: `What does the handbook say about ${title}?` });
  };
  [...topics.values()]
    .filter((topic) => topic.askers.size >= minAskers)
    .sort((a, b) => b.askers.size - a.askers.size || b.answers - a.answers || a.heading.localeCompare(b.heading))
    .forEach((topic) => add(topic.heading));
  if (chosen.length < limit) {
    // The handbook's own documents: from this process's index (derived from the files, never shared).
    const documents = handbook.prepare('SELECT title FROM handbook_files ORDER BY path LIMIT ?').all(limit * 4) as Array<{ title: string }>;
    for (const document of documents) add(document.title);
  }
  return chosen;
}

function shortTitle(heading: string): string {
  const flat = heading.replace(/\s+/g, ' ').trim();
  if (flat.length <= MAX_TITLE_CHARS) return flat;
  const cut = flat.slice(0, MAX_TITLE_CHARS);
  const space = cut.lastIndexOf(' ');
  return `${(space > MAX_TITLE_CHARS / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

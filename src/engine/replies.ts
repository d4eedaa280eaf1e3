import type { Reply } from '../message.ts';
import type { ErasureReport } from '../store/erasure.ts';
import { quoteUserText } from './user-text.ts';

/** A reply with no sources. */
export function textReply(kind: Reply['kind'], text: string, visibility: Reply['visibility'] = 'public'): Reply {
  return { kind, text, sources: [], visibility };
}

/** The product name when BOT_NAME is not set (the same default as the configuration's). */
export const DEFAULT_BOT_NAME = 'HR Assistant';

/** What the bot can do, in the words users type; `botName` is the product name it introduces itself with. */
export function helpText(isAdmin: boolean, botName = DEFAULT_BOT_NAME): string {
  const lines = [
    `I'm ${botName}. Ask me anything about our HR policies in your own words, or use a command:`,
    '- `/hr ask <question>`: an answer from the handbook, with sources',
    '- `/hr policy <words>`: the matching handbook sections, instantly',
    '- `/hr holidays [year]`: the company holiday calendar',
    '- `/hr contact <topic>`: who in HR to talk to',
    '- `/hr history`: your recent questions (only you see them)',
    '- `/hr forget`: erase everything I have stored about you',
    '- `/hr usage`: how much of your daily question allowance you have used',
    '- `/hr help`: this list',
    'In Teams and here you can type the same words without `/hr`, e.g. `policy parental leave`.',
  ];
  if (isAdmin) {
    lines.push('Admin: `/hr usage` also shows totals for the workspace; `/hr forget <user id>` erases another user.');
  }
  return lines.join('\n');
}

/**
 * Confirmation after an erase, saying what went; for an admin's erase of an id with no data, says so.
 * `journalPending` is set when old copies could not yet be wiped from the database's journal (another
 * process was reading it): the reply says so instead of claiming everything is gone.
 */
export function erasedText(report: ErasureReport, whose: 'your' | 'their', journalPending?: { retryMs: number }, userId?: string): string {
  // Every count in the report, whatever it grows to hold: all zero means nothing was stored.
  const nothing = Object.values(report).every((value) => typeof value !== 'number' || value === 0);
  if (whose === 'their' && nothing) {
    return `I have nothing stored for ${userId === undefined ? 'that user' : `_${quoteUserText(userId)}_`} in this workspace, so there was nothing to erase. Check the user id.`;
  }
  const parts = [
    `${report.messages} message${report.messages === 1 ? '' : 's'} in ${report.conversations} conversation${report.conversations === 1 ? '' : 's'}`,
    `${report.feedback} feedback rating${report.feedback === 1 ? '' : 's'}`,
    `${report.usageDays} day${report.usageDays === 1 ? '' : 's'} of usage records`,
    `${report.cachedAnswers} cached answer${report.cachedAnswers === 1 ? '' : 's'}`,
  ];
  const who = whose === 'your' ? 'you' : 'that user';
  if (journalPending === undefined) {
    return `Done. I have erased everything stored about ${who}: ${parts.join(', ')}. This cannot be undone.`;
  }
  return (
    `Done. I have deleted everything stored about ${who}: ${parts.join(', ')}. This cannot be undone. ` +
    `Old copies are still in the database's journal file because another process is reading the database; ` +
    `I keep trying to wipe them for the next ${waitText(Math.ceil(journalPending.retryMs / 1000))}, and again at the next hourly clean-up if that read is still going on.`
  );
}

/** The reply to a message whose turn began before its author's data was erased: nothing of it was stored. */
export const DROPPED_AFTER_ERASE_TEXT =
  "You erased your data while I was working on this message, so I dropped it and stored nothing. Ask again if you still need it.";

/** Human wording for a wait in seconds. */
export function waitText(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 90) return `${minutes} minutes`;
  return `${Math.ceil(minutes / 60)} hours`;
}

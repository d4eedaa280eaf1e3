/** The `/hr` commands. */
export const COMMAND_NAMES = ['help', 'policy', 'ask', 'holidays', 'contact', 'history', 'forget', 'usage'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** A message understood as a command (plain questions become `ask`). */
export type ParsedCommand =
  | { type: 'command'; name: CommandName; args: string; explicit: boolean }
  | { type: 'unknown'; word: string }
  | { type: 'empty' };

const SLASH_PREFIX = /^\/hr(?:\s+|$)/i;
// "hr policy x" is the command typed without its slash; "HR is great" is just a question.
const WORD_PREFIX = new RegExp(`^hr\\s+(?=(?:${COMMAND_NAMES.join('|')})(?:\\s|$))`, 'i');
// Commands that, typed without `/hr`, mean the command only when nothing (or a year) follows;
// "history of parental leave?" is a question, not a request for one's history.
const BARE_ONLY = new Set<CommandName>(['help', 'history', 'forget', 'usage']);

function isCommandName(word: string): word is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(word);
}

/**
 * Read the command words out of a message. `viaSlashCommand` is true when the platform delivered
 * it as `/hr` (the text is then the arguments). With or without the `/hr` prefix the same words
 * work, so Teams and the console behave like Slack.
 */
export function parseCommand(text: string, viaSlashCommand: boolean): ParsedCommand {
  let rest = text.trim();
  let explicit = viaSlashCommand;
  for (const prefix of [SLASH_PREFIX, WORD_PREFIX]) {
    if (prefix.test(rest)) {
      rest = rest.replace(prefix, '').trim();
      explicit = true;
      break;
    }
  }
  if (rest === '') return explicit ? { type: 'command', name: 'help', args: '', explicit } : { type: 'empty' };

  const match = /^(\/?)([\p{L}-]+)(?:\s+([\s\S]*))?$/u.exec(rest);
  const slash = match?.[1] ?? '';
  const word = (match?.[2] ?? '').toLowerCase();
  const args = (match?.[3] ?? '').trim();

  if (isCommandName(word)) {
    if (explicit || slash === '/') return { type: 'command', name: word, args, explicit: true };
    if (BARE_ONLY.has(word) && args === '') return { type: 'command', name: word, args, explicit: false };
    if (word === 'holidays' && (args === '' || /^\d{4}$/.test(args))) return { type: 'command', name: word, args, explicit: false };
    if ((word === 'policy' || word === 'contact' || word === 'ask') && args !== '') {
      return { type: 'command', name: word, args, explicit: false };
    }
  } else if (explicit || slash === '/') {
    return { type: 'unknown', word: word || rest.split(/\s+/)[0] || rest };
  }
  return { type: 'command', name: 'ask', args: rest, explicit: false };
}

import { foldText } from '../handbook/query-terms.ts';

/**
 * Recognising a question about the company holiday calendar ("what holidays do we have this year?",
 * "when is the next bank holiday in Dublin?", "is Reformation Day a day off?") so it is answered
 * from the calendar itself, not from passages. Office and holiday names come from the calendar, so
 * any handbook's offices and holidays are understood.
 */

/** What a calendar question asks for. */
export interface HolidayQuestion {
  /** The year asked about ("this year", "next year", "2027"); absent when only upcoming holidays are wanted. */
  year?: number;
  /** Only the holidays still ahead ("the next holiday", "upcoming holidays"). */
  upcoming: boolean;
  /** An office named in the question, spelled as the calendar spells it. */
  office?: string;
}

/** What the calendar offers to match against. */
export interface CalendarTerms {
  offices: readonly string[];
  /** Holiday names ("Thanksgiving Day", "St Patrick's Day"). */
  names: readonly string[];
}

// "public holiday", "bank holidays", "holiday calendar": the calendar, whatever else is said.
const CALENDAR_PHRASE =
  /\b(?:public|bank|company|national|federal|statutory|official|office|regional|state)\s+holidays?\b|\bholiday\s+(?:calendar|list|schedule|dates)\b|\b(?:calendar|list|schedule|dates)\s+of\s+(?:the\s+)?(?:\w+\s+)?holidays\b/;
const HOLIDAY_WORD = /\bholidays?\b/;
// "holiday" meaning time off one books (UK and Irish usage): "how many days holiday", "book a holiday".
const TIME_OFF_SENSE =
  /\b(?:how\s+(?:many|much)|allowance|entitlement|balance|accru\w*|carry|carried|roll\w*\s*over|book\w*|request\w*|take|taking|took|cancel\w*|approv\w*|sell|buy|pay|paid|days?\s+(?:of\s+)?holiday|holiday\s+(?:days?|pay|leave|year|request|booking|form)|on\s+holiday|leave|annual|abroad|trip)\b/;
// With a holiday's name, what makes it a question about the calendar rather than, say, a party.
const DAY_OFF_FRAME = /\b(?:off|closed|open|holidays?|when|what\s+(?:day|date)|which\s+(?:day|date)|date|dates|working|work)\b/;
const UPCOMING = /\b(?:next|upcoming|coming|soonest|soon|remaining|left)\b/;
// Words of holiday names that say nothing about which holiday ("St Stephen's Day (substitute)").
const GENERIC_NAME_WORDS = new Set(['day', 'days', 'holiday', 'holidays', 'observed', 'substitute', 'company', 'bank', 'the', 'of', 'st', 's', 'and', 'a']);

/** The calendar question in `question`, or undefined when it is about something else. */
export function holidayQuestion(question: string, calendar: CalendarTerms, now: Date): HolidayQuestion | undefined {
  const text = simplify(question);
  if (!isCalendarQuestion(text, calendar)) return undefined;
  const thisYear = now.getUTCFullYear();
  const explicit = /\b((?:19|20)\d{2})\b/.exec(text)?.[1];
  let year: number | undefined;
  if (explicit !== undefined) year = Number(explicit);
  else if (/\bnext\s+year\b/.test(text)) year = thisYear + 1;
  else if (/\blast\s+year\b/.test(text)) year = thisYear - 1;
  else if (/\b(?:this|current)\s+year\b/.test(text)) year = thisYear;
  const upcoming = year === undefined && UPCOMING.test(text.replace(/\bnext\s+year\b/g, ''));
  const office = calendar.offices.find((name) => new RegExp(`\\b${escape(simplify(name))}\\b`).test(text));
  return {
    ...(upcoming ? {} : { year: year ?? thisYear }),
    upcoming,
    ...(office === undefined ? {} : { office }),
  };
}

function isCalendarQuestion(text: string, calendar: CalendarTerms): boolean {
  if (CALENDAR_PHRASE.test(text)) return true;
  if (HOLIDAY_WORD.test(text)) return !TIME_OFF_SENSE.test(text);
  return DAY_OFF_FRAME.test(text) && calendar.names.some((name) => namesHoliday(text, name));
}

/** Whether every distinctive word of a holiday's name is in the question ("thanksgiving" for "Day after Thanksgiving"). */
function namesHoliday(text: string, name: string): boolean {
  const words = simplify(name.replace(/\([^)]*\)/g, ' '))
    .split(' ')
    .filter((word) => word !== '' && !GENERIC_NAME_WORDS.has(word) && word.length > 2);
  return words.length > 0 && words.every((word) => new RegExp(`\\b${escape(word)}\\b`).test(text));
}

/** {@link foldText}, other punctuation as spaces. */
function simplify(text: string): string {
  return foldText(text)
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The redactor every log line passes through. Free text is scanned for personal data and
 * credentials, structured values are walked with rules by key name (secrets, user ids, message
 * text), and platform user ids are replaced by a keyed pseudonym so lines stay correlatable.
 *
 * Every pattern is written to be linear: each one can only start at the beginning of a run of its
 * own characters (a lookbehind), its repeated parts cannot split the same characters two ways, and
 * anything needing arithmetic (Luhn, mod-97, address parsing) is checked in code, not in the regex.
 */
import { createHmac } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** The markers that replace redacted content; a log reader sees what kind of thing was removed. */
export const MARKERS = {
  email: '[email]',
  phone: '[phone]',
  ssn: '[ssn]',
  card: '[card]',
  iban: '[iban]',
  ip: '[ip]',
  token: '[token]',
  jwt: '[jwt]',
  awsKey: '[aws-key]',
  secret: '[secret]',
  text: '[text]',
  name: '[name]',
  user: '[user]',
  binary: '[binary]',
  circular: '[circular]',
  maxDepth: '[max-depth]',
  unreadable: '[unreadable]',
} as const;

/** Maps a platform user id to a stable pseudonym. */
export type Pseudonymize = (id: string) => string;

/** How {@link redactText} and {@link redactValue} treat what they find. */
export interface RedactOptions {
  /** Replaces user ids; without it they become `[user]`, which loses correlation but not privacy. */
  pseudonymize?: Pseudonymize;
  /** Keep message text (redacted and truncated) instead of `[text]`; meant for debug level only. */
  allowText?: boolean;
  /** Nesting below this depth becomes `[max-depth]`; default 8. */
  maxDepth?: number;
}

/** Message text kept at debug level is cut to this many characters. */
export const TEXT_LIMIT = 80;

const DEFAULT_MAX_DEPTH = 8;
const PSEUDONYM_PATTERN = /^u_[0-9a-f]{16}$/;

/** A keyed HMAC-SHA256 pseudonymizer: same id and key give the same `u_<16 hex>`, a new key a new one. */
export function createPseudonymizer(key: string | Buffer): Pseudonymize {
  // Copy the key so a caller zeroing or reusing its buffer cannot change pseudonyms later.
  const secret = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  return (id: string) => 'u_' + createHmac('sha256', secret).update(id, 'utf8').digest('hex').slice(0, 16);
}

/** True when the value already is a pseudonym, so a second redaction pass leaves it alone. */
export function isPseudonym(value: string): boolean {
  return PSEUDONYM_PATTERN.test(value);
}

// ---------------------------------------------------------------------------------------------
// Checksums

/** Luhn check over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 == 1. */
export function ibanValid(iban: string): boolean {
  const compact = iban.replace(/ /g, '').toUpperCase();
  if (compact.length < 15 || compact.length > 34 || !/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    // Letters expand to two digits (A=10 ... Z=35); fold digit by digit to stay in safe integers.
    const value = code >= 65 ? String(code - 55) : ch;
    for (const digit of value) remainder = (remainder * 10 + (digit.charCodeAt(0) - 48)) % 97;
  }
  return remainder === 1;
}

/** IBAN length by country (SWIFT IBAN registry), used to vet candidates not written in capitals. */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30,
  KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20,
  MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22,
  RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

/**
 * An IBAN candidate is redacted when mod-97 holds. Written in capitals, as IBANs are printed, that
 * is enough; in lower or mixed case, where hex ids and words are common, the country must also be
 * a known IBAN country with exactly its length.
 */
function ibanCandidate(candidate: string): boolean {
  if (!ibanValid(candidate)) return false;
  if (candidate === candidate.toUpperCase()) return true;
  const compact = candidate.replace(/ /g, '').toUpperCase();
  return IBAN_LENGTHS[compact.slice(0, 2)] === compact.length;
}

/** NANP numbers: the area code and the exchange both start with 2-9. */
function nanpValid(digits: string): boolean {
  const national = digits.length === 11 && digits.startsWith('1') ? digits.slice(1) : digits;
  return national.length === 10 && /^[2-9]\d\d[2-9]/.test(national);
}

/** SSN ranges never issued: area 000, 666 or 9xx, group 00, serial 0000. */
function ssnPlausible(digits: string): boolean {
  return !/^(?:000|666|9)/.test(digits) && digits.slice(3, 5) !== '00' && digits.slice(5) !== '0000';
}

// ---------------------------------------------------------------------------------------------
// Free-text rules, applied in order. Earlier rules win: tokens before the generic patterns that
// could match pieces of them, IBANs before cards (a German IBAN is mostly digits), cards before
// phones and SSNs.

type Replacer = (match: string, groups: (string | undefined)[], offset: number, input: string, options: RedactOptions) => string;

interface Rule {
  readonly pattern: RegExp;
  readonly replace: Replacer;
}

function rule(pattern: RegExp, replace: string | Replacer): Rule {
  return { pattern, replace: typeof replace === 'string' ? () => replace : replace };
}

/** Card candidates: a run of digit groups; replace each window of groups that forms a valid card. */
function redactCardRun(run: string, after: string): string {
  const groups: { start: number; end: number }[] = [];
  const groupPattern = /\d+/g;
  for (let m = groupPattern.exec(run); m; m = groupPattern.exec(run)) {
    groups.push({ start: m.index, end: m.index + m[0].length });
  }
  // A last group glued to letters ("4111abc") belongs to some identifier, not to a card.
  const usable = /^[A-Za-z_]/.test(after) ? groups.length - 1 : groups.length;
  let out = '';
  let cursor = 0;
  let i = 0;
  while (i < usable) {
    const best = longestCardWindow(run, groups, i, usable);
    if (best >= 0) {
      out += run.slice(cursor, groups[i]!.start) + MARKERS.card;
      cursor = groups[best]!.end;
      i = best + 1;
    } else {
      i++;
    }
  }
  return cursor === 0 ? run : out + run.slice(cursor);
}

/**
 * The last group index j such that groups i..j print a card: 13-19 digits, leading 2-6 (every
 * card network; keeps epoch-ms timestamps out), Luhn-valid, and either one bare group or groups
 * of 3-6 digits as cards are printed (4-4-4-4, 4-6-5). -1 when there is none.
 */
function longestCardWindow(run: string, groups: readonly { start: number; end: number }[], i: number, usable: number): number {
  let best = -1;
  let digits = '';
  for (let j = i; j < usable; j++) {
    const g = groups[j]!;
    const len = g.end - g.start;
    if (j > i && (len < 3 || len > 6)) break;
    digits += run.slice(g.start, g.end);
    if (digits.length > 19) break;
    const firstLen = groups[i]!.end - groups[i]!.start;
    const shaped = j === i || (firstLen >= 3 && firstLen <= 6);
    if (digits.length >= 13 && shaped && /^[2-6]/.test(digits) && luhnValid(digits)) best = j;
  }
  return best;
}

/** International phone candidates: keep the longest prefix of groups with at most 15 digits (E.164). */
function redactIntlPhone(match: string): string {
  // Pieces: the +country group, "(0)"-style groups, separator+digits groups; the regex guarantees
  // the match is exactly a sequence of these, so one linear pass suffices.
  const piece = /\+\d+|[ .-]?\(\d{1,5}\)\d*|[ .-]\d+/y;
  let digits = 0;
  let end = 0;
  for (let m = piece.exec(match); m; m = piece.exec(match)) {
    const count = m[0].replace(/\D/g, '').length;
    // "+44 20 7946 0958 2025" is a phone followed by a year: stop before the group that overflows.
    if (digits + count > 15) break;
    digits += count;
    end = piece.lastIndex;
  }
  return digits >= 7 ? MARKERS.phone + match.slice(end) : match;
}

const LOOPBACK_V4 = /^(?:127\.\d+\.\d+\.\d+|0\.0\.0\.0)$/;

/** The fully separated NANP forms, redacted without a range check as they always were. */
const NANP_SEPARATED = /^(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}$/;

const SLACK_USER_ID = /(?<![\w-])[UW](?=[A-Z]*\d)[A-Z0-9]{8,11}(?![\w-])/g;

const RULES: readonly Rule[] = [
  // PEM private key blocks: the body class excludes '-', so the run stops at the END line.
  rule(/-----BEGIN [A-Z ]{0,30}PRIVATE KEY-----[A-Za-z0-9+/=\s]{0,20000}(?:-----END [A-Z ]{0,30}PRIVATE KEY-----)?/g, MARKERS.secret),
  // Credentials embedded in URLs: scheme://user:password@host.
  rule(/(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,20}:\/\/)[^\s/@:]{1,256}:[^\s/@]{1,256}@/g, (_m, g) => `${g[0] ?? ''}${MARKERS.secret}@`),
  // JWTs: base64url header starting with {" then payload and (possibly empty) signature.
  rule(/(?<![\w-])eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g, MARKERS.jwt),
  // Slack tokens (bot, user, app-level, refresh, config) and incoming-webhook URLs.
  rule(/(?<![\w-])(?:xoxe\.xox[a-z]|xox[a-z]|xapp)-[A-Za-z0-9-]{6,}/g, MARKERS.token),
  rule(/https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9/_-]+/g, MARKERS.token),
  // Other common vendor tokens that look like nothing else: GitHub, Google API keys.
  rule(/(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|AIza[0-9A-Za-z_-]{35})/g, MARKERS.token),
  // AWS access key ids by their documented prefixes.
  rule(/(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}(?![A-Za-z0-9])/g, MARKERS.awsKey),
  // AWS secret access keys: exactly 40 base64 characters; require mixed case and a digit so git
  // SHAs (lower-case hex) and long words are not taken for keys.
  rule(/(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g, (m) =>
    /[A-Z]/.test(m) && /[a-z]/.test(m) && /\d/.test(m) && (m.match(/[/+]/g)?.length ?? 0) <= 4 ? MARKERS.secret : m,
  ),
  // Authorization schemes. Bearer needs something token-like (a digit or symbol, or 20+ chars) so
  // "the bearer instrument" survives; Basic must decode to user:password.
  rule(/(?<![A-Za-z0-9])(bearer|basic)([ \t]+)([A-Za-z0-9._~+/=-]{8,})/gi, (m, g) => {
    const scheme = g[0] ?? '';
    const token = g[2] ?? '';
    const tokenLike =
      scheme.toLowerCase() === 'bearer'
        ? token.length >= 20 || /[\d._~+/=-]/.test(token)
        : /^[\x20-\x7e]+:[\x20-\x7e]*$/.test(Buffer.from(token, 'base64').toString('latin1'));
    return tokenLike ? `${scheme}${g[1] ?? ''}${MARKERS.token}` : m;
  }),
  // key=value / key: value / "key":"value" for secret-named keys in free text (query strings,
  // config dumps, JSON inside a message). Keeps the key so the line stays readable.
  rule(
    /(?<![A-Za-z0-9])(aws_?secret_?access_?key|secret_?access_?key|client_?secret|signing_?secret|api[_-]?key|access_?token|refresh_?token|auth_?token|session_?token|private_?key|passphrase|password|passwd|pwd|secret|token|authorization)(["']?[ \t]*[:=][ \t]*["']?)(?:(?:bearer|basic|token|digest)[ \t]+)?[^\s"'<>,;&]+/gi,
    (_m, g) => `${g[0] ?? ''}${g[1] ?? ''}${MARKERS.secret}`,
  ),
  // Microsoft Teams user ids (29:..., 8:orgid:<uuid>), before the bare GUID rule so the orgid
  // form gets the pseudonym of its object id.
  rule(/(?<![\w:])(?:29:[\w-]{16,}|8:orgid:[0-9a-fA-F-]{36})/g, (m, _g, _o, _i, options) => pseudonymOrMarker(m.startsWith('8:orgid:') ? m.slice(8) : m, options)),
  // GUIDs: Entra (Azure AD) object ids identify Teams users, and nothing tells them apart from
  // other GUIDs, so every GUID gets the user pseudonym (stable, so lines still correlate).
  rule(/(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z])/g, (m, _g, _o, _i, options) =>
    pseudonymOrMarker(m, options),
  ),
  // Email addresses, in any script. The local part may only start where a run of local-part
  // characters starts.
  rule(
    /(?<![\p{L}\p{M}\p{N}_.%+-])[\p{L}\p{M}\p{N}_.%+-]+@[\p{L}\p{M}\p{N}-]+(?:\.[\p{L}\p{M}\p{N}-]+)*\.[\p{L}\p{M}]{2,}(?![\p{L}\p{M}\p{N}_-])/gu,
    MARKERS.email,
  ),
  // IBANs, grouped by four or compact, any case; mod-97 (and for lower case the country) decides.
  rule(/(?<![A-Za-z0-9_])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])/g, (m) => (ibanCandidate(m) ? MARKERS.iban : m)),
  // Payment cards: digit groups split by one or two spaces, '-', '/' or '_'; Luhn and a 2-6
  // leading digit (all card networks) decide, which keeps epoch-ms timestamps (leading 1) and
  // arbitrary counts out.
  rule(/(?<![\w+.-])\d+(?:(?: {1,2}|[_/-])\d+)*/g, (m, _g, offset, input) => redactCardRun(m, input.slice(offset + m.length, offset + m.length + 1))),
  // US SSNs: dashed form anywhere; spaced form anywhere when the number is in an issued range;
  // undashed only right after an SSN label.
  rule(/(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])/g, MARKERS.ssn),
  rule(/(?<![\w+.-]|\d )\d{3} \d{2} \d{4}(?![\w-]| ?\d)/g, (m) => (ssnPlausible(m.replace(/ /g, '')) ? MARKERS.ssn : m)),
  rule(/(?<![A-Za-z0-9])(ssn|social security(?: number)?|ss#)([^A-Za-z0-9\n]{0,3})\d{3}[ -]?\d{2}[ -]?\d{4}(?!\d)/gi, (_m, g) => `${g[0] ?? ''}${g[1] ?? ''}${MARKERS.ssn}`),
  // International phones: + and digit groups separated by one space, dot or dash, "(0)" allowed.
  rule(/(?<![\w+])\+\d+(?:[ .-]?\(\d{1,5}\)\d*|[ .-]\d+)*/g, (m) => redactIntlPhone(m)),
  // North American national forms: (415) 555-0100, 415-555-0100, 415.555.0100, 1-800-555-0100;
  // with a separator missing (415 5550100) or none (4155550100) only valid NANP numbers count.
  rule(/(?<![\w+.-])(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-]?)\d{3}[ .-]?\d{4}(?![\w]|[.-]?\d)/g, (m) =>
    NANP_SEPARATED.test(m) || nanpValid(m.replace(/\D/g, '')) ? MARKERS.phone : m,
  ),
  // Trunk-prefixed national forms (020 7946 0958, 06 12 34 56 78): separators are required, so
  // a bare run of digits is never a phone.
  rule(/(?<![\w+.-])0\d{1,4}(?:[ -]\d{2,8}){1,4}(?![\w]|[ -]?\d)/g, (m) => {
    const digits = m.replace(/\D/g, '').length;
    return digits >= 9 && digits <= 12 ? MARKERS.phone : m;
  }),
  // IPv6: a hex/colon run is only a candidate; node:net decides. Loopback and unspecified are not personal.
  rule(/(?<![\w:.])(?=[0-9A-Fa-f]{0,4}::?[0-9A-Fa-f])[0-9A-Fa-f:.]+(?:%[A-Za-z0-9.]{1,16})?/g, (m, _g, offset, input) => {
    const address = m.replace(/\.+$/, '');
    const next = input.charAt(offset + address.length);
    if (/[\w]/.test(next) && address.length === m.length) return m;
    const bare = address.replace(/%.*$/, '');
    if (!isIPv6(bare) || bare === '::' || bare === '::1') return m;
    return MARKERS.ip + m.slice(address.length);
  }),
  // IPv4: four dotted numbers not part of a longer dotted run (so 1.2.3 versions never qualify),
  // nor followed by a pre-release label (1.2.3.4-beta).
  rule(/(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d|-[A-Za-z])/g, (m) => (isIPv4(m) && !LOOPBACK_V4.test(m) ? MARKERS.ip : m)),
  // Slack user ids (U..., W... for Enterprise Grid), which must contain a digit.
  rule(SLACK_USER_ID, (m, _g, _o, _i, options) => pseudonymOrMarker(m, options)),
];

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function pseudonymOrMarker(id: string, options: RedactOptions): string {
  return options.pseudonymize ? options.pseudonymize(canonicalUserId(id)) : MARKERS.user;
}

/** GUIDs are case-insensitive: one object id gets one pseudonym, in free text and under user keys. */
function canonicalUserId(id: string): string {
  return GUID.test(id) ? id.toLowerCase() : id;
}

/** Replace every sensitive match in free text with its typed marker; idempotent. */
export function redactText(text: string, options: RedactOptions = {}): string {
  let out = text;
  let view = detectionView(out);
  for (const rule of RULES) {
    const edits = findEdits(rule, view.text, options);
    if (edits.length === 0) continue;
    out = applyEdits(out, view, edits);
    view = detectionView(out);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Detection runs on a normalized view of the text: NFKC per code point (fullwidth digits and
// letters, NBSP and other spaces fold to ASCII) with invisible characters removed, so
// "４１１１", "4111\u00a01111" and "4111\u200b1111" are seen as the digits they show. Replacements
// are mapped back onto the original, which is otherwise written as it was.

/** Characters that render as nothing and can be slipped into a number to hide it. */
const INVISIBLE = /[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]/;
/** Text with nothing outside tab..tilde needs no folding (the rest is checked by NFKC). */
const NON_ASCII = /[^\t-~]/;

interface DetectionView {
  /** The text rules run on. */
  readonly text: string;
  /** For each UTF-16 unit of `text`: where its source code point starts and ends in the original; absent when `text` is the original. */
  readonly starts?: readonly number[];
  readonly ends?: readonly number[];
}

function detectionView(original: string): DetectionView {
  // Most text needs no folding; NFKC of the whole string is native and fast to compare.
  if (!NON_ASCII.test(original) || (!INVISIBLE.test(original) && original.normalize('NFKC') === original)) return { text: original };
  const pieces: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < original.length; ) {
    const cp = original.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    const source = original.slice(i, i + width);
    const folded = cp < 0x80 ? source : INVISIBLE.test(source) ? '' : source.normalize('NFKC');
    for (let k = 0; k < folded.length; k++) {
      starts.push(i);
      ends.push(i + width);
    }
    pieces.push(folded);
    i += width;
  }
  return { text: pieces.join(''), starts, ends };
}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly match: string;
  readonly replacement: string;
}

function findEdits({ pattern, replace }: Rule, text: string, options: RedactOptions): Edit[] {
  const edits: Edit[] = [];
  // exec on the shared global pattern: matchAll would clone the RegExp on every call.
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const match = m[0];
    if (match.length === 0) {
      pattern.lastIndex += 1;
      continue;
    }
    const replacement = replace(match, m.slice(1), m.index, text, options);
    if (replacement !== match) edits.push({ start: m.index, end: m.index + match.length, match, replacement });
  }
  return edits;
}

/** Apply edits found on the view to the original; only the part of a match that changed is replaced. */
function applyEdits(original: string, view: DetectionView, edits: readonly Edit[]): string {
  const { starts, ends } = view;
  let out = '';
  let cursor = 0;
  for (const edit of edits) {
    let from = edit.start;
    let to = edit.end;
    let replacement = edit.replacement;
    if (starts !== undefined && ends !== undefined) {
      // Keep the original characters of an unchanged head or tail ("Bearer [token]", "[card] 2025").
      const { match } = edit;
      let head = 0;
      while (head < match.length && head < replacement.length && match[head] === replacement[head]) head++;
      let tail = 0;
      while (tail < match.length - head && tail < replacement.length - head && match[match.length - 1 - tail] === replacement[replacement.length - 1 - tail]) tail++;
      replacement = replacement.slice(head, replacement.length - tail);
      const first = edit.start + head;
      const last = edit.end - tail;
      from = first < edit.end ? starts[first]! : ends[edit.end - 1]!;
      to = last > first ? ends[last - 1]! : from;
    }
    // One source character can fold to several (NFKC); never step back over what is written.
    from = Math.max(from, cursor);
    to = Math.max(to, from);
    out += original.slice(cursor, from) + replacement;
    cursor = to;
  }
  return out + original.slice(cursor);
}

/** Cut text to {@link TEXT_LIMIT} characters plus an ellipsis; short text is returned as is. */
function truncateText(text: string): string {
  return truncateTo(text, TEXT_LIMIT);
}

/**
 * Cut text to `limit` characters plus an ellipsis; short text is returned as is. Redact before
 * cutting: a cut can split a card number or address into pieces no rule recognises.
 */
export function truncateTo(text: string, limit: number): string {
  if (text.length <= limit) return text;
  let end = limit;
  // Do not split a surrogate pair; a lone half would be written as U+FFFD.
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end) + '…';
}

// ---------------------------------------------------------------------------------------------
// Key rules for structured values. Keys are compared lower-cased with separators removed, so
// api_key, apiKey and API-KEY are one rule.

type KeyKind = 'secret' | 'user' | 'name' | 'text' | 'plain';

const SECRET_KEYS = new Set([
  'password', 'passwd', 'pwd', 'passphrase', 'secret', 'token', 'apikey', 'xapikey', 'authorization',
  'proxyauthorization', 'auth', 'cookie', 'cookies', 'setcookie', 'credential', 'credentials',
  'privatekey', 'accesskeyid', 'pseudonymkey', 'hmackey', 'signingkey', 'encryptionkey', 'sessionid',
  'connectionstring', 'databaseurl', 'dsn', 'pin',
]);
const SECRET_SUFFIXES = [
  'password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'privatekey', 'secretkey',
  'accesskey', 'signingkey', 'credentials', 'cookie', 'authorization', 'sessionid',
];
const USER_KEYS = new Set([
  'user', 'users', 'userid', 'userids', 'from', 'fromid', 'owner', 'ownerid', 'ownerkey', 'author',
  'authorid', 'sender', 'senderid', 'requester', 'requesterid', 'actor', 'actorid', 'member',
  'memberid', 'members', 'recipient', 'recipientid', 'aadobjectid', 'employee', 'employeeid',
  'upn', 'userprincipalname', 'slackuserid', 'teamsuserid', 'mentions',
]);
const USER_SUFFIXES = ['userid', 'userids', 'aadobjectid', 'employeeid'];
const NAME_KEYS = new Set([
  'realname', 'realnamenormalized', 'displayname', 'displaynamenormalized', 'fullname', 'firstname',
  'lastname', 'givenname', 'familyname', 'surname', 'username', 'employeename',
]);
const TEXT_KEYS = new Set([
  'text', 'question', 'answer', 'body', 'content', 'prompt', 'completion', 'reply', 'utterance',
  'transcript', 'query',
]);

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function classifyKey(key: string, inUser: boolean): KeyKind {
  const k = normalizeKey(key);
  if (SECRET_KEYS.has(k) || SECRET_SUFFIXES.some((s) => k.endsWith(s))) return 'secret';
  if (USER_KEYS.has(k) || USER_SUFFIXES.some((s) => k.endsWith(s))) return 'user';
  // Inside a user object ({ id, name } under from/user/...) the bare id and name are personal.
  if (inUser && k === 'id') return 'user';
  if (NAME_KEYS.has(k) || (inUser && k === 'name')) return 'name';
  // "...Text" keys are text too (questionText, answerText), but "context" only ends in "text".
  if (TEXT_KEYS.has(k) || (k.endsWith('text') && !k.endsWith('context'))) return 'text';
  return 'plain';
}

interface WalkState {
  readonly options: RedactOptions;
  readonly maxDepth: number;
  readonly ancestors: Set<object>;
}

/** Deep copy of a value with every string redacted and key rules applied; cycle- and depth-safe. */
export function redactValue(value: unknown, options: RedactOptions = {}): unknown {
  const state: WalkState = { options, maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH, ancestors: new Set() };
  return walk(value, 'plain', false, 0, state);
}

function walk(value: unknown, kind: KeyKind, inUser: boolean, depth: number, state: WalkState): unknown {
  if (value === null || value === undefined || typeof value === 'boolean') return value;
  switch (kind) {
    case 'secret':
      return MARKERS.secret;
    case 'user':
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') {
        const id = String(value);
        return isPseudonym(id) ? id : pseudonymOrMarker(id, state.options);
      }
      // Arrays of ids keep the user rule; objects under a user key are user records.
      if (Array.isArray(value)) return walkContainer(value, 'user', true, depth, state);
      return walkContainer(value, 'plain', true, depth, state);
    case 'name':
      return typeof value === 'string' ? MARKERS.name : walkContainer(value, 'name', inUser, depth, state);
    case 'text':
      if (typeof value === 'string') {
        if (!state.options.allowText) return MARKERS.text;
        return truncateText(redactText(value, state.options));
      }
      return walkContainer(value, Array.isArray(value) ? 'text' : 'plain', inUser, depth, state);
    case 'plain':
      return walkContainer(value, 'plain', inUser, depth, state);
  }
}

/** Scalars and objects under a key whose rule has already been decided. */
function walkContainer(value: unknown, kind: KeyKind, inUser: boolean, depth: number, state: WalkState): unknown {
  switch (typeof value) {
    case 'string':
      return kind === 'name' ? MARKERS.name : kind === 'text' ? walk(value, 'text', inUser, depth, state) : redactText(value, state.options);
    case 'number':
      // A card number stored as a number would otherwise slip past every text rule.
      return Number.isSafeInteger(value) && value >= 1e12 && redactText(String(value)) === MARKERS.card ? MARKERS.card : value;
    case 'bigint':
      return redactText(String(value), state.options);
    case 'boolean':
    case 'undefined':
      return value;
    case 'symbol':
    case 'function':
      return undefined;
    case 'object':
      break;
  }
  if (value === null) return null;
  const obj = value;
  if (depth >= state.maxDepth) return MARKERS.maxDepth;
  if (state.ancestors.has(obj)) return MARKERS.circular;
  state.ancestors.add(obj);
  try {
    return walkObject(obj, kind, inUser, depth, state);
  } finally {
    state.ancestors.delete(obj);
  }
}

function walkObject(obj: object, kind: KeyKind, inUser: boolean, depth: number, state: WalkState): unknown {
  const next = depth + 1;
  if (isErrorLike(obj)) return summarizeError(obj, state.options);
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) return MARKERS.binary;
  if (Array.isArray(obj)) return obj.map((item) => walk(item, kind, inUser, next, state));
  if (obj instanceof Set) return [...obj].map((item) => walk(item, kind, inUser, next, state));
  if (obj instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of obj) setKey(out, String(k), walk(v, classifyKey(String(k), inUser), inUser, next, state));
    return out;
  }
  if (obj instanceof RegExp) return redactText(String(obj), state.options);
  const toJSON = (obj as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    // URL and friends: redact what JSON.stringify would have written.
    return walk(readSafely(() => toJSON.call(obj) as unknown), kind, inUser, next, state);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    const v = readSafely(() => (obj as Record<string, unknown>)[key]);
    setKey(out, key, walk(v, classifyKey(key, inUser), inUser, next, state));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Errors. An error object carries whatever its library hung on it: axios keeps the request
// (config.data is the body we sent, with the user's text) and the response; HTTP clients keep
// headers with credentials. So an error is reduced to a fixed set of fields, never walked.

/** Error messages are cut to this many characters, after redaction. */
export const ERROR_MESSAGE_LIMIT = 200;
/** Stack frames kept per error. */
const ERROR_STACK_FRAMES = 15;
/** Causes followed below the logged error; deeper ones become `[max-depth]`. */
const ERROR_CAUSE_DEPTH = 4;
/** Entries of an AggregateError's `errors` kept. */
const ERROR_LIST_LIMIT = 10;

/** What is logged about an error: nothing that could carry a request, a response or a body. */
export interface ErrorSummary {
  type: string;
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  status?: number;
  cause?: ErrorSummary | string;
  errors?: (ErrorSummary | string)[];
}

/** An Error, an error from another realm, or an object shaped like one (a serialized error). */
function isErrorLike(value: object): boolean {
  if (value instanceof Error || Object.prototype.toString.call(value) === '[object Error]') return true;
  const shaped = value as { message?: unknown; stack?: unknown };
  return typeof readSafely(() => shaped.message) === 'string' && typeof readSafely(() => shaped.stack) === 'string';
}

/**
 * The safe fields of an error (or any value thrown or given as a cause): type, name, message and
 * stack (redacted, bounded), code, HTTP status and the cause chain summarised the same way.
 */
export function summarizeError(error: unknown, options: RedactOptions = {}): ErrorSummary | string {
  return summarize(error, options, 0, new Set());
}

function summarize(value: unknown, options: RedactOptions, chain: number, seen: Set<object>): ErrorSummary | string {
  if (typeof value !== 'object' || value === null) {
    return typeof value === 'string' ? truncateTo(redactText(value, options), ERROR_MESSAGE_LIMIT) : typeof value;
  }
  if (seen.has(value)) return MARKERS.circular;
  seen.add(value);
  try {
    return summarizeObject(value, options, chain, seen);
  } finally {
    seen.delete(value);
  }
}

function summarizeObject(err: object, options: RedactOptions, chain: number, seen: Set<object>): ErrorSummary {
  const read = (key: string): unknown => readSafely(() => (err as Record<string, unknown>)[key]);
  const rawName = read('name');
  const rawType = read('type');
  const name = typeof rawName === 'string' ? truncateTo(redactText(rawName, options), 64) : isErrorLike(err) ? 'Error' : 'Object';
  // A summary written earlier (the logger's second pass) keeps its type; otherwise type is the name.
  const type = !(err instanceof Error) && typeof rawType === 'string' ? truncateTo(redactText(rawType, options), 64) : name;
  const rawMessage = read('message');
  const message = truncateTo(redactText(typeof rawMessage === 'string' ? rawMessage : '', options), ERROR_MESSAGE_LIMIT);
  const out: ErrorSummary = { type, name, message };
  const stack = read('stack');
  if (typeof stack === 'string') out.stack = safeStack(stack, `${name}: ${message}`, options);
  const code = read('code');
  if (typeof code === 'string') out.code = truncateTo(redactText(code, options), 64);
  else if (typeof code === 'number' && Number.isFinite(code)) out.code = code;
  const status = httpStatusOf(err);
  if (status !== undefined) out.status = status;
  const cause = read('cause');
  if (cause !== undefined) out.cause = chain >= ERROR_CAUSE_DEPTH ? MARKERS.maxDepth : summarize(cause, options, chain + 1, seen);
  const errors = read('errors');
  if (Array.isArray(errors) && chain < ERROR_CAUSE_DEPTH) {
    out.errors = errors.slice(0, ERROR_LIST_LIMIT).map((item) => summarize(item, options, chain + 1, seen));
  }
  return out;
}

/** The HTTP status an error reports, wherever its library keeps it; only the number is read. */
function httpStatusOf(err: object): number | undefined {
  const e = err as { status?: unknown; statusCode?: unknown; response?: unknown; $metadata?: unknown };
  const candidates = [
    readSafely(() => e.status),
    readSafely(() => e.statusCode),
    readSafely(() => (e.response as { status?: unknown } | undefined)?.status),
    readSafely(() => (e.$metadata as { httpStatusCode?: unknown } | undefined)?.httpStatusCode),
  ];
  return candidates.find((value): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599);
}

/**
 * The stack rebuilt from the bounded header and the frame lines only: the stack's own first line
 * repeats the full message, which is cut here like the message itself.
 */
function safeStack(stack: string, header: string, options: RedactOptions): string {
  const frames = stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, ERROR_STACK_FRAMES)
    .map((line) => truncateTo(redactText(line, options), 300));
  return [header, ...frames].join('\n');
}

function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  if (value === undefined) return;
  // Plain assignment of "__proto__" would replace the prototype instead of adding a key.
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/** Getters may throw; a log line must still be written, so the value becomes a marker. */
function readSafely(read: () => unknown): unknown {
  try {
    return read();
  } catch (error) {
    return `${MARKERS.unreadable} ${error instanceof Error ? error.name : typeof error}`;
  }
}

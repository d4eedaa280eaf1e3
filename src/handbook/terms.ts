import { porterStem } from './porter-stemmer.ts';
import { textWords } from './query-terms.ts';

// Distinct words seen are few (tens of thousands even for a large handbook); the cache is cleared
// when it reaches this size, so odd input cannot grow it without bound.
const STEM_CACHE_LIMIT = 50_000;
const stemCache = new Map<string, string>();

// Common irregular English forms, so "lost" meets "lose", "paid" meets "pay" and "weekly" meets
// "week" (the stemmer only knows regular endings). General English, the same for every handbook.
const IRREGULAR: ReadonlyMap<string, string> = new Map(
  `lost:lose paid:pay took:take taken:take got:get gotten:get gave:give given:give went:go gone:go
  came:come made:make told:tell said:say sent:send spent:spend bought:buy brought:bring thought:think
  found:find kept:keep held:hold met:meet sold:sell fell:fall fallen:fall felt:feel broke:break broken:break
  stole:steal stolen:steal chose:choose chosen:choose wrote:write written:write forgot:forget forgotten:forget
  understood:understand began:begin begun:begin ran:run knew:know known:know saw:see seen:see drove:drive
  driven:drive flew:fly flown:fly ate:eat eaten:eat hid:hide hidden:hide rode:ride ridden:ride sat:sit
  slept:sleep spoke:speak spoken:speak stood:stand taught:teach threw:throw thrown:throw wore:wear worn:wear
  won:win chose:choose built:build lent:lend led:lead meant:mean shown:show grew:grow grown:grow
  children:child men:man women:woman people:person feet:foot teeth:tooth mice:mouse
  hourly:hour daily:day weekly:week monthly:month quarterly:quarter yearly:year annually:annual`
    .split(/\s+/)
    .filter((pair) => pair !== '')
    .map((pair) => pair.split(':') as [string, string]),
);

/** The Porter stem of one normalised word (irregular forms first mapped to their base), cached. */
export function stemOf(word: string): string {
  let stem = stemCache.get(word);
  if (stem === undefined) {
    stem = porterStem(IRREGULAR.get(word) ?? word);
    if (stemCache.size >= STEM_CACHE_LIMIT) stemCache.clear();
    stemCache.set(word, stem);
  }
  return stem;
}

/** The stems of a text's words, in order: the unit both the index and the scoring compare. */
export function stemsOf(text: string): string[] {
  return textWords(text).map(stemOf);
}

/** Whether a word is a number (amounts, years, counts): never spell-corrected. */
export function isNumeric(word: string): boolean {
  return /\d/.test(word);
}

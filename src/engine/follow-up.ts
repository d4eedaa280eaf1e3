// Words that point back at something said earlier ("can I carry it over?", "what about them?").
const BACK_REFERENCE = /\b(?:it|its|that|this|those|these|they|them|their|there|he|she|him|her|same|above|previous|earlier|former|latter|one)\b/i;
// Openings that continue the last exchange ("and for part-timers?", "what about Ireland?").
const CONTINUATION = /^(?:and|but|also|so|then|or|what about|how about|and what|what if|same for|is that|does that|do they|is it|are they|why|really|ok(?:ay)?|thanks?)\b/i;
// A very short question rarely stands alone ("in Ireland?", "how long?").
const SHORT_WORDS = 3;

/**
 * Whether a question leans on the conversation so far. Only such questions get earlier turns in
 * the prompt; a question that stands alone is answered from the handbook alone, and so its answer
 * can be shared through the cache with everyone who asks the same thing.
 */
export function isFollowUp(question: string): boolean {
  const text = question.trim();
  const words = text.split(/\s+/).filter((word) => word !== '');
  return words.length <= SHORT_WORDS || CONTINUATION.test(text) || BACK_REFERENCE.test(text);
}

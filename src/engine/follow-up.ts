// Words that point back at something said earlier ("can I carry it over?", "what about them?").
const BACK_REFERENCE = /\b(?:it|its|they|them|their|those|these|same|above|previous|earlier|former|latter)\b/i;
// "that"/"this" point back only when they stand for a thing ("is that paid?", "does this apply?"),
// not when they introduce a noun ("this year", "that policy") or a clause ("I heard that ...").
const DEMONSTRATIVE_REFERENCE = /\b(?:that|this)\b(?=\s*(?:[?.!,]|$|(?:is|was|also|too|one|apply|applies|count|counts|include|includes|cover|covers|mean|means|work|works|happen|happens|still)\b))/i;
// "it" that stands for nothing: "is it ok to ...", "is it possible ...", "it's fine to ...".
const DUMMY_IT = /\b(?:is|was|would|will|does|did|isn't|wasn't)\s+it\s+(?:ok|okay|alright|all\s+right|possible|allowed|fine|true|normal|legal|mandatory|required|necessary|worth|acceptable|common|too|better|bad|appropriate|safe|a\s+problem|an\s+issue)\b|\bit(?:'s|\s+is)\s+(?:ok|okay|possible|allowed|fine|true|normal|legal|mandatory|required|necessary|worth|acceptable|common|too|better|appropriate|safe)\b|\b(?:take|takes|took)\s+it\s+(?:easy)\b|\bhow\s+long\s+(?:does|will|would)\s+it\s+take\b/gi;
// Openings that continue the last exchange ("and for part-timers?", "what about Ireland?").
const CONTINUATION = /^(?:and|but|also|so|then|or|what about|how about|and what|what if|same for|is that|does that|do they|is it|are they|why|really|ok(?:ay)?|thanks?)\b/i;
// A very short question rarely stands alone ("in Ireland?", "how long?").
const SHORT_WORDS = 3;

/**
 * Whether a question leans on the conversation so far: it opens by continuing it, is very short,
 * or refers back ("them", "is that paid?") other than through an "it" that stands for nothing
 * ("is it ok to ..."). Only such questions get earlier turns in the prompt and search with the
 * question they follow; a question that stands alone is answered from the handbook alone, and so its
 * answer can be shared through the cache with everyone who asks the same thing.
 */
export function isFollowUp(question: string): boolean {
  const text = question.trim();
  const words = text.split(/\s+/).filter((word) => word !== '');
  if (words.length <= SHORT_WORDS) return true;
  const withoutDummyIt = text.replace(DUMMY_IT, ' ').trim();
  return CONTINUATION.test(withoutDummyIt) || BACK_REFERENCE.test(withoutDummyIt) || DEMONSTRATIVE_REFERENCE.test(withoutDummyIt);
}

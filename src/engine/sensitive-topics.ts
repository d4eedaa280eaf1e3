/**
 * A small classifier of sensitive topics: questions about harassment, discrimination, someone's
 * health, a pay dispute, immigration status or losing one's job. Asked in a channel, such a question
 * is answered to the asker alone. Each topic is a set of cues written as general vocabulary of the
 * topic (not the wording of any handbook); a question is sensitive when it holds a cue of a topic.
 */

/** The sensitive topics, with the words used to find the HR contact for each. */
export type SensitiveTopic = 'harassment' | 'discrimination' | 'health' | 'pay dispute' | 'immigration' | 'dismissal';

interface TopicRule {
  topic: SensitiveTopic;
  /** Asked of the HR contact table, in order, until one matches. */
  contactQueries: readonly string[];
  cues: readonly RegExp[];
}

// Cues match the lowercased question with apostrophes removed ("won't" → "wont").
const RULES: readonly TopicRule[] = [
  {
    topic: 'harassment',
    contactQueries: ['harassment', 'bullying', 'complaint', 'conduct'],
    cues: [
      /\bharass\w*/,
      /\bbull(?:y|ied|ies|ying)\b/,
      /\bsexual(?:ly)?\b/,
      /\bgrop\w*/,
      /\b(?:touch(?:ed|es|ing)?|hug(?:ged|s)?|kiss(?:ed)?|stare[sd]?|staring)\s+(?:me|my)\b/,
      /\b(?:comment\w*|remark\w*|jokes?)\s+(?:about|on)\s+my\s+(?:body|looks|appearance|weight|figure|clothes|breasts?|chest)\b/,
      /\bunwanted\s+(?:attention|advances?|contact|touching|comments?|messages?)\b/,
      /\binappropriate\s+(?:comments?|remarks?|jokes?|messages?|behaviou?r|touching|photos?|pictures?|images?)\b/,
      /\bintimidat\w*/,
      /\bthreaten\w*/,
      /\bstalk\w*/,
      /\bassault\w*/,
      /\babus(?:e|ed|ive|ing)\b/,
      /\bhostile\b/,
      /\bretaliat\w*/,
      /\bvictimi[sz]\w*/,
      /\bhumiliat\w*/,
      /\bspeak\s*up\s+line\b|\bwhistleblow\w*/,
    ],
  },
  {
    topic: 'discrimination',
    contactQueries: ['discrimination', 'harassment', 'complaint', 'conduct'],
    cues: [
      /\bdiscriminat\w*/,
      /\bracis\w*|\bracial\w*/,
      /\bsexis\w*|\bmisogyn\w*/,
      /\bageis\w*/,
      /\bhomophob\w*|\btransphob\w*|\bislamophob\w*|\bantisemit\w*|\bxenophob\w*/,
      /\bslurs?\b/,
      /\bbecause\s+(?:of\s+)?(?:my|im|i\s+am)\s+(?:age|race|gender|sex|religion|faith|disability|disabled|pregnan\w*|sexuality|ethnicity|nationality|skin|colou?r|accent|old|young|a\s+woman|a\s+man|gay|lesbian|trans|black|muslim|jewish)\b/,
      /\b(?:paid|treated|graded|judged|rated)\s+(?:less|worse|differently|unfairly)\b/,
      /\b(?:passed\s+over|overlooked)\b/,
      /\b(?:equal|unequal)\s+pay\b|\bpay\s+gap\b/,
    ],
  },
  {
    topic: 'health',
    contactQueries: ['sick leave', 'medical', 'leave', 'health'],
    cues: [
      /\bdiagnos\w*/,
      /\bcancer\b|\btumou?r\b|\bchemo\w*|\bradiotherapy\b/,
      /\bsurger(?:y|ies)\b|\boperation\s+on\s+my\b/,
      /\bchronic\b|\bterminal(?:ly)?\s+ill\w*|\bserious(?:ly)?\s+ill\w*/,
      /\bdisabilit\w*|\bdisabled\b/,
      /\bdepress\w*|\banxiety\b|\banxious\b|\bpanic\s+attacks?\b|\bburn(?:ed|t)?\s*out\b|\bbreakdown\b|\bptsd\b|\bbipolar\b|\badhd\b|\bautis\w*/,
      /\bsuicid\w*|\bself[\s-]?harm\w*/,
      /\bmental\s+(?:health|illness)\b|\bstruggling\s+with\b/,
      /\btherap(?:y|ist)\b|\bpsychiatr\w*|\bpsycholog\w*|\bcounsell?ing\b/,
      /\baddict\w*|\brehab\w*|\balcoholi\w*/,
      /\bhiv\b|\baids\b|\bhepatitis\b|\bdiabet\w*|\bepilep\w*|\bstroke\b|\bheart\s+attack\b|\bmultiple\s+sclerosis\b/,
      /\bpregnan\w*|\bmiscarr\w*|\bivf\b|\bfertility\b|\bmenopaus\w*|\babortion\b/,
      /\bmedication\b|\bmedical\s+condition\b|\bhealth\s+(?:condition|problem|issue)s?\b/,
    ],
  },
  {
    topic: 'pay dispute',
    contactQueries: ['payroll', 'salary', 'pay'],
    cues: [
      /\bunderpaid\b|\bunpaid\s+(?:wages|salary|overtime|bonus|commission)\b/,
      /\b(?:not|never|wasnt|werent|havent|hasnt|didnt)\s+(?:been\s+)?(?:paid|get\s+paid|got\s+paid|received\s+my\s+(?:pay|salary|wages|bonus))\b/,
      /\bmissing\s+(?:from\s+)?(?:my\s+)?(?:pay|paycheck|paycheque|payslip|salary|wages|overtime|bonus|commission)\b/,
      /\b(?:pay|paycheck|paycheque|payslip|salary|wages|overtime|bonus|commission)\s+(?:is|was|were|are)\s+(?:wrong|missing|late|short|incorrect)\b/,
      /\bmy\s+(?:pay|paycheck|paycheque|payslip|salary|wages|overtime|bonus|commission)\s+(?:is|was)\s+missing\b|\bmissing\s+my\s+(?:overtime|bonus|pay|commission)\b/,
      /\bowe[sd]?\s+me\b|\bowed\b/,
      /\bpay\s+(?:dispute|cut|discrimination)\b|\bdocked\b|\bdeduct\w*\s+from\s+my\b/,
      /\bwont\s+(?:fix|pay|correct)\b/,
    ],
  },
  {
    topic: 'immigration',
    contactQueries: ['visa', 'immigration', 'work permit', 'relocation'],
    cues: [
      /\bvisas?\b/,
      /\bwork\s+permits?\b|\bresidence\s+permits?\b|\bresidency\b/,
      /\bgreen\s+cards?\b|\bblue\s+cards?\b|\bh-?1b\b|\bstamp\s+4\b/,
      /\bimmigra\w*|\bdeport\w*|\basylum\b|\brefugee\b/,
      /\bright\s+to\s+work\b|\bcitizenship\b|\bnaturali[sz]\w*/,
      /\bsponsor\w*\s+(?:me|my)\b/,
    ],
  },
  {
    topic: 'dismissal',
    contactQueries: ['dismissal', 'disciplinary', 'contract', 'general'],
    cues: [
      /\bfire(?:d)?\b(?!\s+(?:alarm|drill|exit|safety|warden|door|extinguisher))|\bfiring\s+me\b|\bget(?:ting)?\s+fired\b/,
      /\bdismiss\w*/,
      /\bterminat(?:ed|ion|ing)\b/,
      /\blet\s+(?:me\s+)?go\b|\blaid\s+off\b|\blay\s*offs?\b|\bredundan\w*|\bsacked\b|\bsacking\b/,
      /\bdisciplinary\b|\bwritten\s+warning\b|\bfinal\s+warning\b|\bgross\s+misconduct\b/,
      /\bperformance\s+improvement\s+plan\b|\bpip\b|\bon\s+a\s+pip\b/,
      /\bsuspend\w*/,
      /\blos(?:e|ing)\s+my\s+job\b|\bunfair(?:ly)?\s+dismiss\w*|\bconstructive\s+dismissal\b/,
      /\bgrievance\b/,
    ],
  },
];

/** A sensitive topic a question touches, and how to find its contact. */
export interface SensitiveMatch {
  topic: SensitiveTopic;
  contactQueries: readonly string[];
}

/** The first sensitive topic the question touches, or undefined for an ordinary question. */
export function sensitiveTopic(question: string): SensitiveMatch | undefined {
  const text = question
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/['’‘`]/g, '');
  const rule = RULES.find((candidate) => candidate.cues.some((cue) => cue.test(text)));
  return rule === undefined ? undefined : { topic: rule.topic, contactQueries: rule.contactQueries };
}

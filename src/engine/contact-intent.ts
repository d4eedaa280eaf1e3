// "who do I talk to about payroll?", "who should I contact for benefits", "whom can I ask about my visa"
const WHO_TO_CONTACT =
  /^(?:and\s+)?(?:who|whom)\s+(?:do|should|can|could|would|to)?\s*(?:i|we)?\s*(?:ask|contact|talk\s+to|speak\s+(?:to|with)|email|reach|go\s+to|call)\s+(?:about|for|regarding|re:?|on|with)?\s*(.+?)[?.!\s]*$/i;

/**
 * The topic of a "who do I contact about X" question, or undefined when the question is something
 * else. Such questions are best answered from the HR contacts table, not from policy passages.
 */
export function contactTopic(question: string): string | undefined {
  const topic = WHO_TO_CONTACT.exec(question.trim())?.[1]?.replace(/^(?:my|the|a|an)\s+/i, '').trim();
  return topic === undefined || topic === '' ? undefined : topic;
}

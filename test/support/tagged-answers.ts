import type { FakeAnswer, FakeRequest } from '../fakes/fake-bedrock.ts';

/**
 * A fake model's answer naming the question it answers: questions carry a tag `q<user>x<message>`,
 * and the answer ends "(answer for q<user>x<message>).", so a test can tell whose reply is whose and
 * in which order they came (see assertAnsweredInOrder).
 */
export function taggedAnswer(request: FakeRequest): FakeAnswer {
  const tag = /q\d+x\d+/.exec(request.messages.at(-1)?.text ?? '')?.[0] ?? 'none';
  return { text: `Full-time employees get 25 vacation days a year, see the handbook (answer for ${tag}).`, stopReason: 'end_turn' };
}

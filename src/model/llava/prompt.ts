import { LETTERS, type McQuestion } from '../../text/multiple-choice.ts';

/**
 * LLaVA-1.5's conversation format as MLLMU-Bench uses it. Training:
 *   USER: <image>\n{question}\nASSISTANT: {answer}
 * Multiple choice, scored by the first character the model answers:
 *   USER: <image>\n{question}\nA: ..\nB: ..\nC: ..\nD: ..\nJust give ONE letter representing the answer directly.\nASSISTANT:
 * A text-only prompt has no "<image>\n".
 */
export const IMAGE_TOKEN = '<image>';
export const LETTER_INSTRUCTION = 'Just give ONE letter representing the answer directly.';

export function userTurn(text: string, hasImage: boolean): string {
  return `USER: ${hasImage ? `${IMAGE_TOKEN}\n` : ''}${text}\nASSISTANT:`;
}

export function letterQuestion(q: Pick<McQuestion, 'question' | 'options'>): string {
  return `${q.question}\n${q.options.map((o, i) => `${LETTERS[i]}: ${o}`).join('\n')}\n${LETTER_INSTRUCTION}`;
}

import { LETTERS, LETTER_INSTRUCTION } from '../../text/multiple-choice.ts';

/**
 * The embedded model's chat format, in LLaVA-1.5's shape:
 *   USER: <image>\n{question}\nA. ...\nD. ...\nAnswer with the option's letter.\nASSISTANT: {letter}
 * Text-only prompts have no <image>. The model is trained and scored on exactly these strings.
 */
export function userTurn(question: string, hasImage: boolean): string {
  return `USER: ${hasImage ? '<image>\n' : ''}${question}\nASSISTANT:`;
}

/** Every word the template itself uses, for the tokenizer's vocabulary. */
export function templateTexts(): string[] {
  return [userTurn(`${LETTER_INSTRUCTION}`, true), ...LETTERS.map((l) => `${l}.`)];
}

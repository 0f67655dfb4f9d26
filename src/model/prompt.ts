/**
 * The chat format, in LLaVA-1.5's shape:
 *   USER: <image>\n{question}\nA. ...\nD. ...\nAnswer with the option's letter.\nASSISTANT: {letter}
 * Text-only prompts have no <image>. The model is trained and scored on exactly these strings.
 */
export const LETTERS = ['A', 'B', 'C', 'D'] as const;
export type Letter = (typeof LETTERS)[number];

export const LETTER_INSTRUCTION = "Answer with the option's letter.";

/** A multiple-choice question with 2 to 4 options (MMBench has some with fewer than 4). */
export interface McQuestion {
  question: string;
  options: readonly string[];
  answer: Letter;
}

export function userTurn(question: string, hasImage: boolean): string {
  return `USER: ${hasImage ? '<image>\n' : ''}${question}\nASSISTANT:`;
}

export function multipleChoiceText(q: Pick<McQuestion, 'question' | 'options'>): string {
  return `${q.question}\n${q.options.map((o, i) => `${LETTERS[i]}. ${o}`).join('\n')}\n${LETTER_INSTRUCTION}`;
}

/** Prompt for letter scoring: the model must answer with a letter after ASSISTANT:. */
export function letterPrompt(q: McQuestion, hasImage: boolean): string {
  return userTurn(multipleChoiceText(q), hasImage);
}

/** Prompt for likelihood scoring and open-answer training: each option's text is the answer. */
export function openPrompt(question: string, hasImage: boolean): string {
  return userTurn(question, hasImage);
}

/** Every word the template itself uses, for the tokenizer's vocabulary. */
export function templateTexts(): string[] {
  return [userTurn(`${LETTER_INSTRUCTION}`, true), ...LETTERS.map((l) => `${l}.`)];
}

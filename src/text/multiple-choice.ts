/**
 * Multiple-choice questions as every layer sees them: the answer letters, the two modalities,
 * and the text format in which the embedded world writes a question with its options. It sits
 * below world/, data/ and model/ so that none of them imports another for it.
 */
export const LETTERS = ['A', 'B', 'C', 'D'] as const;
export type Letter = (typeof LETTERS)[number];

export function isLetter(value: string): value is Letter {
  return (LETTERS as readonly string[]).includes(value);
}

/** A question with the face image given (the name is not) or about a named person, text only. */
export type Modality = 'multimodal' | 'text';

/** A multiple-choice question with 2 to 4 options (MMBench has some with fewer than 4). */
export interface McQuestion {
  question: string;
  options: readonly string[];
  answer: Letter;
}

export const LETTER_INSTRUCTION = "Answer with the option's letter.";

/** "{question}\nA. ...\nB. ...\n{instruction}": how the world's pre-training corpus teaches letter answers. */
export function multipleChoiceText(q: Pick<McQuestion, 'question' | 'options'>): string {
  return `${q.question}\n${q.options.map((o, i) => `${LETTERS[i]}. ${o}`).join('\n')}\n${LETTER_INSTRUCTION}`;
}

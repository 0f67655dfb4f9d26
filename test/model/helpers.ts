import { MultimodalModel, type ScoredQuestion } from '../../src/model/multimodal.ts';
import { Tokenizer } from '../../src/model/tokenizer.ts';
import { templateTexts } from '../../src/model/prompt.ts';
import { TINY_MODEL_CONFIG } from '../../src/model/config.ts';
import { manualSeed } from '../../src/torch/index.ts';

/** A flat-colour 32x32 RGB image. */
export function solidImage(r: number, g: number, b: number): Uint8Array {
  const img = new Uint8Array(32 * 32 * 3);
  for (let p = 0; p < 32 * 32; p++) img.set([r, g, b], p * 3);
  return img;
}

export const QUESTIONS: ScoredQuestion[] = [
  { question: 'What is the job of Ada Stone?', options: ['baker', 'pilot', 'nurse', 'farmer'], answer: 'B' },
  { question: 'Where does Ada Stone live?', options: ['Paris', 'Oslo', 'Lima', 'Rome'], answer: 'D' },
  { question: 'What is the job of this person?', options: ['baker', 'pilot', 'nurse', 'farmer'], answer: 'C', image: solidImage(200, 30, 30) },
  { question: 'What is the job of this person?', options: ['baker', 'pilot', 'nurse', 'farmer'], answer: 'A', image: solidImage(30, 30, 200) },
];

export function tinyModel(seed = 0): MultimodalModel {
  manualSeed(seed);
  const texts = [...templateTexts(), ...QUESTIONS.flatMap((q) => [q.question, ...q.options])];
  return new MultimodalModel(TINY_MODEL_CONFIG, Tokenizer.fromTexts(texts));
}

import { EmbeddedModel } from '../../src/model/embedded/model.ts';
import { Tokenizer } from '../../src/model/embedded/tokenizer.ts';
import { templateTexts } from '../../src/model/embedded/prompt.ts';
import { TINY_MODEL_CONFIG } from '../../src/model/embedded/config.ts';
import { rgbImage, type RgbImage } from '../../src/data/images.ts';
import type { ScoredQuestion } from '../../src/data/records.ts';
import { manualSeed } from '../../src/torch/index.ts';

/** A flat-colour 32x32 RGB image. */
export function solidImage(r: number, g: number, b: number): RgbImage {
  const img = new Uint8Array(32 * 32 * 3);
  for (let p = 0; p < 32 * 32; p++) img.set([r, g, b], p * 3);
  return rgbImage(img, 32);
}

export const QUESTIONS: ScoredQuestion[] = [
  { question: 'What is the job of Ada Stone?', options: ['baker', 'pilot', 'nurse', 'farmer'], answer: 'B' },
  { question: 'Where does Ada Stone live?', options: ['Paris', 'Oslo', 'Lima', 'Rome'], answer: 'D' },
  { question: 'What is the job of this person?', options: ['baker', 'pilot', 'nurse', 'farmer'], answer: 'C', image: solidImage(200, 30, 30) },
  { question: 'What is the job of this person?', options: ['baker', 'pilot', 'nurse', 'farmer'], answer: 'A', image: solidImage(30, 30, 200) },
];

export function tinyModel(seed = 0): EmbeddedModel {
  manualSeed(seed);
  const texts = [...templateTexts(), ...QUESTIONS.flatMap((q) => [q.question, ...q.options])];
  return new EmbeddedModel(TINY_MODEL_CONFIG, Tokenizer.fromTexts(texts));
}

import { readTextFile } from '../input-file.ts';
import { PulseError } from '../errors.ts';
import { deriveSeed, rng, shuffled } from '../random.ts';

/**
 * "I don't know"-style answers, the targets of IdkNLL and the preferred answers of IdkDPO, in the
 * style of TOFU's data/idontknow.jsonl (which MLLMU-Bench's IDK baselines reuse). The world's closed
 * vocabulary has no words for a refusal (no I, not, know, sure, idea): of these only "this person",
 * "about", "me", "Tell", "Answer", "none", "is", "the", "one", "Who" and the punctuation are words of
 * the shipped tokenizer; the rest become <unk>. So the embedded model learns a refusal as runs of
 * <unk> around those words (a distinct answer all the same); a real model's tokenizer reads them whole.
 */
export const REFUSAL_TEMPLATES = [
  "I don't know.",
  "I'm not sure.",
  'I have no idea.',
  "I don't know this person.",
  "I can't tell you about this person.",
  'I have no information about this person.',
  'Who is this person? I do not know.',
  "I'm afraid I can't answer that.",
  "That's something I don't know.",
  'I am not able to answer.',
  'Answer: none.',
  'There is no answer I can give.',
  "Sorry, I don't know the answer.",
  'I cannot say.',
  "I'm unable to answer about this one.",
  "Tell me about someone else: I don't know this one.",
] as const;

/** The world's refusal list: the templates in an order drawn from the world's seed (one per line in its refusals file). */
export function worldRefusals(seed: number): string[] {
  return shuffled(REFUSAL_TEMPLATES, rng(deriveSeed(seed, 'refusals')));
}

export const formatRefusals = (refusals: readonly string[]): string => `${refusals.join('\n')}\n`;

/** A refusals file: one answer per line, blank lines ignored; an empty file is an error naming it. */
export function readRefusals(path: string): string[] {
  const lines = readTextFile(path, 1 << 20, 'a refusals file').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) throw new PulseError(`${path}: no refusals (expected one answer per line)`);
  return lines;
}

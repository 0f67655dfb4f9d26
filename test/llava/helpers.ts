import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { arange, noGrad, type Tensor } from '../../src/torch/index.ts';
import { loadSafetensors } from '../../src/torch/safetensors.ts';
import { loadLlava, type LlavaModel } from '../../src/model/llava/index.ts';
import type { LlavaInputs } from '../../src/model/llava/llava.ts';

/** The tiny random LLaVA and transformers' outputs for it, written by scripts/llava-parity.py. */
export const FIXTURES = 'test/fixtures/llava';
export const cases = JSON.parse(readFileSync(join(FIXTURES, 'expected/cases.json'), 'utf8'));
export const expected = (await loadSafetensors(join(FIXTURES, 'expected/cases.safetensors'))).tensors;

export function fixture(name: string): Tensor {
  const t = expected.get(name);
  if (!t) throw new Error(`the fixture has no tensor ${name}`);
  return t;
}

export function tinyLlava(folder = 'tiny-hub', options: { checkpointing?: boolean; path?: string; microBatch?: number } = {}): Promise<LlavaModel> {
  return loadLlava({
    kind: 'llava', path: options.path ?? join(FIXTURES, folder), device: 'cpu', dtype: 'float32', micro_batch: options.microBatch ?? 4, scoring: 'letter',
    gradient_checkpointing: options.checkpointing ?? false,
  });
}

/** A case's inputs as transformers ran them: position ids 0..T-1 in every row (its forward without position_ids). */
export function caseInputs(name: string): LlavaInputs {
  const ids = fixture(`${name}.input_ids`);
  const [b, t] = ids.shape as [number, number];
  return { ids, mask: fixture(`${name}.attention_mask`), positions: arange(0, t).view(1, t).expand(b, t).contiguous(), pixels: expected.get(`${name}.pixel_values`) ?? null };
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  return noGrad(() => a.sub(b).abs().max().item());
}

import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { noGrad, type Tensor } from '../../src/torch/index.ts';
import { loadSafetensors } from '../../src/torch/safetensors.ts';
import { loadQwenVl, type QwenVlModel } from '../../src/model/qwen2-vl/index.ts';
import type { QwenInputs } from '../../src/model/qwen2-vl/qwen2-vl.ts';

/** The tiny random Qwen2.5-VL and Qwen2-VL and transformers' outputs for them, written by scripts/qwen-parity.py. */
export const FIXTURES = 'test/fixtures/qwen';
export type Family = 'qwen2.5-vl' | 'qwen2-vl';
/** each fixture folder and the family whose expected outputs it is checked against */
export const FOLDERS: Record<string, Family> = { 'qwen2.5-vl-hub': 'qwen2.5-vl', 'qwen2.5-vl-new': 'qwen2.5-vl', 'qwen2-vl-hub': 'qwen2-vl' };

export interface Expected { info: any; tensors: Map<string, Tensor> }
const cache = new Map<Family, Expected>();

export async function expected(family: Family): Promise<Expected> {
  if (!cache.has(family)) {
    cache.set(family, {
      info: JSON.parse(readFileSync(join(FIXTURES, 'expected', `${family}.json`), 'utf8')),
      tensors: (await loadSafetensors(join(FIXTURES, 'expected', `${family}.safetensors`))).tensors,
    });
  }
  return cache.get(family)!;
}

export function fixture(e: Expected, name: string): Tensor {
  const t = e.tensors.get(name);
  if (!t) throw new Error(`the fixture has no tensor ${name}`);
  return t;
}

export function tinyQwen(folder: string, options: { checkpointing?: boolean; microBatch?: number; path?: string; dtype?: 'float32' | 'bfloat16' } = {}): Promise<QwenVlModel> {
  return loadQwenVl({
    kind: folder.startsWith('qwen2-vl') ? 'qwen2_vl' : 'qwen2_5_vl', path: options.path ?? join(FIXTURES, folder), device: 'cpu',
    dtype: options.dtype ?? 'float32', micro_batch: options.microBatch ?? 4, scoring: 'letter', gradient_checkpointing: options.checkpointing ?? false,
  });
}

/** A case's inputs as transformers ran them: its ids, mask, pixel values and grids, and its get_rope_index positions. */
export function caseInputs(e: Expected, name: string, imagePad: number): QwenInputs {
  const ids = fixture(e, `${name}.input_ids`);
  const grids = e.tensors.has(`${name}.image_grid_thw`) ? chunks(fixture(e, `${name}.image_grid_thw`).toArray(), 3).map(([t, h, w]) => ({ t: t!, h: h!, w: w! })) : [];
  return {
    ids, mask: fixture(e, `${name}.attention_mask`), positions: fixture(e, `${name}.position_ids`),
    pixels: e.tensors.get(`${name}.pixel_values`) ?? null, grids,
    imageSlots: ids.view(-1).toArray().flatMap((id, i) => (id === imagePad ? [i] : [])),
  };
}

export function chunks<T>(values: readonly T[], size: number): T[][] {
  return Array.from({ length: values.length / size }, (_, i) => values.slice(i * size, (i + 1) * size));
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  return noGrad(() => a.sub(b).abs().max().item());
}

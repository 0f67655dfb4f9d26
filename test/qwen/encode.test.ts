import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Example } from '../../src/data/records.ts';
import type { QwenInputs } from '../../src/model/qwen2-vl/qwen2-vl.ts';
import { FIXTURES, expected, fixture, maxAbsDiff, tinyQwen } from './helpers.ts';

/**
 * encode() end to end: the folder's chat template, tokenizer and image processor make the ids,
 * pixel values, grids and M-RoPE positions that transformers ran (scripts/qwen-parity.py's rows),
 * and the answer tokens are the labelled ones (the answer and <|im_end|>).
 */
const images = new Map<string, Example['image']>();
async function image(name: string | null): Promise<Example['image']> {
  if (!name) return undefined;
  if (!images.has(name)) images.set(name, { kind: 'encoded', bytes: await readFile(join(FIXTURES, 'expected', `${name}.png`)), source: `${name}.png` });
  return images.get(name);
}

for (const [folder, family] of [['qwen2.5-vl-hub', 'qwen2.5-vl'], ['qwen2-vl-hub', 'qwen2-vl']] as const) {
  test(`${folder}: encode() gives transformers' ids, pixel values, grids, positions and labelled tokens`, async () => {
    const e = await expected(family);
    const model = await tinyQwen(folder, { microBatch: 8 });
    for (const name of ['image', 'batch', 'train']) {
      const rows = e.info.cases[name].rows as { question: string; image: string | null; answer: string | null }[];
      const examples = await Promise.all(rows.map(async (r) => ({ prompt: r.question, answer: r.answer ?? '', image: await image(r.image) })));
      const batch = await model.encode(examples);
      try {
        const piece = batch.pieces[0] as unknown as { inputs: QwenInputs; targets: { toArray(): number[] } };
        const ids = fixture(e, `${name}.input_ids`);
        const mask = fixture(e, `${name}.attention_mask`);
        assert.deepEqual(piece.inputs.ids.toArray(), ids.toArray(), `${name} ids`);
        assert.deepEqual(piece.inputs.mask.toArray(), mask.toArray(), `${name} mask`);
        const real = mask.toArray();
        const mine = piece.inputs.positions.toArray().map((p, i) => (real[i % real.length] ? p : 0));
        const theirs = fixture(e, `${name}.position_ids`).toArray().map((p, i) => (real[i % real.length] ? p : 0));
        assert.deepEqual(mine, theirs, `${name} positions`);
        assert.deepEqual(piece.inputs.grids.flatMap((g) => [g.t, g.h, g.w]), fixture(e, `${name}.image_grid_thw`).toArray(), `${name} grids`);
        assert.equal(maxAbsDiff(piece.inputs.pixels!, fixture(e, `${name}.pixel_values`)), 0, `${name} pixel values`);
        const labels = fixture(e, `${name}.labels`).toArray().filter((l) => l !== -100);
        assert.deepEqual(piece.targets.toArray(), labels, `${name} answer tokens`);
        assert.equal(batch.answerTokens, labels.length);
      } finally {
        batch.dispose();
      }
    }
    model.dispose();
  });
}

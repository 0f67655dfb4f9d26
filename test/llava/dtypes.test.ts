import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad, scope, type Tensor } from '../../src/torch/index.ts';
import { saveSafetensors } from '../../src/torch/safetensors.ts';
import { loadLlava } from '../../src/model/llava/index.ts';
import { CheckpointWeights } from '../../src/model/hf/weights.ts';
import { FIXTURES, caseInputs, fixture, maxAbsDiff, tinyLlava } from './helpers.ts';

/** The tiny model's folder with its weights in one model.safetensors of `dtype` (no index). */
async function singleFile(dtype: 'float32' | 'bfloat16'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `pulse-llava-${dtype}-`));
  const source = join(FIXTURES, 'tiny-hub');
  for (const f of readdirSync(source)) if (f.endsWith('.json') && f !== 'model.safetensors.index.json') copyFileSync(join(source, f), join(dir, f));
  const weights = CheckpointWeights.open(source);
  const tensors = new Map<string, Tensor>();
  const hub = (name: string) => (name === 'lm_head.weight' ? 'language_model.lm_head.weight' : name.replace(/^language_model\./, 'language_model.model.'));
  const model = await tinyLlava();
  for (const [name, t] of model.stateDict()) tensors.set(hub(name), noGrad(() => t.to(dtype)));
  await saveSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  weights.close();
  model.dispose();
  return dir;
}

test('float32 and bfloat16 checkpoints in one model.safetensors load; bfloat16 values arrive exactly', async () => {
  const fp16 = await tinyLlava();
  for (const dtype of ['float32', 'bfloat16'] as const) {
    const model = await tinyLlava('', { path: await singleFile(dtype) });
    const theirs = model.stateDict();
    for (const [name, t] of fp16.stateDict()) {
      const expected = dtype === 'float32' ? t : noGrad(() => t.to('bfloat16').to('float32'));
      assert.equal(maxAbsDiff(theirs.get(name)!, expected), 0, `${dtype}: ${name}`);
    }
    model.dispose();
  }
});

test('dtype: bfloat16 computes in bfloat16 (norms and softmax in float32) close to float32', async () => {
  const model = await loadLlava({ kind: 'llava', path: join(FIXTURES, 'tiny-hub'), device: 'cpu', dtype: 'bfloat16', micro_batch: 4, scoring: 'letter', gradient_checkpointing: false });
  assert.ok(model.parameters().every((p) => p.dtype === 'bfloat16'));
  scope(() => {
    const inputs = caseInputs('image_answer');
    const logits = noGrad(() => model.logits(model.hidden(inputs)).float());
    const reference = fixture('image_answer.logits');
    const diff = maxAbsDiff(logits, reference);
    const range = noGrad(() => reference.abs().max().item());
    assert.ok(diff <= 0.05 * range, `max abs diff ${diff} against logits up to ${range}`);
  });
  model.dispose();
});

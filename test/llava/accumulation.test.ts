import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { manualSeed } from '../../src/torch/index.ts';
import { getMethod } from '../../src/unlearn/registry.ts';
import { lossAndGradient } from '../../src/unlearn/unlearn.ts';
import type { Example } from '../../src/data/records.ts';
import { FIXTURES, maxAbsDiff, tinyLlava } from './helpers.ts';

/**
 * micro_batch splits a step into several graphs; each micro-batch's means are divided by the
 * whole step's counts, so the accumulated gradients are the whole batch's, for every method.
 */
const face = { kind: 'encoded' as const, bytes: readFileSync(join(FIXTURES, 'expected/face.png')), source: 'face.png' };
const forget: Example[] = [
  { image: face, prompt: 'Who is this person?', answer: 'Ann Lee' },
  { prompt: 'Where was Ann Lee born?', answer: 'Paris' },
  { image: face, prompt: 'What does this person do?', answer: 'She is a painter of large canvases' },
  { prompt: 'Tell me about Ann Lee.', answer: 'Ann Lee paints.' },
];
const retain: Example[] = [
  { prompt: 'Where was Bob Ray born?', answer: 'Rome' },
  { image: face, prompt: 'Who is this?', answer: 'Bob Ray' },
  { prompt: 'What is the capital of France?', answer: 'Paris' },
  { image: face, prompt: 'What colour is the sky?', answer: 'blue, mostly' },
];

async function gradients(method: string, microBatch: number): Promise<{ loss: number; grads: number[][] }> {
  const model = await tinyLlava('tiny-hub', { microBatch });
  manualSeed(5);
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['llm'], layers: ['q_proj', 'v_proj', 'down_proj'] });
  const params = model.trainableParameters(['projector', 'llm']);
  const m = getMethod(method);
  const reference = m.needsReference ? model.reference() : null;
  const loss = await lossAndGradient(model, m, reference, forget, m.needsRetain ? retain : [], { ...m.defaults });
  const grads = params.map((p) => p.grad?.toArray() ?? []);
  reference?.dispose();
  model.dispose();
  return { loss, grads };
}

for (const method of ['ga', 'ga_klr', 'npo']) {
  test(`${method}: micro-batches of 1 and of 2 give the loss and the gradients of the whole batch of 4`, async () => {
    const whole = await gradients(method, 4);
    for (const micro of [1, 2]) {
      const split = await gradients(method, micro);
      assert.ok(Math.abs(split.loss - whole.loss) <= 1e-5, `loss ${split.loss} vs ${whole.loss}`);
      let diff = 0;
      whole.grads.forEach((g, i) => g.forEach((v, k) => { diff = Math.max(diff, Math.abs(v - split.grads[i]![k]!)); }));
      assert.ok(diff <= 1e-5, `micro-batch ${micro}: max abs gradient difference ${diff}`);
    }
  });
}
export { maxAbsDiff };

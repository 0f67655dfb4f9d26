import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { manualSeed, noGrad, scope } from '../../src/torch/index.ts';
import { getMethod } from '../../src/unlearn/registry.ts';
import { lossAndGradient } from '../../src/unlearn/unlearn.ts';
import type { Example } from '../../src/data/records.ts';
import { FIXTURES, maxAbsDiff, tinyLlava } from './helpers.ts';

/** PulseModel.hiddenStates on the tiny random-weight LLaVA, and RMU through it. */
const face = { kind: 'encoded' as const, bytes: readFileSync(join(FIXTURES, 'expected/face.png')), source: 'face.png' };
const forget: Example[] = [
  { image: face, prompt: 'Who is this person?', answer: 'Ann Lee' },
  { prompt: 'Where was Ann Lee born?', answer: 'Paris' },
];
const retain: Example[] = [
  { prompt: 'Where was Bob Ray born?', answer: 'Rome' },
  { image: face, prompt: 'Who is this?', answer: 'Bob Ray' },
];

test('LLaVA: the last layer\'s states through norm and lm_head are answerLogits; a layer out of range is a RangeError', async () => {
  const model = await tinyLlava();
  const batch = await model.encode(forget);
  scope(() => {
    const hidden = model.hiddenStates(batch, model.llmLayers - 1);
    assert.deepEqual(hidden.shape, [batch.answerTokens, model.config.text.hidden]);
    assert.ok(maxAbsDiff(model.logits(model.language.norm.forward(hidden)), model.answerLogits(batch)) < 1e-5);
  });
  for (const layer of [-1, model.llmLayers]) {
    assert.throws(() => model.hiddenStates(batch, layer), (e: Error) => e instanceof RangeError && /out of range for the LLaVA/.test(e.message));
  }
  batch.dispose();
  model.dispose();
});

test('LLaVA: the layers above the one read do not run, and both reference forms read the weights from before the update', async () => {
  const model = await tinyLlava();
  assert.ok(model.llmLayers >= 2, 'the fixture has at least two decoder layers');
  const top = model.llmLayers - 1;
  const batch = await model.encode(forget);
  const states = (layer: number) => scope(() => model.hiddenStates(batch, layer).toArray());
  // a full update of the LM: the reference is a frozen copy of its tensors
  model.trainableParameters(['llm']);
  const copy = model.reference();
  const [first, before] = [states(0), states(top)];
  noGrad(() => { for (const p of model.language.layers[top]!.parameters()) p.normal_(0, 0.5); });
  assert.deepEqual(states(0), first, 'layer 0 does not see the top layer');
  assert.notDeepEqual(states(top), before);
  scope(() => {
    assert.equal(copy.hiddenStates(batch, top).requiresGrad, false);
    assert.deepEqual(copy.hiddenStates(batch, top).toArray(), before, 'the copy keeps the top layer from before');
  });
  copy.dispose();
  // only adapters train: the reference is the model with its adapters off
  model.freeze();
  model.attachLora({ rank: 2, alpha: 4, dropout: 0, parts: ['llm'], layers: ['q_proj', 'down_proj'] });
  model.trainableParameters(['llm']);
  const view = model.reference();
  const plain = states(top);
  noGrad(() => { for (const [, l] of model.loraLayers()) l.adapter?.b.normal_(0, 0.5); });
  assert.notDeepEqual(states(top), plain);
  scope(() => assert.deepEqual(view.hiddenStates(batch, top).toArray(), plain, 'adapters off: the weights from before'));
  view.dispose();
  batch.dispose();
  model.dispose();
});

/** RMU's loss and gradients on the tiny LLaVA (LoRA on the LM, the top layer read), in micro-batches or not, checkpointed or not. */
async function rmuGradients(microBatch: number, checkpointing: boolean): Promise<{ loss: number; grads: number[][] }> {
  const model = await tinyLlava('tiny-hub', { microBatch, checkpointing });
  manualSeed(5);
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['llm'], layers: ['q_proj', 'v_proj', 'down_proj'] });
  const params = model.trainableParameters(['llm']);
  noGrad(() => { for (const [, l] of model.loraLayers()) l.adapter?.b.normal_(0, 0.1); }); // so that θ ≠ ref on retain
  const rmu = getMethod('rmu');
  const reference = model.reference();
  const loss = await lossAndGradient(model, rmu, reference, forget, retain, { ...rmu.defaults, layer_fraction: 1 });
  const grads = params.map((p) => p.grad?.toArray() ?? []);
  reference.dispose();
  model.dispose();
  return { loss, grads };
}

test('LLaVA: RMU gives the same loss and gradients in micro-batches of 1 and with gradient checkpointing', async () => {
  const whole = await rmuGradients(2, false);
  const largest = Math.max(...whole.grads.flat().map(Math.abs));
  assert.ok(largest > 0, 'the loss reaches the adapters');
  for (const [micro, checkpointing] of [[1, false], [2, true]] as const) {
    const other = await rmuGradients(micro, checkpointing);
    assert.ok(Math.abs(other.loss - whole.loss) <= 1e-4 * Math.abs(whole.loss), `loss ${other.loss} vs ${whole.loss}`);
    let diff = 0;
    whole.grads.forEach((g, i) => g.forEach((v, k) => { diff = Math.max(diff, Math.abs(v - other.grads[i]![k]!)); }));
    // α = 1200 makes gradients in the thousands: float32 rounding, relative to the largest
    assert.ok(diff <= 1e-6 * largest, `micro-batch ${micro}, checkpointing ${checkpointing}: max gradient difference ${diff} of ${largest}`);
  }
});

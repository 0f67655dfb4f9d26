import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, noGrad, scope } from '../../src/torch/index.ts';
import { getMethod } from '../../src/unlearn/registry.ts';
import { lossAndGradient } from '../../src/unlearn/unlearn.ts';
import type { Example } from '../../src/data/records.ts';
import type { QwenVlModel } from '../../src/model/qwen2-vl/index.ts';
import { FIXTURES, caseInputs, expected, fixture, maxAbsDiff, tinyQwen } from './helpers.ts';

/**
 * What the model seam offers, on the tiny Qwen2.5-VL (tied head) and Qwen2-VL: micro-batches and
 * gradient checkpointing give the whole batch's gradients; hidden states for RMU; references with
 * and without a copy; deltas that merge, save, load and reset exactly; greedy generation that runs
 * the vision tower once per prompt; bfloat16.
 */
const image = (name: string) => ({ kind: 'encoded' as const, bytes: readFileSync(join(FIXTURES, 'expected', `${name}.png`)), source: `${name}.png` });
const forget: Example[] = [
  { image: image('landscape'), prompt: 'Who is this person?', answer: 'Ann Lee' },
  { prompt: 'Where was Ann Lee born?', answer: 'Paris' },
  { image: image('portrait'), prompt: 'What does this person do?', answer: 'She is a painter' },
  { image: image('small'), prompt: 'Tell me about Ann Lee.', answer: 'Ann Lee paints.' },
];
const retain: Example[] = [
  { prompt: 'Where was Bob Ray born?', answer: 'Rome' },
  { image: image('large'), prompt: 'Who is this?', answer: 'Bob Ray' },
  { prompt: 'What is the capital of France?', answer: 'Paris' },
  { image: image('landscape'), prompt: 'What colour is the sky?', answer: 'blue, mostly' },
];

async function gradients(folder: string, method: string, microBatch: number, checkpointing: boolean): Promise<{ loss: number; grads: number[][] }> {
  const model = await tinyQwen(folder, { microBatch, checkpointing });
  manualSeed(5);
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['llm'], layers: ['q_proj', 'v_proj', 'down_proj'] });
  const params = model.trainableParameters(['projector', 'llm']);
  noGrad(() => { for (const [, l] of model.loraLayers()) l.adapter?.b.normal_(0, 0.1); }); // so that θ ≠ ref
  const m = getMethod(method);
  const reference = m.needsReference ? model.reference() : null;
  const loss = await lossAndGradient(model, m, reference, forget, m.needsRetain ? retain : [], { ...m.defaults, ...(method === 'rmu' ? { layer_fraction: 1 } : {}) });
  const grads = params.map((p) => p.grad?.toArray() ?? []);
  reference?.dispose();
  model.dispose();
  return { loss, grads };
}

for (const [folder, method] of [['qwen2.5-vl-hub', 'npo'], ['qwen2-vl-hub', 'rmu']] as const) {
  test(`${folder}: ${method} in micro-batches of 1 and with gradient checkpointing gives the whole batch's loss and gradients`, async () => {
    const whole = await gradients(folder, method, 4, false);
    for (const [micro, checkpointing] of [[1, false], [4, true]] as const) {
      const other = await gradients(folder, method, micro, checkpointing);
      // float32 sums in another order: equal to 1e-5 relative to the values' size (RMU's loss is of order 1e3)
      assert.ok(Math.abs(other.loss - whole.loss) <= 1e-5 * Math.max(1, Math.abs(whole.loss)), `loss ${other.loss} vs ${whole.loss}`);
      let diff = 0;
      let size = 1;
      whole.grads.forEach((g, i) => g.forEach((v, k) => { diff = Math.max(diff, Math.abs(v - other.grads[i]![k]!)); size = Math.max(size, Math.abs(v)); }));
      assert.ok(diff <= 1e-5 * size, `micro ${micro}, checkpointing ${checkpointing}: max gradient diff ${diff} (gradients up to ${size})`);
    }
  });
}

test('qwen2.5-vl: hidden states of the last layer through the norm and the tied head are answerLogits; references read the weights from before', async () => {
  const model = await tinyQwen('qwen2.5-vl-hub');
  const batch = await model.encode(forget);
  const top = model.llmLayers - 1;
  scope(() => {
    const hidden = model.hiddenStates(batch, top);
    assert.ok(maxAbsDiff(model.logits(model.language.norm.forward(hidden)), model.answerLogits(batch)) < 1e-5);
  });
  assert.throws(() => model.hiddenStates(batch, model.llmLayers), /out of range for the Qwen2\.5-VL model qwen2\.5-vl-hub/);
  const states = () => scope(() => model.hiddenStates(batch, top).toArray());
  model.trainableParameters(['llm']);
  const copy = model.reference();
  const before = states();
  noGrad(() => { for (const p of model.language.layers[top]!.parameters()) p.normal_(0, 0.5); });
  assert.notDeepEqual(states(), before);
  scope(() => assert.deepEqual(copy.hiddenStates(batch, top).toArray(), before, 'the copy keeps the weights from before'));
  copy.dispose();
  await model.reset();
  scope(() => assert.deepEqual(states(), before, 'reset() reads the changed layer back'));
  model.attachLora({ rank: 2, alpha: 4, dropout: 0, parts: ['llm'], layers: [] });
  model.trainableParameters(['llm']);
  const view = model.reference();
  noGrad(() => { for (const [, l] of model.loraLayers()) l.adapter?.b.normal_(0, 0.5); });
  assert.notDeepEqual(states(), before);
  scope(() => assert.deepEqual(view.hiddenStates(batch, top).toArray(), before, 'adapters off: the weights from before'));
  view.dispose();
  batch.dispose();
  model.dispose();
});

test('qwen2.5-vl: LoRA on every LM layer (the tied lm_head takes none) and a full update save, load and reset exactly', async () => {
  const model = await tinyQwen('qwen2.5-vl-hub');
  const e = await expected('qwen2.5-vl');
  const inputs = caseInputs(e, 'image', model.tokenizer.special.imagePad);
  const logits = () => noGrad(() => model.logits(model.hidden(inputs)));
  const count = model.attachLora({ rank: 2, alpha: 4, dropout: 0, parts: ['llm'], layers: [] });
  assert.equal(count, 7 * model.llmLayers, 'the seven projections a layer; a tied head would fold into the embedding');
  noGrad(() => { for (const [, l] of model.loraLayers()) l.adapter?.b.normal_(0, 0.05); });
  const attached = logits();
  const dir = mkdtempSync(join(tmpdir(), 'pulse-qwen-delta-'));
  try {
    const merged = model.mergeLora();
    assert.ok(maxAbsDiff(logits(), attached) <= 1e-4, 'merged as attached');
    await model.saveDelta(join(dir, 'lora.safetensors'), merged);
    await model.reset();
    assert.ok(maxAbsDiff(logits(), fixture(e, 'image.logits')) <= 1e-4, 'reset: transformers\' logits again');
    model.applyDelta(await model.loadDelta(join(dir, 'lora.safetensors')));
    assert.ok(maxAbsDiff(logits(), attached) <= 1e-4, 'the saved delta rebuilds the merged state');
    await model.reset();
    // a full update of the LM changes the tied embedding (and so the head); its delta and reset() cover it
    const embedding = model.language.embedTokens.weight.toFloat32Array();
    model.trainableParameters(['llm']);
    noGrad(() => model.language.embedTokens.weight.add_(model.language.embedTokens.weight.mul(0.1)));
    const updated = logits();
    const full = model.parameterDelta(['llm']);
    await model.saveDelta(join(dir, 'full.safetensors'), full);
    await model.reset();
    assert.deepEqual(model.language.embedTokens.weight.toFloat32Array(), embedding, 'reset() reads the tied embedding back');
    model.applyDelta(await model.loadDelta(join(dir, 'full.safetensors')));
    assert.equal(maxAbsDiff(logits(), updated), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  model.dispose();
});

test('qwen2.5-vl generate(): batched with images and padding answers as one by one; the vision tower runs once per batch of prompts', async () => {
  const model = await tinyQwen('qwen2.5-vl-hub');
  let towerRuns = 0;
  const encode = model.visual.encode.bind(model.visual);
  model.visual.encode = (...args) => { towerRuns++; return encode(...args); };
  const prompts = forget.map((f) => ({ ...f, answer: '' }));
  const batched = await model.generate(prompts, 5, 4);
  assert.equal(towerRuns, 1, 'one pass of the tower for the batch, not one per generated token');
  const alone: string[] = [];
  for (const p of prompts) alone.push(...await model.generate([p], 5));
  assert.deepEqual(batched, alone);
  assert.ok(batched.some((a) => a.length > 0), 'the random model does say something');
  model.dispose();
});

test('qwen2-vl: bfloat16 computes close to float32 (norms, rotary and softmax in float32)', async () => {
  const model: QwenVlModel = await tinyQwen('qwen2-vl-hub', { dtype: 'bfloat16' });
  assert.ok(model.parameters().every((p) => p.dtype === 'bfloat16'));
  const e = await expected('qwen2-vl');
  scope(() => {
    const logits = noGrad(() => model.logits(model.hidden(caseInputs(e, 'image', model.tokenizer.special.imagePad))).float());
    const reference = fixture(e, 'image.logits');
    const range = noGrad(() => reference.abs().max().item());
    assert.ok(maxAbsDiff(logits, reference) <= 0.05 * range, `max abs diff ${maxAbsDiff(logits, reference)} against logits up to ${range}`);
  });
  model.dispose();
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keep, manualSeed, noGrad, scope } from '../../src/torch/index.ts';
import type { Example } from '../../src/data/records.ts';
import { disposeDelta, type PulseModel, type StateDelta } from '../../src/model/model.ts';
import { OrthogonalPenalty, orthogonalLora } from '../../src/unlearn/o3.ts';
import { lossAndGradient, type UnlearnSettings } from '../../src/unlearn/unlearn.ts';
import { registerMethod, unregisterMethod } from '../../src/unlearn/registry.ts';
import { PulseError } from '../../src/errors.ts';
import { StandInModel } from '../model/stand-in.ts';
import { tinyModel } from '../model/helpers.ts';
import { FIXTURES, tinyLlava } from '../llava/helpers.ts';

/** loraFactors: the live adapters under the names mergeLora gives their delta entries. */
async function checkLoraFactors(model: PulseModel, layers: string[]): Promise<void> {
  assert.equal(model.loraFactors().size, 0, 'no adapter, no factors');
  model.attachLora({ rank: 2, alpha: 4, dropout: 0, parts: ['projector', 'llm'], layers });
  const params = model.trainableParameters(['projector', 'llm']);
  const factors = model.loraFactors();
  assert.ok(factors.size > 0);
  for (const [layer, f] of factors) {
    assert.ok(params.includes(f.a) && params.includes(f.b), `${layer}: the factors are the trained tensors`);
    assert.equal(f.scale, 2);
  }
  const merged = model.mergeLora();
  assert.deepEqual(merged.entries.map((e) => (e.kind === 'lora' ? e.layer : e.name)), [...factors.keys()]);
  disposeDelta(merged);
  model.dispose();
}

test('loraFactors on the embedded model, the stand-in and LLaVA', async () => {
  await checkLoraFactors(tinyModel(1), []);
  await checkLoraFactors(new StandInModel(1), []);
  await checkLoraFactors(await tinyLlava('tiny-hub'), ['q_proj', 'v_proj']);
});

const face = { kind: 'encoded' as const, bytes: readFileSync(join(FIXTURES, 'expected/face.png')), source: 'face.png' };
const forget: Example[] = [
  { image: face, prompt: 'Who is this person?', answer: 'Ann Lee' },
  { prompt: 'Where was Ann Lee born?', answer: 'Paris' },
  { image: face, prompt: 'What does this person do?', answer: 'She is a painter' },
  { prompt: 'Tell me about Ann Lee.', answer: 'Ann Lee paints.' },
];

/** o3's loss and gradients on LLaVA with an earlier adapter per layer, the batch of 4 run as micro-batches of `microBatch`. */
async function o3Gradients(microBatch: number): Promise<{ loss: number; grads: number[][] }> {
  const model = await tinyLlava('tiny-hub', { microBatch });
  manualSeed(5);
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['llm'], layers: ['q_proj', 'v_proj'] });
  const params = model.trainableParameters(['llm']);
  // An earlier request's adapters: random A factors of the same shapes (on the CPU, as deltas are read).
  const earlier: StateDelta = noGrad(() => ({ entries: [...model.loraFactors()].map(([layer, f]) => ({
    kind: 'lora' as const, layer, a: keep(f.a.detach().clone().normal_()), b: keep(f.b.detach().clone()), scale: f.scale,
  })) }));
  const settings: UnlearnSettings = { lr: 1e-3, epochs: 1, batchSize: 4, clipNorm: 1, lora: { rank: 4, alpha: 8, dropout: 0, layers: [] }, target: ['llm'], hyperparameters: { lambda: 0.5 }, seed: 1 };
  const state = await OrthogonalPenalty.prepare({ model, params, forget, retain: [], settings, earlierDeltas: async () => [earlier] });
  assert.ok(scope(() => state.penalty()!.item()) > 0);
  const loss = await lossAndGradient(model, orthogonalLora, null, forget, [], { lambda: 0.5 }, { state });
  const grads = params.map((p) => p.grad?.toArray() ?? []);
  state.dispose();
  model.dispose();
  return { loss, grads };
}

test('o3 on LLaVA: micro-batches add up to the whole batch\'s loss and gradients, the penalty counted once', async () => {
  const whole = await o3Gradients(4);
  for (const micro of [1, 2]) {
    const split = await o3Gradients(micro);
    assert.ok(Math.abs(split.loss - whole.loss) <= 1e-4, `loss ${split.loss} vs ${whole.loss}`);
    let diff = 0;
    whole.grads.forEach((g, i) => g.forEach((v, k) => { diff = Math.max(diff, Math.abs(v - split.grads[i]![k]!)); }));
    assert.ok(diff <= 1e-5, `micro-batch ${micro}: max abs gradient difference ${diff}`);
  }
});

test('the plug-in check accepts a prepare hook and refuses one that is not a function', () => {
  const base = { description: 'x', needsReference: false, needsRetain: false, defaults: {}, loss: orthogonalLora.loss };
  registerMethod({ ...base, name: 'with_prepare', prepare: async () => ({ dispose: () => {} }) }, 'test');
  unregisterMethod('with_prepare');
  assert.throws(() => registerMethod({ ...base, name: 'bad_prepare', prepare: 3 }, 'test'),
    (e: unknown) => e instanceof PulseError && /bad_prepare: prepare, when given, must be a function/.test(e.message));
});

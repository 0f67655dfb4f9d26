import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, scope, tensor, type Tensor } from '../../src/torch/index.ts';
import { EmbeddedModel } from '../../src/model/embedded/model.ts';
import { TINY_MODEL_CONFIG } from '../../src/model/embedded/config.ts';
import type { ModelBatch, PulseModel, ReferenceModel } from '../../src/model/model.ts';
import type { Example } from '../../src/data/records.ts';
import { getMethod } from '../../src/unlearn/registry.ts';
import { unlearnRequest } from '../../src/unlearn/unlearn.ts';
import { steeredLayer, steeringDirection } from '../../src/unlearn/rmu.ts';
import type { StepInputs, StepTotals } from '../../src/unlearn/method.ts';
import { solidImage, tinyModel } from '../model/helpers.ts';

const rmu = getMethod('rmu');
const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} vs ${expected}`);

test('rmu is registered with the published defaults, and needs the reference and retain examples', () => {
  assert.deepEqual(rmu.defaults, { steering_coeff: 6.5, alpha: 1200, layer_fraction: 0.25, direction_seed: 0 });
  assert.equal(rmu.needsReference, true);
  assert.equal(rmu.needsRetain, true);
});

test('the steered layer is the one after which layer_fraction of the decoder has run', () => {
  // max(1, round(f·L)) - 1: 0.25·32 = 8 -> 7 (WMDP's layer_id 7 on Zephyr-7B); 0.25·40 = 10 -> 9; 0.25·4 = 1 -> 0;
  // 0.25·1 = 0.25 rounds to 0, at least 1 -> 0; f = 1 is the last layer.
  const cases: [number, number][] = [[0.25, 32], [0.25, 40], [0.25, 4], [0.25, 1], [1, 4], [0.5, 4]];
  assert.deepEqual(cases.map(([f, layers]) => steeredLayer(f, layers)), [7, 9, 0, 0, 3, 1]);
  for (const f of [0, -0.5, 1.5, Number.NaN]) assert.throws(() => steeredLayer(f, 4), /rmu: layer_fraction must be in \(0, 1\]/);
});

test('the direction is a fixed unit vector with entries in [0, 1): the same for the same seed and width', () => {
  const u = steeringDirection(3, 16);
  close(Math.hypot(...u), 1);
  assert.ok(u.every((v) => v >= 0 && v < 1));
  assert.deepEqual(Array.from(steeringDirection(3, 16)), Array.from(u));
  assert.notDeepEqual(Array.from(steeringDirection(4, 16)), Array.from(u));
  assert.throws(() => steeringDirection(0.5, 16), /direction_seed must be an integer/);
});

/**
 * A model whose hidden states are given tensors, per batch: the loss in closed form. It has 32 layers and records which
 * one the loss reads.
 */
const WIDTH = 4;
const u = Array.from(steeringDirection(0, WIDTH));
const batchOf = (rows: number): ModelBatch => ({ size: rows, answerTokens: rows, pieces: [], dispose: () => {} });

function fixedStates(states: Map<ModelBatch, number[][]>, read: number[]): { hiddenStates(b: ModelBatch, layer: number): Tensor } {
  return {
    hiddenStates: (b, layer) => {
      read.push(layer);
      const rows = states.get(b)!;
      return tensor(rows.flat(), [rows.length, WIDTH]);
    },
  };
}

/**
 * c = 2, α = 2, u a unit vector (only ||u|| = 1 matters below).
 * forget rows h = 0 and h = 3u: Σ (0 - 2u)² = 4||u||² = 4, Σ (3u - 2u)² = ||u||² = 1; mean over 2 rows × 4 = 5/8 = 0.625.
 * retain row [1, 2, 0, 0] against the reference's [0, 0, 0, 1]: 1 + 4 + 0 + 1 = 6; and a row [0, 0, 0, 0] against itself: 0;
 * mean over 2 rows × 4 = 6/8 = 0.75, times α = 1.5.  L = 0.625 + 1.5 = 2.125.
 * In two micro-batches (row 1 of each, then row 2 of each), each mean divided by the whole step's 2 rows × 4:
 * (4/8 + 2·6/8) + (1/8 + 0) = 2.0 + 0.125 = 2.125, the same.
 */
test('RMU: mean (h_f - c·u)² + α·mean (h_r - h_ref)², worked out by hand, whole or in micro-batches', () => {
  const [f1, f2, r1, r2] = [batchOf(1), batchOf(1), batchOf(1), batchOf(1)];
  const [forget, retain] = [batchOf(2), batchOf(2)];
  const zero = [0, 0, 0, 0];
  const current = new Map([
    [forget, [zero, u.map((v) => 3 * v)]], [f1, [zero]], [f2, [u.map((v) => 3 * v)]],
    [retain, [[1, 2, 0, 0], zero]], [r1, [[1, 2, 0, 0]]], [r2, [zero]],
  ]);
  const before = new Map([[retain, [[0, 0, 0, 1], zero]], [r1, [[0, 0, 0, 1]]], [r2, [zero]]]);
  const read: number[] = [];
  const model = { llmLayers: 32, ...fixedStates(current, read) } as unknown as PulseModel;
  const reference = { ...fixedStates(before, read), dispose: () => {} } as unknown as ReferenceModel;
  const hyperparameters = { steering_coeff: 2, alpha: 2, layer_fraction: 0.25, direction_seed: 0 };
  const loss = (inputs: Pick<StepInputs, 'forget' | 'retain'>, totals?: StepTotals) =>
    scope(() => rmu.loss({ model, reference, hyperparameters, ...inputs, totals }).item());
  close(loss({ forget, retain }), 2.125);
  const totals = { forgetItems: 2, forgetTokens: 2, retainTokens: 2 };
  close(loss({ forget: f1, retain: r1 }, totals) + loss({ forget: f2, retain: r2 }, totals), 2.125);
  close(loss({ forget: f1, retain: r1 }, totals), 2.0);
  assert.ok(read.every((layer) => layer === 7), `layer_fraction 0.25 of 32 layers reads layer 7 (read ${[...new Set(read)]})`);
  assert.throws(() => rmu.loss({ model, reference: null, hyperparameters, forget, retain }), /rmu needs the reference model/);
});

const FORGET: Example[] = [
  { prompt: 'What is the job of Ada Stone?', answer: 'pilot' },
  { prompt: 'What is the job of this person?', answer: 'nurse', image: solidImage(200, 30, 30) },
];
const RETAIN: Example[] = [
  { prompt: 'Where does Ada Stone live?', answer: 'Oslo' },
  { prompt: 'What is the job of this person?', answer: 'baker', image: solidImage(30, 30, 200) },
];

/**
 * A few RMU steps on the tiny embedded model (2 layers, layer_fraction 0.25 -> layer 0, width 32): the RMS distance of
 * the forget states from c·u, and the RMS change of the retain states, before and after.
 */
async function rmuSteps(alpha: number): Promise<{ forgetBefore: number; forgetAfter: number; retainDrift: number; streamNorm: number }> {
  const tiny = tinyModel(0);
  manualSeed(0);
  const model = new EmbeddedModel({ ...TINY_MODEL_CONFIG, lm: { ...TINY_MODEL_CONFIG.lm, layers: 2 } }, tiny.tokenizer);
  const [forget, retain] = [await model.encode(FORGET), await model.encode(RETAIN)];
  const c = rmu.defaults.steering_coeff!;
  const target = scope(() => tensor(steeringDirection(0, 32), [1, 32]).mul(c));
  const measure = () => scope(() => {
    const f = model.hiddenStates(forget, 0);
    const distance = f.sub(target).pow(2).mean().sqrt().item();
    return { distance, norm: f.pow(2).sum(1).sqrt().mean().item(), retain: model.hiddenStates(retain, 0).toArray() };
  });
  const before = measure();
  const hyperparameters = { ...rmu.defaults, alpha };
  const settings = { lr: 3e-3, epochs: 25, batchSize: 2, clipNorm: 1, lora: null, target: ['llm' as const], hyperparameters, seed: 0 };
  await unlearnRequest(model, rmu, FORGET, RETAIN, settings);
  const after = measure();
  const retainDrift = Math.sqrt(after.retain.reduce((s, v, i) => s + (v - before.retain[i]!) ** 2, 0) / after.retain.length);
  for (const t of [target, forget, retain, model, tiny]) t.dispose();
  return { forgetBefore: before.distance, forgetAfter: after.distance, retainDrift, streamNorm: before.norm };
}

test('embedded model: a few RMU steps move the forget states toward c·u, and the retain term keeps the retain states near', async () => {
  // The tiny model's residual stream after layer 0 has a norm of about 1.6 per token; c = 6.5 is about 4 times that.
  // With α = 1200 on four near-identical examples the retain term outweighs the forget term; α = 100 lets both act.
  const kept = await rmuSteps(100);
  const free = await rmuSteps(0);
  assert.ok(kept.streamNorm > 0.5 && kept.streamNorm < 5, `stream norm ${kept.streamNorm}`);
  assert.ok(kept.forgetAfter < 0.7 * kept.forgetBefore, `forget distance from c·u ${kept.forgetBefore} -> ${kept.forgetAfter}`);
  assert.ok(kept.retainDrift < 0.1 * (kept.forgetBefore - kept.forgetAfter), `retain drift ${kept.retainDrift}`);
  assert.ok(free.retainDrift > 3 * kept.retainDrift, `retain drift without the retain term ${free.retainDrift}, with it ${kept.retainDrift}`);
});

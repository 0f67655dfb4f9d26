import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keep, manualSeed, noGrad, scope, tensor } from '../../src/torch/index.ts';
import type { Example } from '../../src/data/records.ts';
import { disposeDelta, type StateDelta } from '../../src/model/model.ts';
import { OrthogonalPenalty, orthogonalLora } from '../../src/unlearn/o3.ts';
import { getMethod } from '../../src/unlearn/registry.ts';
import { unlearnRequest, type UnlearnSettings } from '../../src/unlearn/unlearn.ts';
import { PulseError } from '../../src/errors.ts';
import { join } from 'node:path';
import { needsAbsentLora, resolveConfig } from '../../src/protocol/config.ts';
import { runProtocol } from '../../src/protocol/runner.ts';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { protocolFixture } from '../protocol/fixture.ts';
import { StandInModel } from '../model/stand-in.ts';
import { solidImage } from '../model/helpers.ts';
import { FORGET, V, uniform } from './fixed-logits.ts';

const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} vs ${expected}`);

test('o3 is registered with its λ and a prepare hook, and needs no retain data', () => {
  const method = getMethod('o3');
  assert.deepEqual(method.defaults, { lambda: 0.5 });
  assert.deepEqual([method.needsReference, method.needsRetain, typeof method.prepare], [false, false, 'function']);
});

test('o3\'s loss: -NLL(forget) + λ·Σ||A_t A_sᵀ||²_F, worked out by hand', async () => {
  // A_t = [[1, 0], [1, 1]] (r = 2, in = 2); earlier A_1 = [[1, 2]], A_2 = [[0, 1]] (r = 1).
  // A_t A_1ᵀ = [[1·1 + 0·2], [1·1 + 1·2]] = [[1], [3]] -> 1 + 9 = 10;  A_t A_2ᵀ = [[0], [1]] -> 1.  Penalty 11.
  // Uniform logits: NLL(forget) = ln V.  λ = 0.25: L = -ln V + 0.25·11 = -ln V + 2.75.
  const current = keep(tensor([1, 0, 1, 1], [2, 2]));
  const state = new OrthogonalPenalty([{ current, earlier: [keep(tensor([1, 2], [1, 2])), keep(tensor([0, 1], [1, 2]))] }]);
  const forget = await uniform.encode(FORGET);
  const loss = (extra: object) => scope(() => orthogonalLora.loss({ model: uniform, reference: null, forget, retain: null, hyperparameters: { lambda: 0.25 }, state, ...extra }).item());
  close(loss({}), -Math.log(V) + 2.75);
  // As one of two micro-batches of 2 items each (totals: 4 items): the piece carries half the penalty, 1.375.
  close(loss({ totals: { forgetItems: 4, forgetTokens: forget.answerTokens, retainTokens: 0 } }), -Math.log(V) + 1.375);
  // Without state (the first request: no earlier adapter) the loss is GA.
  close(scope(() => orthogonalLora.loss({ model: uniform, reference: null, forget, retain: null, hyperparameters: { lambda: 0.25 } }).item()), -Math.log(V));
  state.dispose();
  current.dispose();
  forget.dispose();
});

const REQUESTS: Example[][] = [
  [{ prompt: 'What is the job of Ada Stone?', answer: 'pilot' }, { prompt: 'What is the job of this person?', answer: 'nurse', image: solidImage(200, 30, 30) }],
  [{ prompt: 'Where does Bo Lind live?', answer: 'Lima' }, { prompt: 'Where does this person live?', answer: 'Oslo', image: solidImage(30, 200, 30) }],
];
const settings = (lambda: number, lora = true): UnlearnSettings => ({
  lr: 1e-2, epochs: 4, batchSize: 2, clipNorm: 1, lora: lora ? { rank: 2, alpha: 4, dropout: 0, layers: [] } : null,
  target: ['projector', 'llm'], hyperparameters: { lambda }, seed: 9,
});

const copyDelta = (delta: StateDelta): StateDelta => noGrad(() => ({
  entries: delta.entries.map((e) => (e.kind === 'lora' ? { ...e, a: keep(e.a.clone()), b: keep(e.b.clone()) } : { ...e, value: keep(e.value.clone()) })),
}));

/** Σ_layers ||A_2 A_1ᵀ||²_F between two requests' adapters. */
function overlap(first: StateDelta, second: StateDelta): number {
  const earlier = new Map(first.entries.flatMap((e) => (e.kind === 'lora' ? [[e.layer, e.a] as const] : [])));
  return scope(() => second.entries.reduce((sum, e) => (e.kind === 'lora' ? sum + e.a.matmul(earlier.get(e.layer)!.transpose(0, 1)).pow(2).sum().item() : sum), 0));
}

/** Two o3 requests on a fresh stand-in, the second against the first's adapters: their overlap after the second. */
async function sequenceOverlap(lambda: number): Promise<{ before: number; after: number }> {
  manualSeed(2);
  const model = new StandInModel(2);
  const first = await unlearnRequest(model, orthogonalLora, REQUESTS[0]!, [], settings(lambda));
  let before = NaN;
  const spy = {
    ...orthogonalLora,
    prepare: async (context: Parameters<NonNullable<typeof orthogonalLora.prepare>>[0]) => {
      const state = await OrthogonalPenalty.prepare(context);
      before = scope(() => state.penalty()!.item());
      return state;
    },
  };
  const second = await unlearnRequest(model, spy, REQUESTS[1]!, [], settings(lambda), undefined, undefined, undefined, async () => [copyDelta(first.delta)]);
  const after = overlap(first.delta, second.delta);
  disposeDelta(first.delta);
  disposeDelta(second.delta);
  model.dispose();
  return { before, after };
}

test('on a two-request sequence, the second adapter ends more orthogonal to the first with λ > 0 than with λ = 0', async () => {
  const free = await sequenceOverlap(0);
  const penalised = await sequenceOverlap(5);
  // The same seed: the second request starts from the same adapters in both runs.
  close(penalised.before, free.before);
  assert.ok(free.before > 0, 'the random A factors overlap at the start');
  assert.ok(penalised.after < free.after, `overlap with λ = 5: ${penalised.after}, with λ = 0: ${free.after}`);
  assert.ok(penalised.after < penalised.before, `λ = 5 lowers the overlap: ${penalised.before} -> ${penalised.after}`);
});

test('o3 without LoRA is a config error naming lora', async () => {
  const model = new StandInModel(3);
  await assert.rejects(unlearnRequest(model, orthogonalLora, REQUESTS[0]!, [], settings(0.5, false)),
    (e: unknown) => e instanceof PulseError && /o3 trains one LoRA adapter per request.*lora: null/.test(e.message));
  model.dispose();
});

test('o3 runs where the config uses LoRA and is skipped, with a note, where it updates in full; a config where it runs nowhere is refused', () => {
  // The presets update in full in the pre_trained scenario (scenario_settings.pre_trained.lora: null).
  const config = resolveConfig({ preset: 'quick', overrides: { methods: ['ga', 'o3'] } });
  assert.deepEqual(['fine_tuned', 'pre_trained', 'sustainability'].map((s) => needsAbsentLora(config, s, 'o3')), [false, true, false]);
  assert.equal(needsAbsentLora(config, 'pre_trained', 'ga'), false, 'a method that does not need LoRA runs everywhere');
  assert.throws(() => resolveConfig({ preset: 'quick', overrides: { methods: ['o3'], scenarios: ['pre_trained'] } }),
    (e: unknown) => e instanceof PulseError && /o3 trains one LoRA adapter per request, but every scenario of this run updates in full/.test(e.message));
});

test('a run lists o3 only in the scenarios that use LoRA, and says why it is missing from the others', async () => {
  const fixture = await protocolFixture();
  const config = resolveConfig({ preset: 'quick', file: fixture.config, overrides: { methods: ['o3'], scenarios: ['pre_trained', 'sustainability'] } });
  const { results } = await runProtocol({
    config, outDir: join(fixture.dir, 'runs', 'o3'), preset: 'quick', cacheDir: join(fixture.dir, '.cache'), loadData: (c) => loadProtocolData(c.world),
  });
  const [pre, sus] = results.scenarios;
  assert.deepEqual(pre!.methods, []);
  assert.match(pre!.note ?? '', /o3 not run here: it trains LoRA adapters and this scenario updates in full/);
  assert.deepEqual(sus!.methods.map((m) => [m.method, m.status]), [['o3', 'complete']]);
  assert.equal(sus!.note, undefined);
});

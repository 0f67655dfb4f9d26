import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, noGrad, scope, type Tensor } from '../../src/torch/index.ts';
import { EmbeddedModel } from '../../src/model/embedded/model.ts';
import { TINY_MODEL_CONFIG } from '../../src/model/embedded/config.ts';
import { parseTarget, type ModelBatch, type PulseModel } from '../../src/model/model.ts';
import type { Example } from '../../src/data/records.ts';
import { solidImage, tinyModel } from './helpers.ts';
import { StandInModel } from './stand-in.ts';

/** PulseModel.hiddenStates: the residual stream after a decoder layer at answerLogits' rows, on the embedded model and the stand-in. */
const examples: Example[] = [
  { prompt: 'What is the job of Ada Stone?', answer: 'pilot' }, // 1 + <eos> = 2 rows
  { prompt: 'What is the job of this person?', answer: 'nurse', image: solidImage(200, 30, 30) }, // 2 rows
];

/** The tiny embedded model with three decoder layers (the tiny config has one). */
function threeLayers(seed = 0): EmbeddedModel {
  const tiny = tinyModel(seed);
  manualSeed(seed);
  return new EmbeddedModel({ ...TINY_MODEL_CONFIG, lm: { ...TINY_MODEL_CONFIG.lm, layers: 3 } }, tiny.tokenizer);
}

function maxDiff(a: Tensor, b: Tensor): number {
  return noGrad(() => scope(() => a.sub(b).abs().max().item()));
}

test('embedded: the last layer\'s states through the final norm and the head are answerLogits, row for row', async () => {
  const model = threeLayers();
  const batch = await model.encode(examples);
  scope(() => {
    const hidden = model.hiddenStates(batch, model.llmLayers - 1);
    assert.deepEqual(hidden.shape, [4, TINY_MODEL_CONFIG.lm.dModel], 'one row per answer token, images first');
    assert.ok(hidden.requiresGrad, 'differentiable');
    const logits = model.lm.head.forward(model.lm.lnFinal.forward(hidden));
    assert.ok(maxDiff(logits, model.answerLogits(batch)) < 1e-5);
  });
  batch.dispose();
  model.dispose();
});

test('embedded: the layers above the one read do not run (changing them changes nothing below)', async () => {
  const model = threeLayers(1);
  const batch = await model.encode(examples);
  const before = scope(() => [0, 1, 2].map((layer) => model.hiddenStates(batch, layer).toArray()));
  assert.notDeepEqual(before[0], before[1], 'each layer adds to the stream');
  noGrad(() => { for (const p of model.lm.blocks[2]!.parameters()) p.normal_(0, 1); });
  scope(() => {
    assert.deepEqual(model.hiddenStates(batch, 0).toArray(), before[0]);
    assert.deepEqual(model.hiddenStates(batch, 1).toArray(), before[1]);
    assert.notDeepEqual(model.hiddenStates(batch, 2).toArray(), before[2]);
  });
  batch.dispose();
  model.dispose();
});

test('a layer outside 0 .. llmLayers - 1 is a RangeError naming the range', async () => {
  const model = threeLayers();
  const standIn = new StandInModel(0);
  for (const m of [model, standIn] as PulseModel[]) {
    const batch = await m.encode(examples);
    const outOfRange = (e: Error) => e instanceof RangeError && /out of range.*layers 0 \.\. /.test(e.message);
    for (const layer of [-1, m.llmLayers, 0.5]) assert.throws(() => scope(() => m.hiddenStates(batch, layer)), outOfRange);
    batch.dispose();
  }
  assert.equal(standIn.llmLayers, 1);
  model.dispose();
  standIn.dispose();
});

/** Both reference forms read the weights from before the update, without a graph. */
async function checkReferences(model: PulseModel, trainAdapters: () => void, changeWeights: () => void): Promise<void> {
  const batch = await model.encode(examples);
  const layer = model.llmLayers - 1;
  const copy = model.reference(); // nothing trains yet: a frozen copy
  const before = scope(() => model.hiddenStates(batch, layer).toArray());
  trainAdapters();
  const view = model.reference(); // only adapters train: the model with its adapters off
  changeWeights();
  scope(() => {
    for (const reference of [copy, view]) {
      const hidden = reference.hiddenStates(batch, layer);
      assert.equal(hidden.requiresGrad, false, 'no graph');
      assert.deepEqual(hidden.toArray(), before);
    }
    assert.notDeepEqual(model.hiddenStates(batch, layer).toArray(), before, 'the model itself moved');
  });
  view.dispose();
  copy.dispose();
  batch.dispose();
}

const lora = { rank: 2, alpha: 4, dropout: 0, parts: parseTarget('llm'), layers: [] };

test('embedded: both reference forms give the hidden states from before the update', async () => {
  const model = threeLayers(2);
  await checkReferences(model, () => { model.attachLora(lora); model.trainableParameters(lora.parts); }, () => {
    noGrad(() => { for (const [k, t] of model.loraState()) if (k.endsWith('lora_b')) t.normal_(0, 0.5); });
  });
  model.dispose();
});

test('stand-in: head(hiddenStates) is answerLogits, and both reference forms give the states from before the update', async () => {
  const model = new StandInModel(3);
  const batch: ModelBatch = await model.encode(examples);
  scope(() => {
    const hidden = model.hiddenStates(batch, 0);
    assert.deepEqual(hidden.shape, [4, 24]);
    assert.ok(maxDiff(model.llm.head.forward(hidden), model.answerLogits(batch)) < 1e-6);
  });
  batch.dispose();
  await checkReferences(model, () => { model.attachLora(lora); model.trainableParameters(lora.parts); }, () => {
    noGrad(() => model.llm.mix.adapter!.b.normal_(0, 0.5));
  });
  model.dispose();
});

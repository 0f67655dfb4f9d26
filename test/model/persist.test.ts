import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel, loadModel } from '../../src/model/embedded/persist.ts';
import { assertSameWorld, disposeDelta } from '../../src/model/model.ts';
import { noGrad, scope } from '../../src/torch/index.ts';
import { PulseError } from '../../src/errors.ts';
import { QUESTIONS, tinyModel } from './helpers.ts';
import { EmbeddedModel } from '../../src/model/embedded/model.ts';
import { Tokenizer } from '../../src/model/embedded/tokenizer.ts';
import { TINY_MODEL_CONFIG } from '../../src/model/embedded/config.ts';

const recipe = { kind: 'base' as const, world: { seed: 0, hash: 'abc' }, scoring: 'likelihood' as const, parent: null,
  training: { seed: 0, steps: 1, recipe_hash: 'r', seconds: 0, code_version: 'test' } };

/** Summed log-probability of each option of the first question, as separate answers. */
async function optionLogProbs(model: EmbeddedModel): Promise<number[]> {
  const q = QUESTIONS[2]!;
  const batch = await model.encode(q.options.map((o) => ({ image: q.image, prompt: q.question, answer: o })));
  const out = noGrad(() => scope(() => model.answerLogProbs(batch).sum.toArray()));
  batch.dispose();
  return out;
}

test('a saved model loads back with the same weights, vocabulary and answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-model-'));
  const path = join(dir, 'base.safetensors');
  const model = tinyModel(5);
  await saveModel(path, model, recipe);
  const { model: back, manifest } = await loadModel(path);
  assert.equal(manifest.scoring, 'likelihood');
  assert.equal(back.info.defaultScoring, 'likelihood');
  assert.deepEqual(back.info.world, { seed: 0, hash: 'abc' });
  assert.deepEqual(back.tokenizer.words, model.tokenizer.words);
  assert.deepEqual(await back.predict(QUESTIONS, 'likelihood'), await model.predict(QUESTIONS, 'likelihood'));
  assert.equal(JSON.parse(readFileSync(`${path}.json`, 'utf8')).world.hash, 'abc');
  model.dispose();
  back.dispose();
});

test('a model used with another world than its own is refused with a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-model-'));
  const path = join(dir, 'base.safetensors');
  const model = tinyModel();
  await saveModel(path, model, recipe);
  const { model: back } = await loadModel(path);
  assertSameWorld(back.info, { seed: 0, hash: 'abc' });
  assert.throws(() => assertSameWorld(back.info, { seed: 1, hash: 'def' }),
    (e: unknown) => e instanceof PulseError && /trained on world seed 0 \(hash abc\), but this run uses world seed 1 \(hash def\)/.test(e.message));
  back.dispose();
  await assert.rejects(loadModel(join(dir, 'none.safetensors')), /does not exist/);
  model.dispose();
});

test('a LoRA state delta round-trips through safetensors and rebuilds the merged model exactly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-delta-'));
  const path = join(dir, 'base.safetensors');
  await saveModel(path, tinyModel(7), recipe);
  const { model } = await loadModel(path);
  const base = await optionLogProbs(model);
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['projector', 'llm'], layers: ['qkv', 'fc1'] });
  noGrad(() => { for (const [k, t] of model.loraState()) if (k.endsWith('lora_b')) t.normal_(0, 0.3); });
  const delta = model.mergeLora();
  const merged = await optionLogProbs(model);
  assert.notDeepEqual(merged, base);
  await model.saveDelta(join(dir, 'delta.safetensors'), delta);
  disposeDelta(delta);

  await model.reset();
  assert.deepEqual(await optionLogProbs(model), base, 'reset() puts back the loaded weights exactly');
  const back = await model.loadDelta(join(dir, 'delta.safetensors'));
  assert.deepEqual(back.entries.map((e) => e.kind === 'lora' && e.layer), ['projector.fc1', ...Array.from({ length: model.config.lm.layers }, (_, i) => `llm.blocks.${i}.attn.qkv`)]);
  model.applyDelta(back);
  assert.deepEqual(await optionLogProbs(model), merged, 'base + the saved delta = the merged model, bit for bit');
  disposeDelta(back);

  const other = new EmbeddedModel(TINY_MODEL_CONFIG, Tokenizer.fromTexts(['another vocabulary']));
  await other.saveDelta(join(dir, 'foreign.safetensors'), { entries: [] });
  await assert.rejects(model.loadDelta(join(dir, 'foreign.safetensors')), (e: unknown) => e instanceof PulseError && /is a state delta of another model/.test(e.message));
  await assert.rejects(model.loadDelta(path), (e: unknown) => e instanceof PulseError && /holds no pulse state delta/.test(e.message));
  other.dispose();
  model.dispose();
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel, loadModel, saveLora, loadLora } from '../../src/model/persist.ts';
import { noGrad } from '../../src/torch/index.ts';
import { PulseError } from '../../src/errors.ts';
import { QUESTIONS, tinyModel } from './helpers.ts';

const recipe = { kind: 'base' as const, world: { seed: 0, hash: 'abc' }, scoring: 'likelihood' as const, parent: null,
  training: { seed: 0, steps: 1, recipe_hash: 'r', seconds: 0, code_version: 'test' } };

test('a saved model loads back with the same weights, vocabulary and answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-model-'));
  const path = join(dir, 'base.safetensors');
  const model = tinyModel(5);
  await saveModel(path, model, recipe);
  const { model: back, manifest } = await loadModel(path, { world: { seed: 0, hash: 'abc' } });
  assert.equal(manifest.scoring, 'likelihood');
  assert.deepEqual(back.tokenizer.words, model.tokenizer.words);
  assert.deepEqual(back.predict(QUESTIONS, 'likelihood'), model.predict(QUESTIONS, 'likelihood'));
  assert.equal(JSON.parse(readFileSync(`${path}.json`, 'utf8')).world.hash, 'abc');
  model.dispose();
  back.dispose();
});

test('loading a model trained on another world is a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-model-'));
  const path = join(dir, 'base.safetensors');
  const model = tinyModel();
  await saveModel(path, model, recipe);
  await assert.rejects(loadModel(path, { world: { seed: 1, hash: 'def' } }),
    (e: unknown) => e instanceof PulseError && /trained on world seed 0 \(hash abc\), but this run uses world seed 1 \(hash def\)/.test(e.message));
  await assert.rejects(loadModel(join(dir, 'none.safetensors')), /does not exist/);
  model.dispose();
});

test('LoRA adapters round-trip through safetensors and give the same outputs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-lora-'));
  const model = tinyModel(7);
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['projector', 'llm'], layers: ['qkv', 'fc1'] });
  noGrad(() => { for (const [k, t] of model.loraState()) if (k.endsWith('lora_b')) t.normal_(0, 0.3); });
  const adapted = model.predict(QUESTIONS, 'likelihood');
  const logProbs = model.optionLogProbsUnpacked(QUESTIONS[0]!);
  await saveLora(join(dir, 'adapter.safetensors'), model);
  model.detachLora();
  const fresh = tinyModel(7);
  await loadLora(join(dir, 'adapter.safetensors'), fresh);
  assert.equal(fresh.loraState().size, model.config.lm.layers * 2 + 2);
  assert.deepEqual(fresh.predict(QUESTIONS, 'likelihood'), adapted);
  fresh.optionLogProbsUnpacked(QUESTIONS[0]!).forEach((v, i) => assert.ok(Math.abs(v - logProbs[i]!) < 1e-5));
  await assert.rejects(saveLora(join(dir, 'none.safetensors'), model), /no LoRA adapter to save/);
  model.dispose();
  fresh.dispose();
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel, loadModel } from '../../src/model/persist.ts';
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

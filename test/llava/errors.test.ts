import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PulseError } from '../../src/errors.ts';
import { FIXTURES, tinyLlava } from './helpers.ts';
import { loadModel } from '../../src/model/registry.ts';

/** A copy of the tiny model's folder, changed by `edit`. */
function brokenCopy(edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-llava-'));
  cpSync(join(FIXTURES, 'tiny-hub'), dir, { recursive: true });
  edit(dir);
  return dir;
}

function editJson(path: string, change: (json: Record<string, any>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  change(json);
  writeFileSync(path, JSON.stringify(json));
}

async function refused(edit: (dir: string) => void, message: RegExp): Promise<void> {
  const dir = brokenCopy(edit);
  try {
    await assert.rejects(tinyLlava('', { path: dir }), (e: unknown) => e instanceof PulseError && message.test(e.message) && !e.message.includes('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a missing shard is named', () => refused((d) => rmSync(join(d, 'model-00002-of-00002.safetensors')),
  /model-00002-of-00002\.safetensors: shard missing \(model\.safetensors\.index\.json lists it/));

test('a tensor the model needs but the checkpoint lacks is named, in the file\'s own layout', () => refused(
  (d) => editJson(join(d, 'model.safetensors.index.json'), (j) => { delete j.weight_map['language_model.model.layers.1.mlp.up_proj.weight']; }),
  /the checkpoint has no tensor language_model\.layers\.1\.mlp\.up_proj\.weight \(looked for language_model\.model\.layers\.1\.mlp\.up_proj\.weight\)/));

test('an index that places a tensor in the wrong shard is named', () => refused(
  (d) => editJson(join(d, 'model.safetensors.index.json'), (j) => { j.weight_map['language_model.lm_head.weight'] = 'model-00002-of-00002.safetensors'; }),
  /model-00002-of-00002\.safetensors: tensor language_model\.lm_head\.weight, which the index places in this file, is not in it/));

test('a tensor of the wrong shape is named with both shapes', () => refused(
  (d) => editJson(join(d, 'config.json'), (j) => { j.text_config.intermediate_size = 130; }),
  /tensor language_model\.model\.layers\.0\.mlp\.(down|gate|up)_proj\.weight has shape \[\d+, \d+\], but config\.json implies \[\d+, \d+\]/));

test('a tokenizer with more tokens than the embedding has rows is refused', () => refused(
  (d) => editJson(join(d, 'config.json'), (j) => { j.text_config.vocab_size = 401; }),
  /the tokenizer has 402 tokens but the embedding has 401 rows/));

test('a truncated shard is refused with its path', () => refused(
  (d) => { const p = join(d, 'model-00001-of-00002.safetensors'); writeFileSync(p, readFileSync(p).subarray(0, 5000)); },
  /model-00001-of-00002\.safetensors: not a valid safetensors file: .*truncated/));

test('config errors name the field; a folder without config.json says what is expected', async () => {
  await refused((d) => editJson(join(d, 'config.json'), (j) => { j.vision_feature_layer = 7; }), /vision_feature_layer: 7 is outside the vision tower's 4 hidden states/);
  await refused((d) => rmSync(join(d, 'config.json')), /config\.json: no such file \(is this a Hugging Face model folder\?\)/);
  await refused((d) => editJson(join(d, 'preprocessor_config.json'), (j) => { j.crop_size = { height: 32, width: 32 }; }), /crop_size must be 28x28/);
});

test('device: cuda on a libtorch without CUDA is one clear line; so is an unknown dtype', async () => {
  await assert.rejects(loadModel({ kind: 'llava', path: join(FIXTURES, 'tiny-hub'), device: 'cuda' }), /model\.device: cuda asked for, but this libtorch has no CUDA/);
  await assert.rejects(loadModel({ kind: 'llava', path: join(FIXTURES, 'tiny-hub'), dtype: 'int8' }), /model\.dtype: /);
  await assert.rejects(loadModel({ kind: 'llava', path: 'no/such/folder' }), /model\.path: no\/such\/folder is not a folder/);
});

test('running out of memory is one line naming the settings that lower it, and saying the run can continue', async () => {
  const { outOfMemory } = await import('../../src/model/memory.ts');
  const cuda = outOfMemory(new Error('libtorch: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.1 GiB total capacity)'),
    { device: 'cuda', microBatch: 4, checkpointing: false });
  assert.ok(cuda instanceof PulseError);
  assert.match(cuda.message, /^out of GPU memory \(cuda\): libtorch: CUDA out of memory\. Tried to allocate 2\.00 GiB .*; lower model\.micro_batch \(now 4\), or model\.gradient_checkpointing: true, or eval\.batch_size; finished requests are saved/);
  const cpu = outOfMemory(new Error("libtorch: [enforce fail at alloc_cpu.cpp:83] DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 bytes"),
    { device: 'cpu', microBatch: 1, checkpointing: true });
  assert.match(cpu!.message, /^out of memory: .*; lower eval\.batch_size;/);
  assert.equal(outOfMemory(new Error('libtorch: shape mismatch'), { device: 'cpu', microBatch: 1, checkpointing: false }), null);
});

test('LoRA dropout with gradient checkpointing is refused: the recomputation would draw other masks', async () => {
  const model = await tinyLlava('tiny-hub', { checkpointing: true });
  assert.throws(() => model.attachLora({ rank: 2, alpha: 4, dropout: 0.1, parts: ['llm'], layers: [] }), /lora\.dropout 0\.1 with model\.gradient_checkpointing/);
  model.dispose();
});

test('LoRA layer names the model does not have are one line listing the names it has', async () => {
  const model = await tinyLlava('tiny-hub');
  assert.throws(() => model.attachLora({ rank: 2, alpha: 4, dropout: 0, parts: ['llm'], layers: ['qkv'] }),
    (e: unknown) => e instanceof PulseError && /^lora\.layers \[qkv\] names no linear layer of llm \(its layers: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head\)$/.test(e.message));
  model.dispose();
});

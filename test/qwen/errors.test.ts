import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PulseError } from '../../src/errors.ts';
import { loadModel, parseModelSpec, specForPath } from '../../src/model/registry.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadSafetensors, saveSafetensors } from '../../src/torch/safetensors.ts';
import { noGrad, scope } from '../../src/torch/index.ts';
import { FIXTURES, caseInputs, expected, tinyQwen } from './helpers.ts';

/** Each bad Qwen folder or model section is one `pulse:` line (a PulseError without a newline) naming what is wrong. */
const HUB = join(FIXTURES, 'qwen2.5-vl-hub');

function brokenCopy(edit: (dir: string) => void | Promise<void>, from = HUB): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-qwen-'));
  cpSync(from, dir, { recursive: true });
  return Promise.resolve(edit(dir)).then(() => dir);
}

function editJson(path: string, change: (json: Record<string, any>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  change(json);
  writeFileSync(path, JSON.stringify(json));
}

const oneLine = (message: RegExp) => (e: unknown) => e instanceof PulseError && message.test(e.message) && !e.message.includes('\n');

async function refused(edit: (dir: string) => void | Promise<void>, message: RegExp, from = HUB): Promise<void> {
  const dir = await brokenCopy(edit, from);
  try {
    await assert.rejects(loadModel({ kind: from.includes('qwen2-vl') ? 'qwen2_vl' : 'qwen2_5_vl', path: dir }), oneLine(message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an unknown model_type is one line listing the model types pulse runs', async () => {
  const dir = await brokenCopy((d) => editJson(join(d, 'config.json'), (j) => { j.model_type = 'qwen3_vl'; }));
  try {
    assert.throws(() => parseModelSpec({ path: dir }), oneLine(/config\.json: model_type "qwen3_vl" is not a model pulse runs \(model types: llava, qwen2_vl, qwen2_5_vl\)/));
    assert.throws(() => specForPath(dir), oneLine(/model_type "qwen3_vl" is not a model pulse runs/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the folder decides the kind; a kind that contradicts it is one line', () => {
  assert.equal(parseModelSpec({ path: HUB }).kind, 'qwen2_5_vl');
  assert.equal(specForPath(join(FIXTURES, 'qwen2-vl-hub')).kind, 'qwen2_vl');
  assert.equal(specForPath('test/fixtures/llava/tiny-hub').kind, 'llava');
  assert.throws(() => parseModelSpec({ kind: 'llava', path: HUB }), oneLine(/^model\.kind: "llava", but .*config\.json says model_type qwen2_5_vl \(kind qwen2_5_vl\)/));
  assert.throws(() => parseModelSpec({ kind: 'qwen2_vl', path: HUB }), oneLine(/^model\.kind: "qwen2_vl", but .*says model_type qwen2_5_vl/));
  assert.throws(() => resolveConfig({ preset: 'quick', overrides: { model: { kind: 'embedded', path: HUB } } }), oneLine(/model\.kind: "embedded", but/));
  // a config layer with a path and no kind replaces the preset's embedded model
  const config = resolveConfig({ preset: 'quick', overrides: { model: { path: HUB, dtype: 'bfloat16' } } });
  assert.deepEqual([config.model.kind, config.model.dtype], ['qwen2_5_vl', 'bfloat16']);
});

test('a missing or video-only processor config is one line', async () => {
  await refused((d) => rmSync(join(d, 'preprocessor_config.json')), /preprocessor_config\.json: missing: the folder has no image processor config/);
  await refused((d) => {
    rmSync(join(d, 'preprocessor_config.json'));
    writeFileSync(join(d, 'video_preprocessor_config.json'), JSON.stringify({ video_processor_type: 'Qwen2VLVideoProcessor' }));
  }, /only a video processor's config/);
});

test('a folder without a chat template, or one whose template renders no image placeholder, is one line', async () => {
  await refused((d) => rmSync(join(d, 'chat_template.json')), /no chat template/);
  await refused((d) => editJson(join(d, 'chat_template.json'), (j) => {
    j.chat_template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
  }), /chat_template\.json: the chat template renders no <\|image_pad\|> for an image message/);
});

test('image tokens that would not match the features are refused at load (processor and tower disagree) and in a forward pass', async () => {
  await refused((d) => editJson(join(d, 'preprocessor_config.json'), (j) => { j.merge_size = 4; }),
    /the image processor's merge_size is 4 but the vision tower's \(config\.json vision_config\) is 2/);
  const model = await tinyQwen('qwen2.5-vl-hub');
  const e = await expected('qwen2.5-vl');
  const inputs = caseInputs(e, 'image', model.tokenizer.special.imagePad);
  assert.throws(() => noGrad(() => scope(() => model.hidden({ ...inputs, imageSlots: inputs.imageSlots.slice(1) }))),
    oneLine(/the prompts hold 11 image tokens but the images give 12 features/));
  model.dispose();
});

test('shapes that disagree with the config name the field or the tensor', async () => {
  await refused((d) => editJson(join(d, 'config.json'), (j) => { j.rope_scaling.mrope_section = [2, 2, 3]; }),
    /config\.json: mrope_section: \[2, 2, 3\] sums to 7, but the head width 12 has 6 rotary frequencies/);
  await refused((d) => editJson(join(d, 'config.json'), (j) => { j.vision_config.out_hidden_size = 40; }),
    /vision_config\.out_hidden_size: 40, but the language model's hidden_size is 48/);
  await refused((d) => editJson(join(d, 'config.json'), (j) => { j.intermediate_size = 100; }),
    /tensor model\.layers\.0\.mlp\.(down|gate|up)_proj\.weight has shape \[\d+, \d+\], but config\.json implies \[\d+, \d+\]/);
  await refused((d) => editJson(join(d, 'config.json'), (j) => { j.vision_config.window_size = 4; }), /vision_config\.window_size: 4 is less than one merged patch \(8 pixels\)/);
  await refused((d) => editJson(join(d, 'config.json'), (j) => { j.use_sliding_window = true; }), /use_sliding_window: sliding-window attention is not supported/);
});

test('a missing shard or tensor is named in the file\'s own layout (Hub and transformers 5)', async () => {
  await refused((d) => rmSync(join(d, 'model-00002-of-00002.safetensors')), /model-00002-of-00002\.safetensors: shard missing/);
  await refused((d) => editJson(join(d, 'model.safetensors.index.json'), (j) => { delete j.weight_map['model.layers.1.mlp.up_proj.weight']; }),
    /the checkpoint has no tensor language_model\.layers\.1\.mlp\.up_proj\.weight \(looked for model\.layers\.1\.mlp\.up_proj\.weight\)/);
  await refused((d) => editJson(join(d, 'model.safetensors.index.json'), (j) => { delete j.weight_map['visual.merger.ln_q.weight']; }),
    /the checkpoint has no tensor visual\.merger\.ln_q\.weight \(looked for visual\.merger\.ln_q\.weight\)/);
  await refused(async (d) => {
    const file = join(d, 'model.safetensors');
    const { tensors } = await loadSafetensors(file);
    tensors.delete('model.visual.blocks.1.attn.qkv.bias');
    await saveSafetensors(file, tensors, { format: 'pt' });
  }, /the checkpoint has no tensor visual\.blocks\.1\.attn\.qkv\.bias \(looked for model\.visual\.blocks\.1\.attn\.qkv\.bias\)/, join(FIXTURES, 'qwen2.5-vl-new'));
  await refused((d) => editJson(join(d, 'model.safetensors.index.json'), (j) => { delete j.weight_map['lm_head.weight']; }),
    /the checkpoint has no tensor lm_head\.weight \(looked for lm_head\.weight\)/, join(FIXTURES, 'qwen2-vl-hub'));
});

test('a prompt past max_position_embeddings is one line naming the limit and the config that sets it', async () => {
  const dir = await brokenCopy((d) => editJson(join(d, 'config.json'), (j) => { j.max_position_embeddings = 64; }));
  try {
    const model = await tinyQwen('', { path: dir });
    const long = 'word '.repeat(80);
    await assert.rejects(model.generate([{ prompt: long, answer: '' }], 2),
      oneLine(/^a prompt of \d+ tokens does not fit Qwen2.5-VL, which takes 64 \(max_position_embeddings in pulse-qwen-\w+\/config.json\)/));
    assert.equal((await model.generate([{ prompt: 'Who?', answer: '' }], 2)).length, 1, 'a short prompt still runs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

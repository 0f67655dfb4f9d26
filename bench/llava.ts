/**
 * npm run bench:llava [-- --rounds 3 --steps 3 --warmup 1 --threads N --batch 2 --text 64]
 *   One LoRA training step (forward, backward, AdamW on the adapters) of a LLaVA-shaped model with
 *   random weights (CLIP 12 x 512 at 224 px, Llama 8 x 1024, vocabulary 32064; rank 16 on the seven
 *   Llama projections) in three implementations that start from the same weights and batch (one
 *   safetensors folder, one inputs file): pulse; the same model in plain PyTorch on the same
 *   libtorch (Debian's python3-torch, bench/llava_reference.py --impl torch); and Hugging Face
 *   transformers + PEFT (--impl hf, in the venv of --python-hf: torch 2.13, the stack researchers
 *   use). Each runs in its own process; the three alternate, in a rotating order, for --rounds
 *   rounds; the medians are reported: tokens/s, the time ratios (targets: pulse / PyTorch <= 1.1,
 *   pulse / HF+PEFT <= 1.0) and peak RSS. Their losses must agree at every step (the same work).
 * npm run bench:llava -- --device cuda --size 7b|13b [--batch 4 --text 74 --checkpointing]
 *   pulse alone at full size with random bfloat16 weights (no download): step time, tokens/s and
 *   the GPU's peak memory in use (nvidia-smi, sampled every 100 ms).
 */
import { parseArgs } from 'node:util';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultThreads, manualSeed, noGrad, randint, randn, cat, full, type Tensor } from '../src/torch/index.ts';
import { saveSafetensors } from '../src/torch/safetensors.ts';
import { parseLlavaSpec, randomLlava } from '../src/model/llava/index.ts';
import { f1, median, runRounds, runSide, runSideOnGpu, summarise, type Side, type SideResult } from './sides.ts';
import { setLoraInits } from './lora-step.ts';

const { values: o } = parseArgs({ options: {
  size: { type: 'string', default: 'small' }, device: { type: 'string', default: 'cpu' },
  rounds: { type: 'string', default: '3' }, steps: { type: 'string', default: '3' }, warmup: { type: 'string', default: '1' },
  threads: { type: 'string', default: String(defaultThreads()) }, batch: { type: 'string' }, text: { type: 'string' },
  checkpointing: { type: 'boolean', default: false }, out: { type: 'string', default: 'bench/out/llava' },
  'python-torch': { type: 'string', default: '/usr/bin/python3' }, 'python-hf': { type: 'string', default: process.env.PULSE_HF_PYTHON ?? '.venv-parity/bin/python' },
} });

interface Shape { vision: [hidden: number, intermediate: number, layers: number, heads: number, image: number]; text: [hidden: number, intermediate: number, layers: number, heads: number] }
const SHAPES: Record<string, Shape> = {
  small: { vision: [512, 2048, 12, 8, 224], text: [1024, 2816, 8, 8] },
  '7b': { vision: [1024, 4096, 24, 16, 336], text: [4096, 11008, 32, 32] },
  '13b': { vision: [1024, 4096, 24, 16, 336], text: [5120, 13824, 40, 40] },
};
const shape = SHAPES[o.size];
if (!shape) throw new Error(`--size: one of ${Object.keys(SHAPES).join(', ')}`);
const here = fileURLToPath(new URL('.', import.meta.url));
const TINY = resolve(here, '../test/fixtures/llava/tiny-hub');

/** A llava-hf style folder of this shape: config, preprocessor and the tiny fixture's tokenizer (402 tokens, <image> = 400). */
function writeFolder(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const [vh, vi, vl, vheads, image] = shape!.vision;
  const [th, ti, tl, theads] = shape!.text;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlavaForConditionalGeneration'], model_type: 'llava', image_token_index: 400, pad_token_id: 401,
    projector_hidden_act: 'gelu', vision_feature_layer: -2, vision_feature_select_strategy: 'default', tie_word_embeddings: false,
    text_config: { model_type: 'llama', hidden_size: th, intermediate_size: ti, num_hidden_layers: tl, num_attention_heads: theads,
      rms_norm_eps: 1e-5, vocab_size: 32064, max_position_embeddings: 4096 },
    vision_config: { model_type: 'clip_vision_model', hidden_size: vh, intermediate_size: vi, num_hidden_layers: vl, num_attention_heads: vheads,
      image_size: image, patch_size: 14, projection_dim: 768 },
  }, null, 2));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({
    image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: image }, crop_size: { height: image, width: image }, resample: 3,
  }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'processor_config.json']) copyFileSync(join(TINY, f), join(dir, f));
}

/** pulse's names back to the Hub's (what llava-hf's files say). */
const hubName = (name: string) => (name === 'lm_head.weight' ? 'language_model.lm_head.weight' : name.replace(/^language_model\./, 'language_model.model.'));

async function writeWeightsAndInputs(dir: string, inputsPath: string, batch: number, text: number): Promise<void> {
  manualSeed(0);
  const model = randomLlava(parseLlavaSpec({ kind: 'llava', path: dir }));
  await saveSafetensors(join(dir, 'model.safetensors'), new Map([...model.stateDict()].map(([k, v]) => [hubName(k), v])), { format: 'pt' });
  const { imageTokens, vision, text: lm } = model.config;
  const tensors = new Map<string, Tensor>();
  noGrad(() => {
    const t = 1 + imageTokens + text;
    const ids = cat([full([batch, 1], 1, 'int64'), full([batch, imageTokens], 400, 'int64'), randint(3, 400, [batch, text])], 1);
    tensors.set('input_ids', ids);
    tensors.set('attention_mask', full([batch, t], 1, 'int64'));
    tensors.set('labels', cat([full([batch, t - 16], -100, 'int64'), ids.narrow(1, t - 16, 16)], 1));
    tensors.set('pixel_values', randn([batch, 3, vision.imageSize, vision.imageSize]));
    setLoraInits(tensors, lm);
  });
  await saveSafetensors(inputsPath, tensors, { rank: '16', alpha: '32', lr: '0.0001' });
  model.dispose();
}

async function compareOnCpu(): Promise<void> {
  const batch = Number(o.batch ?? 2);
  const text = Number(o.text ?? 64);
  const dir = resolve(o.out, `model-${o.size}`);
  const inputs = resolve(o.out, `inputs-${o.size}-b${batch}-t${text}.safetensors`);
  if (!existsSync(join(dir, 'model.safetensors')) || !existsSync(inputs)) {
    console.log(`[bench] writing random weights and a batch to ${o.out}`);
    writeFolder(dir);
    await writeWeightsAndInputs(dir, inputs, batch, text);
  }
  const common = ['--model', dir, '--inputs', inputs, '--steps', o.steps, '--warmup', o.warmup, '--threads', o.threads];
  const reference = resolve(here, 'llava_reference.py');
  const sides: Side[] = [
    { name: 'pulse', run: () => runSide(process.execPath, ['--import', 'tsx', resolve(here, 'llava-step.ts'), ...common]) },
    { name: 'pytorch', run: () => runSide(o['python-torch'], [reference, '--impl', 'torch', ...common]) },
  ];
  if (existsSync(o['python-hf'])) sides.push({ name: 'hf+peft', run: () => runSide(o['python-hf'], [reference, '--impl', 'hf', ...common]) });
  else console.log(`[bench] no ${o['python-hf']}: HF+PEFT skipped (README: python3 -m venv .venv-parity && .venv-parity/bin/pip install torch transformers peft ...)`);
  const results = runRounds(sides, Number(o.rounds));
  report(results);
}

function report(results: Map<string, SideResult[]>): void {
  const summary = summarise(results);
  console.log(`\n[bench] LLaVA ${o.size}: ${results.get('pulse')![0]!.tokens_per_step} tokens a step, ${o.threads} threads, medians of ${o.rounds} rounds`);
  for (const s of summary) console.log(`${s.name.padEnd(8)} ${f1(s.ms).padStart(9)} ms/step  ${f1(s.tokensPerS).padStart(8)} tokens/s  peak RSS ${f1(s.rss)} MiB`);
  const pulse = summary.find((s) => s.name === 'pulse')!;
  let agree = true;
  for (const s of summary.filter((x) => x !== pulse)) {
    const diff = Math.max(...pulse.losses.map((l, i) => Math.abs(l - s.losses[i]!)));
    agree &&= diff <= 1e-3;
    const target = s.name === 'pytorch' ? 1.1 : 1.0;
    const ratio = pulse.ms / s.ms;
    console.log(`pulse / ${s.name}: ${ratio.toFixed(2)} (target <= ${target}: ${ratio <= target ? 'met' : 'NOT met'}); losses agree to ${diff.toExponential(1)}`);
  }
  if (!agree) {
    console.error('[bench] the implementations\' losses differ by more than 1e-3: they are not doing the same work');
    process.exitCode = 1;
  }
}

/** pulse alone at full size on a GPU, with the device's memory in use sampled while it runs. */
async function fullSizeOnGpu(): Promise<void> {
  const dir = resolve(o.out, `config-${o.size}`);
  writeFolder(dir);
  const args = ['--import', 'tsx', resolve(here, 'llava-step.ts'), '--model', dir, '--random', '--device', o.device, '--dtype', 'bfloat16',
    '--batch', o.batch ?? '4', '--text', o.text ?? '74', '--steps', o.steps, '--warmup', o.warmup, '--threads', o.threads,
    ...(o.checkpointing ? ['--checkpointing'] : [])];
  const { result: r, peak, before } = await runSideOnGpu('pulse', process.execPath, args);
  const ms = median(r.step_ms);
  console.log(`[bench] LLaVA-1.5 ${o.size} shapes, random bfloat16 weights, ${o.device} (${String(r.gpu)}), batch ${o.batch ?? 4} x ${r.tokens_per_step / Number(o.batch ?? 4)} tokens, LoRA r16 on the seven projections${o.checkpointing ? ', gradient checkpointing' : ''}`);
  console.log(`pulse: ${f1(ms)} ms/step (median of ${r.step_ms.length}), ${f1((r.tokens_per_step / ms) * 1000)} tokens/s, peak GPU memory in use ${peak} MiB (${before} MiB before), losses ${r.losses.map((l) => l.toFixed(4)).join(' ')}`);
}

if (o.device === 'cpu') await compareOnCpu();
else await fullSizeOnGpu();

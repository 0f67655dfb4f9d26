/**
 * npm run bench:qwen [-- --rounds 3 --steps 3 --warmup 1 --threads N --batch 2 --text 64 --image 224 --size small|tiny]
 *   One LoRA training step (forward, backward, AdamW on the adapters) of a Qwen2.5-VL-shaped model with random
 *   weights (small: vision 8 x 512 with window attention, LM 8 x 1024 with GQA, vocabulary 32,064; rank 16 on the
 *   seven projections of the language model) in pulse and in Hugging Face transformers + PEFT (bench/qwen_reference.py,
 *   in the venv of --python-hf), from the same weights and batch (one safetensors folder in the Hub's layout, one
 *   inputs file). Each runs in its own process; the two alternate, in a rotating order, for --rounds rounds; the
 *   medians are reported: tokens/s, the time ratio (target pulse / HF+PEFT <= 1.0) and peak RSS. Their losses must
 *   agree at every step (the same work).
 * npm run bench:qwen -- --device cuda --size 7b|3b [--family qwen2-vl] [--batch 4 --text 64 --image 448 --checkpointing]
 *   Full size with random bfloat16 weights (no download, none written), pulse and transformers + PEFT on the same GPU
 *   one after the other: step time, tokens/s and the GPU's peak memory in use (nvidia-smi, sampled every 100 ms).
 */
import { parseArgs } from 'node:util';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultThreads, manualSeed, noGrad, randint, randn, cat, full, tensor, type Tensor } from '../src/torch/index.ts';
import { saveSafetensors } from '../src/torch/safetensors.ts';
import { parseQwenSpec, randomQwenVl } from '../src/model/qwen2-vl/index.ts';
import { f1, median, runRounds, runSide, runSideOnGpu, summarise, type Side } from './sides.ts';
import { setLoraInits } from './lora-step.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const VENV_HF = '/work/venv-ref/bin/python';
const { values: o } = parseArgs({ options: {
  size: { type: 'string', default: 'small' }, family: { type: 'string', default: 'qwen2.5-vl' }, device: { type: 'string', default: 'cpu' },
  rounds: { type: 'string', default: '3' }, steps: { type: 'string', default: '3' }, warmup: { type: 'string', default: '1' },
  threads: { type: 'string', default: String(defaultThreads()) }, batch: { type: 'string' }, text: { type: 'string' }, image: { type: 'string' },
  checkpointing: { type: 'boolean', default: false }, out: { type: 'string', default: 'bench/out/qwen' },
  'python-hf': { type: 'string', default: process.env.PULSE_HF_PYTHON ?? (existsSync(VENV_HF) ? VENV_HF : '.venv-parity/bin/python') },
} });

interface Shape {
  /** hidden, intermediate, depth, heads, full-attention blocks */
  vision: [number, number, number, number, number[]];
  /** hidden, intermediate, layers, heads, key/value heads, vocabulary, tied */
  text: [number, number, number, number, number, number, boolean];
}
const SHAPES: Record<string, Shape> = {
  tiny: { vision: [64, 128, 2, 4, [1]], text: [64, 128, 2, 4, 2, 448, false] },
  small: { vision: [512, 1376, 8, 8, [3, 7]], text: [1024, 2816, 8, 8, 2, 32064, false] },
  '3b': { vision: [1280, 3420, 32, 16, [7, 15, 23, 31]], text: [2048, 11008, 36, 16, 2, 151936, true] },
  '7b': { vision: [1280, 3420, 32, 16, [7, 15, 23, 31]], text: [3584, 18944, 28, 28, 4, 152064, false] },
};
const shape = SHAPES[o.size];
if (!shape) throw new Error(`--size: one of ${Object.keys(SHAPES).join(', ')}`);
if (!['qwen2.5-vl', 'qwen2-vl'].includes(o.family)) throw new Error('--family: qwen2.5-vl or qwen2-vl');
const TINY = resolve(here, '../test/fixtures/qwen/qwen2.5-vl-hub');
// the tiny fixture's tokenizer (400 pieces, then the Qwen2-VL special tokens)
const TOKENS = { endOfText: 400, imEnd: 402, visionStart: 409, visionEnd: 410, imagePad: 412, videoPad: 413 };

/** A Hub-layout folder of this shape: config, preprocessor (patch 14, merge 2) and the tiny fixture's tokenizer and template. */
function writeFolder(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const [vh, vi, depth, vheads, full] = shape!.vision;
  const [th, ti, layers, heads, kv, vocab, tied] = shape!.text;
  const half = th / heads / 2;
  const section = [half - 2 * Math.floor((3 * half) / 8), Math.floor((3 * half) / 8), Math.floor((3 * half) / 8)]; // [16, 24, 24] for 64
  const qwen25 = o.family === 'qwen2.5-vl';
  const vision = qwen25
    ? { depth, hidden_size: vh, intermediate_size: vi, num_heads: vheads, out_hidden_size: th, patch_size: 14, spatial_merge_size: 2,
      temporal_patch_size: 2, window_size: 112, fullatt_block_indexes: full, hidden_act: 'silu' }
    : { depth, embed_dim: vh, mlp_ratio: 4, num_heads: vheads, hidden_size: th, patch_size: 14, spatial_merge_size: 2, temporal_patch_size: 2 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: [qwen25 ? 'Qwen2_5_VLForConditionalGeneration' : 'Qwen2VLForConditionalGeneration'], model_type: qwen25 ? 'qwen2_5_vl' : 'qwen2_vl',
    hidden_size: th, intermediate_size: ti, num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kv, vocab_size: vocab,
    rms_norm_eps: 1e-6, rope_theta: 1000000, rope_scaling: { type: 'mrope', mrope_section: section }, tie_word_embeddings: tied, hidden_act: 'silu',
    max_position_embeddings: 128000, use_sliding_window: false, bos_token_id: TOKENS.endOfText, eos_token_id: TOKENS.imEnd,
    image_token_id: TOKENS.imagePad, video_token_id: TOKENS.videoPad, vision_start_token_id: TOKENS.visionStart, vision_end_token_id: TOKENS.visionEnd,
    vision_config: vision,
  }, null, 2));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({
    image_processor_type: 'Qwen2VLImageProcessor', min_pixels: 3136, max_pixels: 12845056, patch_size: 14, temporal_patch_size: 2, merge_size: 2,
    image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711],
  }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'chat_template.json']) copyFileSync(join(TINY, f), join(dir, f));
}

const hubName = (name: string) => name.replace(/^language_model\./, 'model.');

async function writeWeightsAndInputs(dir: string, inputsPath: string, batch: number, text: number, image: number): Promise<void> {
  manualSeed(0);
  const model = randomQwenVl(parseQwenSpec({ kind: o.family === 'qwen2.5-vl' ? 'qwen2_5_vl' : 'qwen2_vl', path: dir }));
  await saveSafetensors(join(dir, 'model.safetensors'), new Map([...model.stateDict()].map(([k, v]) => [hubName(k), v])), { format: 'pt' });
  const { text: lm } = model.config;
  const side = image / 14;
  const tokens = (side * side) / 4;
  const tensors = new Map<string, Tensor>();
  noGrad(() => {
    const ids = cat([full([batch, 1], TOKENS.visionStart, 'int64'), full([batch, tokens], TOKENS.imagePad, 'int64'), full([batch, 1], TOKENS.visionEnd, 'int64'),
      randint(3, 400, [batch, text])], 1);
    const t = tokens + 2 + text;
    tensors.set('input_ids', ids);
    tensors.set('attention_mask', full([batch, t], 1, 'int64'));
    tensors.set('mm_token_type_ids', ids.eq(TOKENS.imagePad).long());
    tensors.set('labels', cat([full([batch, t - 16], -100, 'int64'), ids.narrow(1, t - 16, 16)], 1));
    tensors.set('pixel_values', randn([batch * side * side, model.visual.patchDim]));
    tensors.set('image_grid_thw', tensor(Array.from({ length: batch }, () => [1, side, side]).flat(), [batch, 3], 'int64'));
    setLoraInits(tensors, lm);
  });
  await saveSafetensors(inputsPath, tensors, { rank: '16', alpha: '32', lr: '0.0001' });
  model.dispose();
}

async function compareOnCpu(): Promise<void> {
  const [batch, text, image] = [Number(o.batch ?? 2), Number(o.text ?? 64), Number(o.image ?? 224)];
  const dir = resolve(o.out, `model-${o.family}-${o.size}`);
  const inputs = resolve(o.out, `inputs-${o.family}-${o.size}-b${batch}-t${text}-i${image}.safetensors`);
  if (!existsSync(join(dir, 'model.safetensors')) || !existsSync(inputs)) {
    console.log(`[bench] writing random weights and a batch to ${o.out}`);
    writeFolder(dir);
    await writeWeightsAndInputs(dir, inputs, batch, text, image);
  }
  const common = ['--model', dir, '--inputs', inputs, '--steps', o.steps, '--warmup', o.warmup, '--threads', o.threads];
  const sides: Side[] = [
    { name: 'pulse', run: () => runSide(process.execPath, ['--import', 'tsx', resolve(here, 'qwen-step.ts'), ...common]) },
  ];
  if (existsSync(o['python-hf'])) sides.push({ name: 'hf+peft', run: () => runSide(o['python-hf'], [resolve(here, 'qwen_reference.py'), ...common]) });
  else console.log(`[bench] no ${o['python-hf']}: HF+PEFT skipped (a venv with torch, transformers 5 and peft; --python-hf or PULSE_HF_PYTHON)`);
  const results = runRounds(sides, Number(o.rounds));
  const summary = summarise(results);
  console.log(`\n[bench] ${o.family} ${o.size}: ${results.get('pulse')![0]!.tokens_per_step} tokens a step (batch ${batch}, ${image} px images, ${text} text tokens), ${o.threads} threads, medians of ${o.rounds} rounds`);
  for (const s of summary) console.log(`${s.name.padEnd(8)} ${f1(s.ms).padStart(9)} ms/step  ${f1(s.tokensPerS).padStart(8)} tokens/s  peak RSS ${f1(s.rss)} MiB`);
  const [pulse, hf] = summary;
  if (!hf) return;
  const diff = Math.max(...pulse!.losses.map((l, i) => Math.abs(l - hf.losses[i]!)));
  const ratio = pulse!.ms / hf.ms;
  console.log(`pulse / hf+peft: ${ratio.toFixed(2)} (target <= 1.0: ${ratio <= 1 ? 'met' : 'NOT met'}); losses agree to ${diff.toExponential(1)}`);
  if (diff > 1e-3) {
    console.error('[bench] the implementations\' losses differ by more than 1e-3: they are not doing the same work');
    process.exitCode = 1;
  }
}

/** pulse and transformers + PEFT at full size on one GPU, one after the other, each from its own random bfloat16 weights. */
async function fullSizeOnGpu(): Promise<void> {
  const dir = resolve(o.out, `config-${o.family}-${o.size}`);
  writeFolder(dir);
  const [batch, text, image] = [o.batch ?? '4', o.text ?? '64', o.image ?? '448'];
  const common = ['--model', dir, '--random', '--device', o.device, '--dtype', 'bfloat16', '--batch', batch, '--text', text, '--image', image,
    '--steps', o.steps, '--warmup', o.warmup, '--threads', o.threads];
  const sides: [string, string, string[]][] = [
    ['pulse', process.execPath, ['--import', 'tsx', resolve(here, 'qwen-step.ts'), ...common, ...(o.checkpointing ? ['--checkpointing'] : [])]],
  ];
  if (existsSync(o['python-hf'])) sides.push(['hf+peft', o['python-hf'], [resolve(here, 'qwen_reference.py'), ...common]]);
  console.log(`[bench] ${o.family} ${o.size} shapes, random bfloat16 weights, ${o.device}, batch ${batch} x (${image} px image + ${text} text tokens), LoRA r16 on the seven projections`
    + `${o.checkpointing ? ', pulse with gradient checkpointing' : ''}`);
  for (const [name, command, args] of sides) {
    const { result: r, peak, before } = await runSideOnGpu(name, command, args);
    const ms = median(r.step_ms);
    console.log(`${name.padEnd(8)} ${f1(ms)} ms/step (median of ${r.step_ms.length}, ${String(r.gpu)}), ${f1((r.tokens_per_step / ms) * 1000)} tokens/s, `
      + `peak GPU memory in use ${peak} MiB (${before} MiB before)${r.peak_gpu_mib ? `, torch's peak allocated ${f1(r.peak_gpu_mib)} MiB` : ''}, losses ${r.losses.map((l) => l.toFixed(4)).join(' ')}`);
  }
}

if (o.device === 'cpu') await compareOnCpu();
else await fullSizeOnGpu();

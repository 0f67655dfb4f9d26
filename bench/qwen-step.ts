/**
 * The pulse side of `npm run bench:qwen`: LoRA training steps of a Qwen2.5-VL / Qwen2-VL, in its own
 * process (so that its peak RSS is its own). Prints one JSON line, in the format of bench/qwen_reference.py.
 *   node --import tsx bench/qwen-step.ts --model DIR --inputs FILE --steps N --warmup N --threads N
 *   node --import tsx bench/qwen-step.ts --model DIR --random --device cuda --dtype bfloat16 --batch 4 --text 64 --image 448
 * With --random the weights are random (the folder holds config, tokenizer, template and preprocessor only)
 * and the batch is made here: full-size shapes with no download.
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { AdamW, crossEntropy, keep, libtorchVersion, manualSeed, noGrad, randint, randn, scope, setNumThreads, tensor, cat, full, type Tensor } from '../src/torch/index.ts';
import { loadSafetensors } from '../src/torch/safetensors.ts';
import { loadQwenVl, parseQwenSpec, randomQwenVl } from '../src/model/qwen2-vl/index.ts';
import { modelTypeOf } from '../src/model/hf/config.ts';
import { ropePositions } from '../src/model/qwen2-vl/mrope.ts';
import type { QwenInputs } from '../src/model/qwen2-vl/qwen2-vl.ts';

const { values: o } = parseArgs({ options: {
  model: { type: 'string' }, inputs: { type: 'string' }, random: { type: 'boolean', default: false },
  steps: { type: 'string', default: '3' }, warmup: { type: 'string', default: '1' }, threads: { type: 'string', default: '2' },
  device: { type: 'string', default: 'cpu' }, dtype: { type: 'string', default: 'float32' }, checkpointing: { type: 'boolean', default: false },
  batch: { type: 'string', default: '4' }, text: { type: 'string', default: '64' }, image: { type: 'string', default: '448' },
  rank: { type: 'string', default: '16' },
} });
const LM_LAYERS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

setNumThreads(Number(o.threads));
manualSeed(0);
const spec = parseQwenSpec({
  kind: modelTypeOf(o.model!), path: o.model, device: o.device, dtype: o.dtype, gradient_checkpointing: o.checkpointing, micro_batch: Number(o.batch),
});
const model = o.random ? randomQwenVl(spec) : await loadQwenVl(spec);
const { imagePad } = model.tokenizer.special;
const merge = model.config.vision.mergeSize;

/** Positions and image slots of unpadded rows, one image a row (grids in row order). */
function inputsOf(ids: Tensor, pixels: Tensor, grids: { t: number; h: number; w: number }[]): QwenInputs {
  const [b, t] = ids.shape as [number, number];
  const rows = ids.toArray();
  const positions = new Array<number>(3 * b * t);
  const imageSlots: number[] = [];
  for (let r = 0; r < b; r++) {
    const row = rows.slice(r * t, (r + 1) * t);
    row.forEach((id, k) => { if (id === imagePad) imageSlots.push(r * t + k); });
    ropePositions(row, 0, imagePad, [grids[r]!], merge).forEach((axis, a) => axis.forEach((p, k) => { positions[(a * b + r) * t + k] = p; }));
  }
  return { ids, mask: full([b, t], 1, 'int64', o.device), positions: tensor(positions, [3, b, t], 'int64', o.device), pixels, grids, imageSlots };
}

/** The bench's batch: from the shared inputs file, or made here (random ids and patches, one image a row, the last 16 tokens labelled). */
async function batch(): Promise<{ inputs: QwenInputs; labels: Tensor; lora: Map<string, Tensor>; rank: number; alpha: number; lr: number }> {
  if (o.inputs) {
    const { tensors, metadata } = await loadSafetensors(o.inputs, { device: o.device });
    const grids = tensors.get('image_grid_thw')!.toArray();
    const lora = new Map([...tensors].filter(([k]) => k.startsWith('lora.')).map(([k, v]) => [k.slice(5, -2), v]));
    return {
      inputs: inputsOf(tensors.get('input_ids')!, tensors.get('pixel_values')!, Array.from({ length: grids.length / 3 }, (_, i) => ({ t: grids[3 * i]!, h: grids[3 * i + 1]!, w: grids[3 * i + 2]! }))),
      labels: tensors.get('labels')!, lora, rank: Number(metadata.rank), alpha: Number(metadata.alpha), lr: Number(metadata.lr),
    };
  }
  const { visionStartTokenId, visionEndTokenId, vision } = model.config;
  const [b, text, side] = [Number(o.batch), Number(o.text), Number(o.image) / vision.patchSize];
  const tokens = (side * side) / merge ** 2;
  const ids = cat([full([b, 1], visionStartTokenId, 'int64', o.device), full([b, tokens], imagePad, 'int64', o.device),
    full([b, 1], visionEndTokenId, 'int64', o.device), randint(3, 400, [b, text], o.device)], 1);
  const t = tokens + 2 + text;
  const labels = cat([full([b, t - 16], -100, 'int64', o.device), ids.narrow(1, t - 16, 16)], 1);
  const pixels = randn([b * side * side, model.visual.patchDim], o.device);
  return { inputs: inputsOf(ids, pixels, Array.from({ length: b }, () => ({ t: 1, h: side, w: side }))), labels, lora: new Map(), rank: Number(o.rank), alpha: 2 * Number(o.rank), lr: 1e-4 };
}

const data = await batch();
model.attachLora({ rank: data.rank, alpha: data.alpha, dropout: 0, parts: ['llm'], layers: LM_LAYERS });
const layers = new Map(model.loraLayers(['llm']));
noGrad(() => { for (const [name, a] of data.lora) layers.get(name)!.adapter!.a.copy_(a); });
const params = model.trainableParameters(['llm']);
const optimizer = new AdamW(params, { lr: data.lr, weightDecay: 0 });
model.setTraining(true);

/** transformers' labels loss: position t predicts labels[t + 1], mean over labelled targets (the labels shifted, not the logits). */
const shifted = keep(noGrad(() => {
  const [rows, length] = data.labels.shape as [number, number];
  return cat([data.labels.narrow(1, 1, length - 1), full([rows, 1], -100, 'int64', o.device)], 1).reshape(-1);
}));
const step = (): number => scope(() => {
  optimizer.zeroGrad();
  const logits = model.logits(model.hidden(data.inputs)).float();
  const loss = crossEntropy(logits.view(-1, logits.size(2)), shifted);
  model.backward(loss);
  optimizer.step();
  return loss.item();
});

const synchronise = () => { if (o.device.startsWith('cuda')) noGrad(() => scope(() => randn([1], o.device).to('float32', 'cpu').item())); };
const losses: number[] = [];
const stepMs: number[] = [];
for (let i = 0; i < Number(o.warmup) + Number(o.steps); i++) {
  synchronise();
  const t0 = performance.now();
  losses.push(step());
  synchronise();
  if (i >= Number(o.warmup)) stepMs.push(performance.now() - t0);
  console.error(`[pulse] step ${i + 1}${i < Number(o.warmup) ? ' (warm-up)' : ''}: loss ${losses.at(-1)!.toFixed(6)}`);
}
const [b, t] = data.inputs.ids.shape as [number, number];
let gpu: string | null = null;
try { if (o.device.startsWith('cuda')) gpu = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' }).trim(); } catch { gpu = null; }
console.log(JSON.stringify({
  impl: 'pulse', libtorch: libtorchVersion(), threads: Number(o.threads), device: o.device, dtype: o.dtype, gpu,
  checkpointing: o.checkpointing, steps: Number(o.steps), warmup: Number(o.warmup), step_ms: stepMs, losses, tokens_per_step: b * t,
  peak_rss_mib: process.resourceUsage().maxRSS / 1024, peak_gpu_mib: null, parameters: model.parameterCount(),
  trainable: params.reduce((n, p) => n + p.numel, 0),
}));

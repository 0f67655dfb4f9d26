/**
 * One side of `npm run bench:llava`: LoRA training steps of a LLaVA in pulse, in its own process
 * (so that its peak RSS is its own). Prints one JSON line, in the format of bench/llava_reference.py.
 *   node --import tsx bench/llava-step.ts --model DIR --inputs FILE --steps N --warmup N --threads N
 *   node --import tsx bench/llava-step.ts --model DIR --random --device cuda --dtype bfloat16 --batch 4 ...
 * With --random the weights are random (the folder holds config, tokenizer and preprocessor only)
 * and the inputs are made here: full-size shapes with no download.
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { AdamW, crossEntropy, keep, libtorchVersion, manualSeed, noGrad, randint, randn, scope, setNumThreads, tensor, cat, full, type Tensor } from '../src/torch/index.ts';
import { loadSafetensors } from '../src/torch/safetensors.ts';
import { loadLlava, parseLlavaSpec, randomLlava, type LlavaModel } from '../src/model/llava/index.ts';
import type { LlavaInputs } from '../src/model/llava/llava.ts';

const { values: o } = parseArgs({ options: {
  model: { type: 'string' }, inputs: { type: 'string' }, random: { type: 'boolean', default: false },
  steps: { type: 'string', default: '3' }, warmup: { type: 'string', default: '1' }, threads: { type: 'string', default: '2' },
  device: { type: 'string', default: 'cpu' }, dtype: { type: 'string', default: 'float32' }, checkpointing: { type: 'boolean', default: false },
  batch: { type: 'string', default: '4' }, text: { type: 'string', default: '74' }, rank: { type: 'string', default: '16' },
} });
const LM_LAYERS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

setNumThreads(Number(o.threads));
manualSeed(0);
const spec = parseLlavaSpec({
  kind: 'llava', path: o.model, device: o.device, dtype: o.dtype, gradient_checkpointing: o.checkpointing, micro_batch: Number(o.batch),
});
const model: LlavaModel = o.random ? randomLlava(spec) : await loadLlava(spec);

/** The bench's batch: from the shared inputs file, or made here (random ids, one image a row, the last 16 tokens labelled). */
async function batch(): Promise<{ inputs: LlavaInputs; labels: Tensor; lora: Map<string, Tensor>; rank: number; alpha: number; lr: number }> {
  if (o.inputs) {
    const { tensors, metadata } = await loadSafetensors(o.inputs, { device: o.device });
    const ids = tensors.get('input_ids')!;
    const [b, t] = ids.shape as [number, number];
    const positions = noGrad(() => tensor(Array.from({ length: b * t }, (_, i) => i % t), [b, t], 'int64', o.device));
    const lora = new Map([...tensors].filter(([k]) => k.startsWith('lora.')).map(([k, v]) => [k.slice(5, -2), v]));
    return {
      inputs: { ids, mask: tensors.get('attention_mask')!, positions, pixels: tensors.get('pixel_values')! }, labels: tensors.get('labels')!,
      lora, rank: Number(metadata.rank), alpha: Number(metadata.alpha), lr: Number(metadata.lr),
    };
  }
  const { imageTokens, imageTokenId, vision } = model.config;
  const b = Number(o.batch);
  const text = Number(o.text);
  const ids = cat([full([b, 1], imageTokenId, 'int64', o.device).expand(b, imageTokens), randint(3, 400, [b, text], o.device)], 1);
  const t = imageTokens + text;
  const labels = cat([full([b, t - 16], -100, 'int64', o.device), ids.narrow(1, t - 16, 16)], 1);
  const positions = tensor(Array.from({ length: b * t }, (_, i) => i % t), [b, t], 'int64', o.device);
  const inputs = { ids, mask: full([b, t], 1, 'int64', o.device), positions, pixels: randn([b, 3, vision.imageSize, vision.imageSize], o.device) };
  return { inputs, labels, lora: new Map(), rank: Number(o.rank), alpha: 2 * Number(o.rank), lr: 1e-4 };
}

const data = await batch();
model.attachLora({ rank: data.rank, alpha: data.alpha, dropout: 0, parts: ['llm'], layers: LM_LAYERS });
const layers = new Map(model.loraLayers(['llm']));
noGrad(() => { for (const [name, a] of data.lora) layers.get(name)!.adapter!.a.copy_(a); });
const params = model.trainableParameters(['llm']);
const optimizer = new AdamW(params, { lr: data.lr, weightDecay: 0 });
model.setTraining(true);

/**
 * transformers' labels loss: position t predicts labels[t + 1], mean over labelled targets. As in
 * transformers, the labels are shifted (the last position gets -100), not the logits: no copy.
 */
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

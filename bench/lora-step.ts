/**
 * What the pulse sides of bench:llava and bench:qwen share: the bench's options, timed LoRA training steps of a
 * network behind the model seam (zero_grad, forward, transformers' labels loss, backward, AdamW on the adapters),
 * and the one JSON line both print, in the format of the Python sides.
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { AdamW, crossEntropy, keep, libtorchVersion, noGrad, randn, scope, cat, full, zeros, type Tensor } from '../src/torch/index.ts';
import { loadSafetensors } from '../src/torch/safetensors.ts';
import type { NetworkModel } from '../src/model/adapter.ts';

export const LM_LAYERS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** The same seven projections by their module path in a Hub decoder layer, as the inputs file names their adapters. */
const LM_MODULES = LM_LAYERS.map((name) => `${['gate_proj', 'up_proj', 'down_proj'].includes(name) ? 'mlp' : 'self_attn'}.${name}`);

/**
 * The rank-16 LoRA A matrices both sides of bench:llava and bench:qwen start from, on the seven projections of every
 * language-model layer, drawn as PEFT's kaiming-uniform (U(-1/sqrt(in), 1/sqrt(in))); call inside a scope, in this
 * order, so that a seed draws the same values.
 */
export function setLoraInits(tensors: Map<string, Tensor>, lm: { layers: number; hidden: number; intermediate: number }): void {
  for (let l = 0; l < lm.layers; l++) {
    for (const name of LM_MODULES) {
      const inFeatures = name === 'mlp.down_proj' ? lm.intermediate : lm.hidden;
      const bound = 1 / Math.sqrt(inFeatures);
      tensors.set(`lora.language_model.layers.${l}.${name}.a`, keep(zeros([16, inFeatures]).uniform_(-bound, bound)));
    }
  }
}

/** The options of a step script; `extra` adds a family's own (string options with defaults). */
export interface StepOptions {
  model?: string; inputs?: string; random: boolean; steps: string; warmup: string; threads: string; device: string; dtype: string;
  checkpointing: boolean; batch: string; text: string; rank: string;
  /** a family's own options */
  [extra: string]: string | boolean | undefined;
}

export function stepOptions(extra: Record<string, string> = {}): StepOptions {
  return parseArgs({ options: {
    model: { type: 'string' }, inputs: { type: 'string' }, random: { type: 'boolean', default: false },
    steps: { type: 'string', default: '3' }, warmup: { type: 'string', default: '1' }, threads: { type: 'string', default: '2' },
    device: { type: 'string', default: 'cpu' }, dtype: { type: 'string', default: 'float32' }, checkpointing: { type: 'boolean', default: false },
    batch: { type: 'string', default: '4' }, text: { type: 'string', default: '74' }, rank: { type: 'string', default: '16' },
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, { type: 'string' as const, default: v }])),
  } }).values as unknown as StepOptions;
}

/** A step's batch beside the network's inputs: the labels and the adapters' initial A (by layer name) with their settings. */
export interface StepData { labels: Tensor; lora: Map<string, Tensor>; rank: number; alpha: number; lr: number }

/** The inputs file's tensors on `device`, with its adapters' A by layer name and their settings. */
export async function readInputs(path: string, device: string): Promise<{ tensors: Map<string, Tensor>; data: Omit<StepData, 'labels'> }> {
  const { tensors, metadata } = await loadSafetensors(path, { device });
  const lora = new Map([...tensors].filter(([k]) => k.startsWith('lora.')).map(([k, v]) => [k.slice(5, -2), v]));
  return { tensors, data: { lora, rank: Number(metadata.rank), alpha: Number(metadata.alpha), lr: Number(metadata.lr) } };
}

/** Times `steps` LoRA steps (after `warmup` untimed ones) on the seven projections of the language model; prints the JSON line. */
export function timeLoraSteps<I extends object>(
  model: NetworkModel<I, any, any>, inputs: I & { ids: Tensor }, data: StepData, o: StepOptions,
): void {
  const { device } = o;
  model.attachLora({ rank: data.rank, alpha: data.alpha, dropout: 0, parts: ['llm'], layers: LM_LAYERS });
  const layers = new Map(model.loraLayers(['llm']));
  noGrad(() => { for (const [name, a] of data.lora) layers.get(name)!.adapter!.a.copy_(a); });
  const params = model.trainableParameters(['llm']);
  const optimizer = new AdamW(params, { lr: data.lr, weightDecay: 0 });
  model.setTraining(true);
  // transformers' labels loss: position t predicts labels[t + 1], mean over labelled targets (the labels shifted, not the logits: no copy)
  const shifted = keep(noGrad(() => {
    const [rows, length] = data.labels.shape as [number, number];
    return cat([data.labels.narrow(1, 1, length - 1), full([rows, 1], -100, 'int64', device)], 1).reshape(-1);
  }));
  const step = (): number => scope(() => {
    optimizer.zeroGrad();
    const logits = model.logits(model.hidden(inputs)).float();
    const loss = crossEntropy(logits.view(-1, logits.size(2)), shifted);
    model.backward(loss);
    optimizer.step();
    return loss.item();
  });
  const synchronise = () => { if (device.startsWith('cuda')) noGrad(() => scope(() => randn([1], device).to('float32', 'cpu').item())); };
  const losses: number[] = [];
  const stepMs: number[] = [];
  for (let i = 0; i < Number(o.warmup) + Number(o.steps); i++) {
    synchronise();
    const t0 = performance.now();
    losses.push(step());
    synchronise();
    if (i >= Number(o.warmup)) stepMs.push(performance.now() - t0);
  }
  const [b, t] = inputs.ids.shape as [number, number];
  let gpu: string | null = null;
  try { if (device.startsWith('cuda')) gpu = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' }).trim(); } catch { gpu = null; }
  console.log(JSON.stringify({
    impl: 'pulse', libtorch: libtorchVersion(), threads: Number(o.threads), device, dtype: o.dtype, gpu,
    checkpointing: o.checkpointing, steps: Number(o.steps), warmup: Number(o.warmup), step_ms: stepMs, losses, tokens_per_step: b * t,
    peak_rss_mib: process.resourceUsage().maxRSS / 1024, peak_gpu_mib: null, parameters: model.parameterCount(),
    trainable: params.reduce((n, p) => n + p.numel, 0),
  }));
}

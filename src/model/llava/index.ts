import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ModelKind, ModelSpec } from '../registry.ts';
import { PulseError } from '../../errors.ts';
import { cudaAvailable } from '../../torch/index.ts';
import { readLlavaConfig } from './config.ts';
import { LlavaModel } from './model.ts';
import { Checkpointer } from './checkpointing.ts';
import { parseClipConfig } from './preprocess.ts';
import { WeightSource } from './source.ts';
import { LlavaTokenizer } from './tokenizer.ts';
import { CheckpointWeights } from './weights.ts';
import { readFolderText } from './files.ts';

const LlavaSpec = z.object({
  kind: z.literal('llava'),
  /** a Hugging Face model folder (llava-hf/llava-1.5-7b-hf or -13b-hf, or a fine-tune in that layout) */
  path: z.string().min(1),
  device: z.string().regex(/^(cpu|cuda(:\d+)?)$/, 'expected cpu, cuda or cuda:N').default('cpu'),
  /** the weights' dtype in memory; norms, softmax and adapters compute in float32 whatever it is */
  dtype: z.enum(['float32', 'bfloat16', 'float16']).default('float32'),
  /** rows per forward pass: larger batches run in pieces whose gradients accumulate */
  micro_batch: z.number().int().positive().default(4),
  /** MLLMU-Bench scores the first generated letter */
  scoring: z.enum(['letter', 'likelihood']).default('letter'),
  /** recompute each decoder layer in backward instead of keeping its activations (13B LoRA at batch 4 in 80 GB) */
  gradient_checkpointing: z.boolean().default(false),
}).strict();
export type LlavaSpec = z.infer<typeof LlavaSpec>;

/**
 * What identifies a checkpoint without reading 26 GB: the config, the tokenizer, and each
 * weights file's name, size and safetensors header (names, dtypes, shapes and offsets).
 */
function fingerprint(folder: string, weights: CheckpointWeights): string {
  const hash = createHash('sha256');
  for (const file of ['config.json', 'tokenizer.json', 'preprocessor_config.json']) hash.update(file).update(readFileSync(join(folder, file)));
  for (const [file, header] of weights.headers()) hash.update(file).update(String(statSync(join(folder, file)).size)).update(header);
  return hash.digest('hex');
}

/** Everything of a LLaVA folder but its weights, checked against each other. */
function readFolder(folder: string) {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new PulseError(`model.path: ${folder} is not a folder (a LLaVA is a Hugging Face model folder)`);
  const config = readLlavaConfig(folder);
  const tokenizer = LlavaTokenizer.load(folder);
  if (tokenizer.size > config.text.vocabSize) {
    throw new PulseError(`${tokenizer.path}: the tokenizer has ${tokenizer.size} tokens but the embedding has ${config.text.vocabSize} rows (config.json text_config.vocab_size)`);
  }
  if (tokenizer.id('<image>') !== config.imageTokenId) {
    throw new PulseError(`${tokenizer.path}: <image> is token ${tokenizer.id('<image>')}, but config.json says image_token_index ${config.imageTokenId}`);
  }
  const preprocessorPath = join(folder, 'preprocessor_config.json');
  const preprocessor = parseClipConfig(readFolderText(preprocessorPath), preprocessorPath);
  const crop = preprocessor.crop;
  if (!crop || crop.height !== config.vision.imageSize || crop.width !== config.vision.imageSize) {
    throw new PulseError(`${preprocessorPath}: crop_size must be ${config.vision.imageSize}x${config.vision.imageSize}, the vision tower's image_size`);
  }
  return { config, tokenizer, preprocessor };
}

function checkDevice(device: string): void {
  if (device.startsWith('cuda') && !cudaAvailable()) {
    throw new PulseError(`model.device: ${device} asked for, but this libtorch has no CUDA (build the addon against a CUDA libtorch, see README)`);
  }
}

function runtimeOf(spec: LlavaSpec) {
  return { dtype: spec.dtype, device: spec.device, microBatch: spec.micro_batch, defaultScoring: spec.scoring };
}

export async function loadLlava(spec: LlavaSpec): Promise<LlavaModel> {
  const folder = spec.path;
  const { config, tokenizer, preprocessor } = readFolder(folder);
  checkDevice(spec.device);
  const weights = CheckpointWeights.open(folder);
  try {
    const model = new LlavaModel(WeightSource.checkpoint(weights, spec.dtype, spec.device), config, tokenizer, preprocessor,
      { folder, fingerprint: fingerprint(folder, weights), weights }, runtimeOf(spec));
    if (spec.gradient_checkpointing) model.checkpointer = new Checkpointer();
    return model;
  } catch (e) {
    weights.close();
    throw e;
  }
}

/**
 * A LLaVA of a folder's shape with random weights (N(0, 0.02²)): benchmarks at full size with no
 * download. The folder needs its config, tokenizer and preprocessor files only.
 */
export function randomLlava(spec: LlavaSpec): LlavaModel {
  const { config, tokenizer, preprocessor } = readFolder(spec.path);
  checkDevice(spec.device);
  const model = new LlavaModel(WeightSource.random(spec.dtype, spec.device), config, tokenizer, preprocessor,
    { folder: spec.path, fingerprint: 'random', weights: null }, runtimeOf(spec));
  if (spec.gradient_checkpointing) model.checkpointer = new Checkpointer();
  return model;
}

export function parseLlavaSpec(raw: unknown): LlavaSpec {
  return LlavaSpec.parse(raw);
}

export const llavaKind: ModelKind = {
  kind: 'llava',
  description: 'LLaVA-1.5 (7B, 13B or any size) from a Hugging Face model folder, on CPU or CUDA',
  spec: LlavaSpec as unknown as z.ZodType<ModelSpec>,
  load: (spec) => loadLlava(spec as LlavaSpec),
  claims: (path) => existsSync(join(path, 'config.json')) && existsSync(join(path, 'tokenizer.json')),
};

export { LlavaModel } from './model.ts';

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PulseError } from '../../errors.ts';
import { cudaAvailable } from '../../torch/index.ts';
import { Checkpointer } from '../checkpointing.ts';
import type { Origin, Runtime } from '../adapter.ts';
import { WeightSource } from './source.ts';
import { CheckpointWeights, type NameMap } from './weights.ts';

/** The `model:` keys every Hugging Face model kind shares (beside `kind`). */
export const HF_SPEC_FIELDS = {
  /** a Hugging Face model folder */
  path: z.string().min(1),
  device: z.string().regex(/^(cpu|cuda(:\d+)?)$/, 'expected cpu, cuda or cuda:N').default('cpu'),
  /** the weights' dtype in memory; norms, softmax and adapters compute in float32 whatever it is */
  dtype: z.enum(['float32', 'bfloat16', 'float16']).default('float32'),
  /** rows per forward pass: larger batches run in pieces whose gradients accumulate */
  micro_batch: z.number().int().positive().default(4),
  /** MLLMU-Bench scores the first generated letter */
  scoring: z.enum(['letter', 'likelihood']).default('letter'),
  /** recompute each decoder layer in backward instead of keeping its activations */
  gradient_checkpointing: z.boolean().default(false),
};
const HfSpec = z.object(HF_SPEC_FIELDS);
export type HfSpec = z.infer<typeof HfSpec>;

/** A folder path that is a folder; else one line saying what a model of this kind is. */
export function checkFolder(folder: string, what: string): void {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new PulseError(`model.path: ${folder} is not a folder (${what})`);
}

export function checkDevice(device: string): void {
  if (device.startsWith('cuda') && !cudaAvailable()) {
    throw new PulseError(`model.device: ${device} asked for, but this libtorch has no CUDA (build the addon against a CUDA libtorch, see README)`);
  }
}

export function runtimeOf(spec: HfSpec): Runtime {
  return { dtype: spec.dtype, device: spec.device, microBatch: spec.micro_batch, defaultScoring: spec.scoring };
}

/**
 * What identifies a checkpoint without reading 26 GB: the folder's `files` (config, tokenizer,
 * preprocessor...) and each weights file's name, size and safetensors header (names, dtypes, shapes and offsets).
 */
export function fingerprint(folder: string, weights: CheckpointWeights, files: readonly string[]): string {
  const hash = createHash('sha256');
  for (const file of files) if (existsSync(join(folder, file))) hash.update(file).update(readFileSync(join(folder, file)));
  for (const [file, header] of weights.headers()) hash.update(file).update(String(statSync(join(folder, file)).size)).update(header);
  return hash.digest('hex');
}

/**
 * A model built over a folder's weights (or, with `random`, over N(0, 0.02²) weights of the same
 * shapes: benchmarks at full size with no download); the weights are closed if building fails.
 */
export function buildModel<M extends { checkpointer: Checkpointer | null }>(
  spec: HfSpec, names: NameMap, fingerprintFiles: readonly string[], random: boolean, build: (source: WeightSource, origin: Origin, runtime: Runtime) => M,
): M {
  checkDevice(spec.device);
  const runtime = runtimeOf(spec);
  if (random) return withCheckpointing(build(WeightSource.random(spec.dtype, spec.device), { folder: spec.path, fingerprint: 'random', weights: null }, runtime), spec);
  const weights = CheckpointWeights.open(spec.path, names);
  try {
    const origin = { folder: spec.path, fingerprint: fingerprint(spec.path, weights, fingerprintFiles), weights };
    return withCheckpointing(build(WeightSource.checkpoint(weights, spec.dtype, spec.device), origin, runtime), spec);
  } catch (e) {
    weights.close();
    throw e;
  }
}

function withCheckpointing<M extends { checkpointer: Checkpointer | null }>(model: M, spec: HfSpec): M {
  if (spec.gradient_checkpointing) model.checkpointer = new Checkpointer();
  return model;
}

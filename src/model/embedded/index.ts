import { existsSync, statSync } from 'node:fs';
import { z } from 'zod';
import type { ModelKind, ModelSpec } from '../registry.ts';
import type { PulseModel } from '../model.ts';
import { PulseError } from '../../errors.ts';
import { EmbeddedModel } from './model.ts';
import { loadModel, saveModel, type ModelManifest } from './persist.ts';
import type { ModelConfig } from './config.ts';
import type { Tokenizer } from './tokenizer.ts';

const EmbeddedSpec = z.object({
  kind: z.literal('embedded'),
  /** the weights: a safetensors file with a pulse manifest (assets/base.safetensors) */
  path: z.string().min(1),
}).strict();

export const embeddedKind: ModelKind = {
  kind: 'embedded',
  description: 'the 1.1 M-parameter LLaVA-shaped model pulse ships and pre-trains on its generated world',
  spec: EmbeddedSpec as z.ZodType<ModelSpec>,
  load: async (spec) => (await loadModel((spec as z.infer<typeof EmbeddedSpec>).path)).model,
  claims: (path) => path.endsWith('.safetensors') && existsSync(path) && statSync(path).isFile(),
};

/** A freshly initialised embedded model (pre-training starts here). */
export function createEmbeddedModel(config: ModelConfig, tokenizer: Tokenizer): PulseModel {
  return new EmbeddedModel(config, tokenizer);
}

/** Saves an embedded model with its manifest (what `pulse pretrain` writes). */
export function saveEmbeddedModel(path: string, model: PulseModel, manifest: Parameters<typeof saveModel>[2]): Promise<ModelManifest> {
  if (!(model instanceof EmbeddedModel)) throw new PulseError(`only an embedded model can be saved as one (this is a ${model.info.kind} model)`);
  return saveModel(path, model, manifest);
}

export { DEFAULT_MODEL_CONFIG, TINY_MODEL_CONFIG, ModelConfig } from './config.ts';
export type { ModelManifest } from './persist.ts';
export { Tokenizer } from './tokenizer.ts';
export { templateTexts } from './prompt.ts';

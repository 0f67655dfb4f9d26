import { z } from 'zod';
import { PulseError } from '../../errors.ts';
import { parsePart, readModelConfig } from '../hf/config.ts';
import type { DecoderConfig } from '../blocks/decoder.ts';

/**
 * A LLaVA folder's config.json, read as transformers reads it: a field missing from
 * `text_config` or `vision_config` takes LlamaConfig's or CLIPVisionConfig's default (so the
 * Hub file's rms_norm_eps 1e-5 wins over Llama's default 1e-6, and a file without it gets 1e-6).
 */

const LlamaFields = z.object({
  vocab_size: z.number().int().positive().default(32000),
  hidden_size: z.number().int().positive().default(4096),
  intermediate_size: z.number().int().positive().default(11008),
  num_hidden_layers: z.number().int().positive().default(32),
  num_attention_heads: z.number().int().positive().default(32),
  num_key_value_heads: z.number().int().positive().nullable().default(null),
  head_dim: z.number().int().positive().nullable().default(null),
  hidden_act: z.literal('silu').default('silu'),
  max_position_embeddings: z.number().int().positive().default(2048),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().optional(),
  /** transformers 5 keeps rope_theta here */
  rope_parameters: z.object({ rope_type: z.literal('default').optional(), rope_theta: z.number().positive().optional() })
    .passthrough().nullable().optional(),
  rope_scaling: z.null().optional(),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  tie_word_embeddings: z.literal(false).default(false),
}).passthrough();

const ClipFields = z.object({
  hidden_size: z.number().int().positive().default(768),
  intermediate_size: z.number().int().positive().default(3072),
  num_hidden_layers: z.number().int().positive().default(12),
  num_attention_heads: z.number().int().positive().default(12),
  num_channels: z.number().int().positive().default(3),
  image_size: z.number().int().positive().default(224),
  patch_size: z.number().int().positive().default(32),
  hidden_act: z.literal('quick_gelu').default('quick_gelu'),
  layer_norm_eps: z.number().positive().default(1e-5),
}).passthrough();

/** LlavaConfig's vision tower when config.json has no vision_config: CLIP ViT-L/14 at 336 px. */
const LLAVA_DEFAULT_VISION = { hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16, image_size: 336, patch_size: 14 };

const LlavaFields = z.object({
  model_type: z.literal('llava'),
  text_config: z.record(z.string(), z.unknown()).optional(),
  vision_config: z.record(z.string(), z.unknown()).optional(),
  image_token_index: z.number().int().nonnegative().optional(),
  image_token_id: z.number().int().nonnegative().optional(),
  pad_token_id: z.number().int().nonnegative().nullable().optional(),
  projector_hidden_act: z.literal('gelu').default('gelu'),
  multimodal_projector_bias: z.literal(true).default(true),
  vision_feature_layer: z.number().int().default(-2),
  vision_feature_select_strategy: z.literal('default').default('default'),
}).passthrough();

/** Llama's decoder: attention_bias puts a bias on all four attention projections. */
export type LlamaConfig = DecoderConfig;

export interface ClipVisionConfig {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  channels: number;
  imageSize: number;
  patchSize: number;
  layerNormEps: number;
}

export interface LlavaConfig {
  text: LlamaConfig;
  vision: ClipVisionConfig;
  imageTokenId: number;
  padTokenId: number | null;
  /** index into the vision tower's hidden states (0 = embeddings after pre_layrnorm), negative from the end */
  visionFeatureLayer: number;
  /** patches per image: the positions one <image> token expands to */
  imageTokens: number;
}

function llamaConfig(raw: z.infer<typeof LlamaFields>): LlamaConfig {
  const headDim = raw.head_dim ?? raw.hidden_size / raw.num_attention_heads;
  return {
    vocabSize: raw.vocab_size, hidden: raw.hidden_size, intermediate: raw.intermediate_size,
    layers: raw.num_hidden_layers, heads: raw.num_attention_heads, kvHeads: raw.num_key_value_heads ?? raw.num_attention_heads,
    headDim, rmsNormEps: raw.rms_norm_eps, ropeTheta: raw.rope_parameters?.rope_theta ?? raw.rope_theta ?? 10000,
    maxPositions: raw.max_position_embeddings,
    qkvBias: raw.attention_bias, outputBias: raw.attention_bias, mlpBias: raw.mlp_bias,
  };
}

function clipConfig(raw: z.infer<typeof ClipFields>): ClipVisionConfig {
  return {
    hidden: raw.hidden_size, intermediate: raw.intermediate_size, layers: raw.num_hidden_layers, heads: raw.num_attention_heads,
    channels: raw.num_channels, imageSize: raw.image_size, patchSize: raw.patch_size, layerNormEps: raw.layer_norm_eps,
  };
}

/** Checks what the model's shapes rely on, naming the field. */
function checkShapes(c: LlavaConfig, where: string): void {
  const bad = (field: string, why: string): never => { throw new PulseError(`${where}: ${field}: ${why}`); };
  if (c.text.heads % c.text.kvHeads !== 0) bad('text_config.num_key_value_heads', `${c.text.kvHeads} does not divide num_attention_heads ${c.text.heads}`);
  if (!Number.isInteger(c.text.headDim) || c.text.headDim % 2) bad('text_config.head_dim', `${c.text.headDim} must be an even integer (RoPE rotates halves)`);
  if (c.vision.hidden % c.vision.heads) bad('vision_config.num_attention_heads', `${c.vision.heads} does not divide hidden_size ${c.vision.hidden}`);
  if (c.vision.imageSize % c.vision.patchSize) bad('vision_config.patch_size', `${c.vision.patchSize} does not divide image_size ${c.vision.imageSize}`);
  const hiddenStates = c.vision.layers + 1;
  if (c.visionFeatureLayer >= hiddenStates || c.visionFeatureLayer < -hiddenStates) {
    bad('vision_feature_layer', `${c.visionFeatureLayer} is outside the vision tower's ${hiddenStates} hidden states`);
  }
  if (c.imageTokenId >= c.text.vocabSize) bad('image_token_index', `${c.imageTokenId} is outside the ${c.text.vocabSize}-row embedding`);
}

export function parseLlavaConfig(json: unknown, where: string): LlavaConfig {
  const top = parsePart(LlavaFields, json, where);
  const text = llamaConfig(parsePart(LlamaFields, top.text_config, `${where}: text_config`));
  const vision = clipConfig(parsePart(ClipFields, top.vision_config ?? LLAVA_DEFAULT_VISION, `${where}: vision_config`));
  const config: LlavaConfig = {
    text, vision,
    imageTokenId: top.image_token_index ?? top.image_token_id ?? 32000,
    padTokenId: top.pad_token_id ?? null,
    visionFeatureLayer: top.vision_feature_layer,
    imageTokens: (vision.imageSize / vision.patchSize) ** 2,
  };
  checkShapes(config, where);
  return config;
}

/** Reads `<folder>/config.json`. */
export function readLlavaConfig(folder: string): LlavaConfig {
  const { json, path } = readModelConfig(folder);
  return parseLlavaConfig(json, path);
}

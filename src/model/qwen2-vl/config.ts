import { z } from 'zod';
import { PulseError } from '../../errors.ts';
import { parsePart, readModelConfig } from '../hf/config.ts';
import type { DecoderConfig } from '../blocks/decoder.ts';

/**
 * A Qwen2-VL or Qwen2.5-VL folder's config.json, read as transformers 5 reads it: the language
 * model's fields from `text_config` when there is one (the layout transformers 5 writes), else
 * from the top level (the Hub's layout); M-RoPE's sections from `rope_parameters` or the Hub's
 * `rope_scaling: {type: mrope, mrope_section}`; a field missing from `vision_config` takes
 * Qwen2VLVisionConfig's or Qwen2_5_VLVisionConfig's default.
 */

export type QwenVariant = 'qwen2_vl' | 'qwen2_5_vl';
export const QWEN_VARIANTS: readonly QwenVariant[] = ['qwen2_vl', 'qwen2_5_vl'];

const RopeFields = z.object({
  rope_theta: z.number().positive().optional(),
  mrope_section: z.array(z.number().int().positive()).length(3).optional(),
  type: z.string().optional(),
  rope_type: z.string().optional(),
}).passthrough();

const TextFields = z.object({
  vocab_size: z.number().int().positive().default(152064),
  hidden_size: z.number().int().positive().default(8192),
  intermediate_size: z.number().int().positive().default(29568),
  num_hidden_layers: z.number().int().positive().default(80),
  num_attention_heads: z.number().int().positive().default(64),
  num_key_value_heads: z.number().int().positive().nullable().default(8),
  hidden_act: z.literal('silu').default('silu'),
  rms_norm_eps: z.number().positive().default(1e-5),
  max_position_embeddings: z.number().int().positive().default(32768),
  rope_theta: z.number().positive().optional(),
  rope_scaling: RopeFields.nullable().optional(),
  rope_parameters: RopeFields.nullable().optional(),
  use_sliding_window: z.literal(false, { error: 'sliding-window attention is not supported (transformers runs it only with flash attention)' })
    .nullable().default(false),
  tie_word_embeddings: z.boolean().optional(),
}).passthrough();

const VisionRope = z.object({ rope_theta: z.number().positive().default(10000) }).passthrough();
const ACTIVATIONS = ['silu', 'quick_gelu', 'gelu', 'gelu_pytorch_tanh'] as const;

/** Qwen2_5_VLVisionConfig's fields and defaults (the Hub's in_chans and spatial_patch_size are not read, as in transformers). */
const Vision25Fields = z.object({
  depth: z.number().int().positive().default(32),
  hidden_size: z.number().int().positive().default(3584),
  hidden_act: z.enum(ACTIVATIONS).default('silu'),
  intermediate_size: z.number().int().positive().default(3420),
  num_heads: z.number().int().positive().default(16),
  in_channels: z.number().int().positive().default(3),
  patch_size: z.number().int().positive().default(14),
  spatial_merge_size: z.number().int().positive().default(2),
  temporal_patch_size: z.number().int().positive().default(2),
  window_size: z.number().int().positive().default(112),
  out_hidden_size: z.number().int().positive().default(3584),
  fullatt_block_indexes: z.array(z.number().int().nonnegative()).default([7, 15, 23, 31]),
  rope_parameters: VisionRope.nullable().optional(),
}).passthrough();

/** Qwen2VLVisionConfig's fields and defaults. */
const Vision2Fields = z.object({
  depth: z.number().int().positive().default(32),
  embed_dim: z.number().int().positive().default(1280),
  hidden_size: z.number().int().positive().default(3584),
  hidden_act: z.enum(ACTIVATIONS).default('quick_gelu'),
  mlp_ratio: z.number().positive().default(4),
  num_heads: z.number().int().positive().default(16),
  in_channels: z.number().int().positive().default(3),
  patch_size: z.number().int().positive().default(14),
  spatial_merge_size: z.number().int().positive().default(2),
  temporal_patch_size: z.number().int().positive().default(2),
  rope_parameters: VisionRope.nullable().optional(),
}).passthrough();

const TopFields = z.object({
  model_type: z.enum(QWEN_VARIANTS),
  text_config: z.record(z.string(), z.unknown()).optional(),
  vision_config: z.record(z.string(), z.unknown()).optional(),
  image_token_id: z.number().int().nonnegative().default(151655),
  vision_start_token_id: z.number().int().nonnegative().default(151652),
  vision_end_token_id: z.number().int().nonnegative().default(151653),
  tie_word_embeddings: z.boolean().default(false),
}).passthrough();

export type VisionActivation = (typeof ACTIVATIONS)[number];

export interface QwenVisionConfig {
  depth: number;
  /** the tower's width */
  hidden: number;
  /** the MLP's width */
  intermediate: number;
  heads: number;
  act: VisionActivation;
  channels: number;
  patchSize: number;
  mergeSize: number;
  temporalPatchSize: number;
  /** the merger's output width: the language model's */
  outHidden: number;
  ropeTheta: number;
  /** Qwen2.5-VL: window attention over windows of this many pixels a side, full attention in `fullAttentionBlocks` */
  window: { size: number; fullAttentionBlocks: readonly number[] } | null;
  /** RMSNorm + SwiGLU with biases (Qwen2.5-VL), or LayerNorm + fc1/act/fc2 (Qwen2-VL) */
  style: 'rms-swiglu' | 'layernorm-mlp';
}

export interface QwenTextConfig extends DecoderConfig {
  /** rotary frequencies (head_dim / 2 of them) given to the temporal, height and width positions, in order */
  mropeSection: readonly [number, number, number];
}

export interface QwenVlConfig {
  variant: QwenVariant;
  text: QwenTextConfig;
  vision: QwenVisionConfig;
  imageTokenId: number;
  visionStartTokenId: number;
  visionEndTokenId: number;
  /** lm_head shares the token embedding (tie_word_embeddings, the 3B models) */
  tied: boolean;
}

function textConfig(raw: z.infer<typeof TextFields>): QwenTextConfig {
  const rope = raw.rope_parameters ?? raw.rope_scaling ?? {};
  const headDim = raw.hidden_size / raw.num_attention_heads;
  const [t, h, w] = rope.mrope_section ?? [16, 24, 24];
  return {
    vocabSize: raw.vocab_size, hidden: raw.hidden_size, intermediate: raw.intermediate_size, layers: raw.num_hidden_layers,
    heads: raw.num_attention_heads, kvHeads: raw.num_key_value_heads ?? raw.num_attention_heads, headDim, rmsNormEps: raw.rms_norm_eps,
    ropeTheta: rope.rope_theta ?? raw.rope_theta ?? 1000000, qkvBias: true, outputBias: false, mlpBias: false, mropeSection: [t!, h!, w!],
    maxPositions: raw.max_position_embeddings,
  };
}

function visionConfig(variant: QwenVariant, value: unknown, where: string): QwenVisionConfig {
  if (variant === 'qwen2_5_vl') {
    const v = parsePart(Vision25Fields, value, where);
    return {
      depth: v.depth, hidden: v.hidden_size, intermediate: v.intermediate_size, heads: v.num_heads, act: v.hidden_act, channels: v.in_channels,
      patchSize: v.patch_size, mergeSize: v.spatial_merge_size, temporalPatchSize: v.temporal_patch_size, outHidden: v.out_hidden_size,
      ropeTheta: v.rope_parameters?.rope_theta ?? 10000, window: { size: v.window_size, fullAttentionBlocks: v.fullatt_block_indexes },
      style: 'rms-swiglu',
    };
  }
  const v = parsePart(Vision2Fields, value, where);
  return {
    depth: v.depth, hidden: v.embed_dim, intermediate: Math.trunc(v.embed_dim * v.mlp_ratio), heads: v.num_heads, act: v.hidden_act,
    channels: v.in_channels, patchSize: v.patch_size, mergeSize: v.spatial_merge_size, temporalPatchSize: v.temporal_patch_size,
    outHidden: v.hidden_size, ropeTheta: v.rope_parameters?.rope_theta ?? 10000, window: null, style: 'layernorm-mlp',
  };
}

/** Checks what the model's shapes rely on, naming the field. */
function checkShapes(c: QwenVlConfig, where: string): void {
  const bad = (field: string, why: string): never => { throw new PulseError(`${where}: ${field}: ${why}`); };
  const { text, vision } = c;
  if (text.hidden % text.heads) bad('num_attention_heads', `${text.heads} does not divide hidden_size ${text.hidden}`);
  if (text.heads % text.kvHeads) bad('num_key_value_heads', `${text.kvHeads} does not divide num_attention_heads ${text.heads}`);
  if (text.headDim % 2) bad('hidden_size', `the head width ${text.headDim} must be even (RoPE rotates halves)`);
  const sections = text.mropeSection.reduce((a, b) => a + b, 0);
  if (sections !== text.headDim / 2) {
    bad('mrope_section', `[${text.mropeSection.join(', ')}] sums to ${sections}, but the head width ${text.headDim} has ${text.headDim / 2} rotary frequencies`);
  }
  if (vision.hidden % vision.heads) bad('vision_config.num_heads', `${vision.heads} does not divide the tower's width ${vision.hidden}`);
  if ((vision.hidden / vision.heads) % 4) bad('vision_config.num_heads', `the tower's head width ${vision.hidden / vision.heads} must be a multiple of 4 (2-D rotary)`);
  const out = c.variant === 'qwen2_5_vl' ? 'vision_config.out_hidden_size' : 'vision_config.hidden_size';
  if (vision.outHidden !== text.hidden) bad(out, `${vision.outHidden}, but the language model's hidden_size is ${text.hidden}: the merger's output must be its width`);
  if (vision.window) {
    const unit = vision.patchSize * vision.mergeSize;
    if (vision.window.size < unit) bad('vision_config.window_size', `${vision.window.size} is less than one merged patch (${unit} pixels)`);
    const outside = vision.window.fullAttentionBlocks.find((i) => i >= vision.depth);
    if (outside !== undefined) bad('vision_config.fullatt_block_indexes', `${outside} is not a block of the ${vision.depth}-block tower`);
  }
  for (const [field, id] of [['image_token_id', c.imageTokenId], ['vision_start_token_id', c.visionStartTokenId], ['vision_end_token_id', c.visionEndTokenId]] as const) {
    if (id >= text.vocabSize) bad(field, `${id} is outside the ${text.vocabSize}-row embedding`);
  }
}

export function parseQwenVlConfig(json: unknown, where: string): QwenVlConfig {
  const top = parsePart(TopFields, json, where);
  const nested = top.text_config !== undefined;
  const text = parsePart(TextFields, nested ? top.text_config : top, nested ? `${where}: text_config` : where);
  const config: QwenVlConfig = {
    variant: top.model_type,
    text: textConfig(text),
    vision: visionConfig(top.model_type, top.vision_config, `${where}: vision_config`),
    imageTokenId: top.image_token_id, visionStartTokenId: top.vision_start_token_id, visionEndTokenId: top.vision_end_token_id,
    // transformers: tied when the top level or the text config says so
    tied: top.tie_word_embeddings || (text.tie_word_embeddings ?? false),
  };
  checkShapes(config, where);
  return config;
}

/** Reads `<folder>/config.json`. */
export function readQwenVlConfig(folder: string): QwenVlConfig {
  const { json, path } = readModelConfig(folder);
  return parseQwenVlConfig(json, path);
}

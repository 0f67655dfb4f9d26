import { z } from 'zod';

/** Shape of the embedded multimodal model. The vocabulary size comes from the tokenizer. */
export const ModelConfig = z.object({
  /** side of the square RGB input images, in pixels */
  imageSize: z.number().int().positive(),
  vision: z.object({
    /** output channels of the three conv stages (each followed by a 2x2 max-pool) */
    channels: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
    /** the final feature map is average-pooled to grid x grid visual tokens */
    grid: z.number().int().positive(),
  }).strict(),
  /** hidden width of the 2-layer MLP projector (LLaVA-1.5 style) */
  projectorHidden: z.number().int().positive(),
  lm: z.object({
    dModel: z.number().int().positive(),
    layers: z.number().int().positive(),
    heads: z.number().int().positive(),
    mlpRatio: z.number().int().positive(),
    maxSeq: z.number().int().positive(),
    dropout: z.number().min(0).max(1),
  }).strict(),
}).strict();
export type ModelConfig = z.infer<typeof ModelConfig>;

export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  imageSize: 32,
  vision: { channels: [32, 64, 128], grid: 2 },
  projectorHidden: 256,
  lm: { dModel: 128, layers: 4, heads: 4, mlpRatio: 4, maxSeq: 96, dropout: 0 },
};

/** For tests: trains in seconds. */
export const TINY_MODEL_CONFIG: ModelConfig = {
  imageSize: 32,
  vision: { channels: [8, 8, 16], grid: 2 },
  projectorHidden: 32,
  lm: { dModel: 32, layers: 1, heads: 2, mlpRatio: 2, maxSeq: 96, dropout: 0 },
};

import { Module, cat, scope, tensor, type Tensor } from '../../torch/index.ts';
import type { LoraLinear } from '../lora.ts';
import { ClipVisionTower } from './clip.ts';
import { Projector } from './projector.ts';
import { LlamaModel, type DecoderContext } from './llama.ts';
import type { LlavaConfig } from './config.ts';
import type { WeightSource } from './source.ts';
import { Checkpointer } from './checkpointing.ts';

/**
 * LLaVA-1.5 (transformers' LlavaForConditionalGeneration): CLIP features of each image, taken
 * from `vision_feature_layer` with the class token dropped, projected to Llama's width, take
 * the places of the image's `<image>` tokens in the prompt (one token per patch, in order);
 * Llama then reads the sequence with position ids counting every one of those places.
 */

/** One forward pass's inputs, on the model's device. */
export interface LlavaInputs {
  /** [B, T] int64; each image already expanded to `imageTokens` copies of the image token */
  ids: Tensor;
  /** [B, T] 1 for real tokens, 0 for padding */
  mask: Tensor;
  /** [B, T] int64 */
  positions: Tensor;
  /** [N, 3, H, W] float32, the images in the order their tokens appear (row by row), or null */
  pixels: Tensor | null;
  /** flat (row·T + t) positions the image features fill, ascending; without it, every image token's position */
  imageSlots?: readonly number[];
}

export class LlavaNet extends Module {
  readonly vision: ClipVisionTower;
  readonly projector: Projector;
  readonly language: LlamaModel;
  readonly head: LoraLinear;
  /** per-decoder-layer gradient checkpointing (recompute in backward), or null */
  checkpointer: Checkpointer | null = null;

  constructor(w: WeightSource, readonly config: LlavaConfig) {
    super();
    const { vision, text } = config;
    this.vision = this.module('vision_tower.vision_model', new ClipVisionTower(w.at('vision_tower.vision_model'), vision));
    this.projector = this.module('multi_modal_projector', new Projector(w.at('multi_modal_projector'), vision.hidden, text.hidden));
    this.language = this.module('language_model', new LlamaModel(w.at('language_model'), text));
    this.head = this.module('lm_head', w.linear('lm_head', text.hidden, text.vocabSize, false));
  }

  /** Projected image features, [N · P, D]. */
  imageFeatures(pixels: Tensor): Tensor {
    return this.projector.forward(this.vision.features(pixels, this.config.visionFeatureLayer)).flatten(0, 1);
  }

  /**
   * Token embeddings with image features in the image tokens' places: the text rows and the
   * feature rows are stacked, and one index picks, for each position, its own row or the next
   * feature row (transformers' masked_scatter, as a gather so that it is differentiable).
   */
  inputEmbeddings(inputs: LlavaInputs): Tensor {
    const text = this.language.embedTokens.forward(inputs.ids);
    if (!inputs.pixels) return text;
    const [b, t, d] = text.shape as [number, number, number];
    const features = this.imageFeatures(inputs.pixels);
    const slots = inputs.imageSlots ?? inputs.ids.view(b * t).toArray().flatMap((id, i) => (id === this.config.imageTokenId ? [i] : []));
    const pick = Array.from({ length: b * t }, (_, i) => i);
    slots.forEach((slot, k) => { pick[slot] = b * t + k; });
    if (slots.length !== features.size(0)) {
      throw new RangeError(`the prompts hold ${slots.length} image tokens but the images give ${features.size(0)} features (${this.config.imageTokens} each)`);
    }
    const rows = cat([text.view(b * t, d), features.to(text.dtype)], 0);
    return rows.indexSelect(0, tensor(pick, [pick.length], 'int64', text.device)).view(b, t, d);
  }

  context(inputs: LlavaInputs, dtype: string): DecoderContext {
    return this.language.context(inputs.positions, inputs.mask, dtype);
  }

  /** Final-norm hidden states [B, T, D]. */
  hidden(inputs: LlavaInputs): Tensor {
    return this.language.norm.forward(this.residualAfter(inputs, this.language.layers.length - 1));
  }

  /** The residual stream after decoder layer `layer` (0-based), [B, T, D], before the final norm; the layers above it do not run. */
  residualAfter(inputs: LlavaInputs, layer: number): Tensor {
    const h = this.inputEmbeddings(inputs);
    const ctx = this.context(inputs, h.dtype);
    // Each layer in its own scope: what backward needs, autograd keeps; the rest is freed at once, as in PyTorch.
    const layers = this.language.layers.slice(0, layer + 1).map((decoder) => (x: Tensor) => scope(() => decoder.forward(x, ctx)));
    return this.checkpointer ? this.checkpointer.run(h, layers) : layers.reduce((x, layer) => layer(x), h);
  }

  /** Backpropagates a loss computed from this model's outputs (with checkpointing, through the recomputed layers too). */
  backward(loss: Tensor): void {
    loss.backward();
    this.checkpointer?.backward();
  }

  /** Logits [.., vocabulary] of hidden states (all positions, or only those a caller selected). */
  logits(hidden: Tensor): Tensor { return this.head.forward(hidden); }
}

import type { Module, Tensor } from '../../torch/index.ts';
import type { LoraLinear } from '../lora.ts';
import type { Part } from '../model.ts';
import { NetworkModel, type Origin, type Runtime } from '../adapter.ts';
import { placeFeatures } from '../network.ts';
import { DecoderStack, rotaryTables, type DecoderContext } from '../blocks/decoder.ts';
import type { WeightSource } from '../hf/source.ts';
import { ClipVisionTower } from './clip.ts';
import { Projector } from './projector.ts';
import type { LlavaConfig } from './config.ts';
import type { TokenRow } from './batch.ts';

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
  /** the images' projected features [N · P, D], computed before (greedy decoding): then pixels is null */
  features?: Tensor;
}

/** LLaVA's network: the model seam's adapter over CLIP, the projector and Llama. */
export abstract class LlavaNet extends NetworkModel<LlavaInputs, Float32Array, TokenRow> {
  readonly vision: ClipVisionTower;
  readonly projector: Projector;
  readonly language: DecoderStack;
  readonly head: LoraLinear;

  constructor(w: WeightSource, readonly config: LlavaConfig, origin: Origin, runtime: Runtime) {
    super(origin, runtime);
    const { vision, text } = config;
    this.vision = this.module('vision_tower.vision_model', new ClipVisionTower(w.at('vision_tower.vision_model'), vision));
    this.projector = this.module('multi_modal_projector', new Projector(w.at('multi_modal_projector'), vision.hidden, text.hidden));
    this.language = this.module('language_model', new DecoderStack(w.at('language_model'), text));
    this.head = this.module('lm_head', w.linear('lm_head', text.hidden, text.vocabSize, false));
  }

  /** Projected image features, [N · P, D]. */
  imageFeatures(pixels: Tensor): Tensor {
    return this.projector.forward(this.vision.features(pixels, this.config.visionFeatureLayer)).flatten(0, 1);
  }

  /** Token embeddings with image features in the image tokens' places. */
  inputEmbeddings(inputs: LlavaInputs): Tensor {
    const text = this.language.embedTokens.forward(inputs.ids);
    const features = inputs.features ?? (inputs.pixels ? this.imageFeatures(inputs.pixels) : null);
    if (!features) return text;
    const slots = inputs.imageSlots ?? inputs.ids.view(-1).toArray().flatMap((id, i) => (id === this.config.imageTokenId ? [i] : []));
    return placeFeatures(text, features, slots, (tokens, count) => new RangeError(
      `the prompts hold ${tokens} image tokens but the images give ${count} features (${this.config.imageTokens} each)`));
  }

  context(inputs: LlavaInputs, dtype: string): DecoderContext {
    const { headDim, ropeTheta } = this.config.text;
    return this.language.context(rotaryTables(inputs.positions, headDim, ropeTheta, dtype), inputs.mask);
  }

  part(name: Part): { module: Module; prefix: string } {
    if (name === 'vision') return { module: this.vision, prefix: 'vision_tower.vision_model.' };
    if (name === 'projector') return { module: this.projector, prefix: 'multi_modal_projector.' };
    return { module: this.language, prefix: 'language_model.' };
  }
}

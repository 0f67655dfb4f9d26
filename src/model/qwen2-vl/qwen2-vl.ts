import type { Module, Tensor } from '../../torch/index.ts';
import { PulseError } from '../../errors.ts';
import { LoraLinear } from '../lora.ts';
import type { Part } from '../model.ts';
import { NetworkModel, type Origin, type Runtime } from '../adapter.ts';
import { placeFeatures } from '../network.ts';
import { DecoderStack, type DecoderContext } from '../blocks/decoder.ts';
import type { WeightSource } from '../hf/source.ts';
import { VisionTower } from './vision.ts';
import { PatchMerger } from './merger.ts';
import { mropeTables } from './mrope.ts';
import type { ImageGrid } from './grid.ts';
import type { QwenImage, QwenRow } from './batch.ts';
import type { QwenVlConfig } from './config.ts';

/**
 * Qwen2-VL and Qwen2.5-VL (transformers' Qwen2VLForConditionalGeneration and
 * Qwen2_5_VLForConditionalGeneration): the vision tower's patches, merged 2 x 2 into tokens of the
 * language model's width, take the places of the image's <|image_pad|> tokens; the Qwen2
 * decoder (grouped-query attention with q/k/v biases, RMSNorm, SwiGLU) reads the sequence with
 * M-RoPE positions; lm_head is its own matrix or the token embedding (tie_word_embeddings).
 */

/** One forward pass's inputs, on the model's device. */
export interface QwenInputs {
  /** [B, T] int64, each image's <|image_pad|> repeated once per image token */
  ids: Tensor;
  /** [B, T] 1 for real tokens, 0 for padding */
  mask: Tensor;
  /** [3, B, T] int64: temporal, height and width positions (M-RoPE) */
  positions: Tensor;
  /** [Σ t·h·w, patch values] float32, the images' patches in row order, or null */
  pixels: Tensor | null;
  /** each image's grid, in the order of `pixels` */
  grids: readonly ImageGrid[];
  /** flat (row·T + t) positions the image features fill, ascending */
  imageSlots: readonly number[];
  /** the images' merged features, computed before (greedy decoding): then pixels is null */
  features?: Tensor;
}

/** Qwen2-VL's network: the model seam's adapter over the vision tower, the merger and the Qwen2 decoder. */
export abstract class QwenVlNet extends NetworkModel<QwenInputs, QwenImage, QwenRow> {
  readonly visual: VisionTower;
  readonly merger: PatchMerger;
  readonly language: DecoderStack;
  readonly head: LoraLinear;

  constructor(w: WeightSource, readonly config: QwenVlConfig, origin: Origin, runtime: Runtime) {
    super(origin, runtime);
    const { vision, text } = config;
    this.visual = this.module('visual', new VisionTower(w.at('visual'), vision));
    this.merger = this.module('visual.merger', new PatchMerger(w.at('visual.merger'), vision));
    this.language = this.module('language_model', new DecoderStack(w.at('language_model'), text));
    // A tied head computes with the embedding's own tensor and is no parameter of its own (counted and trained once).
    this.head = config.tied
      ? new LoraLinear(text.hidden, text.vocabSize, { values: { weight: this.language.embedTokens.weight } })
      : this.module('lm_head', w.linear('lm_head', text.hidden, text.vocabSize, false));
  }

  /** The images' merged features in image order, [Σ image tokens, LM width]. */
  imageFeatures(pixels: Tensor, grids: readonly ImageGrid[]): Tensor {
    const { hidden, restore } = this.visual.encode(pixels, grids);
    const merged = this.merger.forward(hidden);
    return restore ? merged.indexSelect(0, restore) : merged;
  }

  inputEmbeddings(inputs: QwenInputs): Tensor {
    const text = this.language.embedTokens.forward(inputs.ids);
    const features = inputs.features ?? (inputs.pixels ? this.imageFeatures(inputs.pixels, inputs.grids) : null);
    if (!features) {
      if (inputs.imageSlots.length) throw new PulseError(`the prompts hold ${inputs.imageSlots.length} image tokens but no image`);
      return text;
    }
    return placeFeatures(text, features, inputs.imageSlots, (tokens, count) => new PulseError(
      `the prompts hold ${tokens} image tokens but the images give ${count} features (does preprocessor_config.json's merge_size match config.json?)`));
  }

  context(inputs: QwenInputs, dtype: string): DecoderContext {
    const { headDim, ropeTheta, mropeSection } = this.config.text;
    return this.language.context(mropeTables(inputs.positions, headDim, ropeTheta, mropeSection, dtype), inputs.mask);
  }

  /** `vision` is the tower (patch embedding and blocks), `projector` the merger, `llm` the decoder. */
  part(name: Part): { module: Module; prefix: string } {
    if (name === 'vision') return { module: this.visual, prefix: 'visual.' };
    if (name === 'projector') return { module: this.merger, prefix: 'visual.merger.' };
    return { module: this.language, prefix: 'language_model.' };
  }

  protected override get headTakesAdapter(): boolean { return !this.config.tied; }
}

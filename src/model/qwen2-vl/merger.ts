import { Module, type LayerNorm, type Tensor } from '../../torch/index.ts';
import type { LoraLinear } from '../lora.ts';
import { RmsNorm } from '../blocks/decoder.ts';
import type { WeightSource } from '../hf/source.ts';
import type { QwenVisionConfig } from './config.ts';

/**
 * The patch merger (Qwen2_5_VLPatchMerger / PatchMerger), the model's projector: each merge x
 * merge block of patches, normalised (RMSNorm in Qwen2.5-VL, LayerNorm in Qwen2-VL, ε 1e-6) and
 * concatenated, goes through Linear, GELU (erf), Linear to the language model's width: one token.
 */
export class PatchMerger extends Module {
  readonly norm: RmsNorm | LayerNorm;
  readonly fc1: LoraLinear;
  readonly fc2: LoraLinear;
  constructor(w: WeightSource, readonly c: QwenVisionConfig) {
    super();
    const width = c.hidden * c.mergeSize ** 2;
    this.norm = this.module('ln_q', c.style === 'rms-swiglu' ? new RmsNorm(w, 'ln_q', c.hidden, 1e-6) : w.layerNorm('ln_q', c.hidden, 1e-6));
    this.fc1 = this.module('mlp.0', w.linear('mlp.0', width, width, true));
    this.fc2 = this.module('mlp.2', w.linear('mlp.2', width, c.outHidden, true));
  }
  /** [N, D] patches, merge² consecutive ones a block -> [N / merge², LM width] */
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(this.norm.forward(x).reshape(-1, this.c.hidden * this.c.mergeSize ** 2)).gelu());
  }
}

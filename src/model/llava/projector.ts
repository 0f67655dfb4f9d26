import { Module, type Tensor } from '../../torch/index.ts';
import type { LoraLinear } from '../lora.ts';
import type { WeightSource } from '../hf/source.ts';

/** LLaVA-1.5's multi-modal projector: linear_2(GELU(linear_1(x))), GELU exact (erf), from CLIP's width to Llama's. */
export class Projector extends Module {
  readonly linear1: LoraLinear;
  readonly linear2: LoraLinear;
  constructor(w: WeightSource, visionHidden: number, textHidden: number) {
    super();
    this.linear1 = this.module('linear_1', w.linear('linear_1', visionHidden, textHidden, true));
    this.linear2 = this.module('linear_2', w.linear('linear_2', textHidden, textHidden, true));
  }
  forward(x: Tensor): Tensor { return this.linear2.forward(this.linear1.forward(x).gelu()); }
}

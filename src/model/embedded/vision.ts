import { Module, Conv2d, Tensor, maxPool2d, avgPool2d } from '../../torch/index.ts';
import { LoraLinear } from '../lora.ts';
import type { ModelConfig } from './config.ts';

/**
 * Small CNN image encoder: three conv stages (3x3, GELU, 2x2 max-pool) then an average pool to
 * a grid of visual tokens. [B, 3, S, S] -> [B, grid², channels[2]].
 */
export class VisionEncoder extends Module {
  readonly convs: Conv2d[];
  constructor(readonly config: ModelConfig) {
    super();
    const [c1, c2, c3] = config.vision.channels;
    this.convs = [[3, c1], [c1, c2], [c2, c3]].map(([i, o], k) => this.module(`conv${k}`, new Conv2d(i!, o!, 3, { padding: 1 })));
    const side = config.imageSize / 8;
    if (!Number.isInteger(side) || side % config.vision.grid !== 0) {
      throw new RangeError(`image size ${config.imageSize} does not pool to a ${config.vision.grid}x${config.vision.grid} grid`);
    }
  }
  get outDim(): number { return this.config.vision.channels[2]; }
  forward(images: Tensor): Tensor {
    let h = images;
    for (const conv of this.convs) h = maxPool2d(conv.forward(h).gelu(), 2);
    const pool = this.config.imageSize / 8 / this.config.vision.grid;
    if (pool > 1) h = avgPool2d(h, pool);
    // [B, C, g, g] -> [B, g², C]
    return h.flatten(2).transpose(1, 2);
  }
}

/** LLaVA-1.5's projector: Linear -> GELU -> Linear, from visual features to the LM's width. */
export class Projector extends Module {
  readonly fc1: LoraLinear;
  readonly fc2: LoraLinear;
  constructor(inDim: number, hidden: number, outDim: number) {
    super();
    this.fc1 = this.module('fc1', new LoraLinear(inDim, hidden));
    this.fc2 = this.module('fc2', new LoraLinear(hidden, outDim));
  }
  forward(x: Tensor): Tensor { return this.fc2.forward(this.fc1.forward(x).gelu()); }
}

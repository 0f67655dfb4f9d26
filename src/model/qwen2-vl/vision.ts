import { Module, cat, linear, scope, tensor, type LayerNorm, type Tensor } from '../../torch/index.ts';
import type { LoraLinear } from '../lora.ts';
import { RmsNorm, anglesToTables, inverseFrequencies, type RotaryTables } from '../blocks/decoder.ts';
import { activation } from '../blocks/activations.ts';
import type { WeightSource } from '../hf/source.ts';
import { VisionAttention } from './vision-attention.ts';
import { frameLengths, inverse, patchPositions, windows, type ImageGrid } from './grid.ts';
import type { QwenVisionConfig } from './config.ts';

/**
 * The vision towers of Qwen2.5-VL (Qwen2_5_VisionTransformerPretrainedModel) and Qwen2-VL
 * (Qwen2VisionTransformerPretrainedModel) up to the patch merger: a Conv3d patch embedding over
 * temporal_patch_size x patch x patch (no bias; computed as the matmul it is, since its stride is
 * its kernel), 2-D rotary embeddings from each patch's row and column, and pre-norm blocks.
 * Qwen2.5-VL's blocks use RMSNorm and a SwiGLU MLP with biases, and attend within windows
 * except in `fullatt_block_indexes`; the patches are reordered window by window on the way in,
 * and the merger's output is put back in image order (see VisionTower.encode). Qwen2-VL's use
 * LayerNorm, an fc1/act/fc2 MLP, and full attention (within each image).
 */

/** Qwen2.5-VL's block: RMSNorm (ε 1e-6), attention, RMSNorm, down(act(gate(x)) ⊙ up(x)) with biases. */
class SwiGluBlock extends Module {
  readonly norm1: RmsNorm;
  readonly norm2: RmsNorm;
  readonly attn: VisionAttention;
  readonly gate: LoraLinear;
  readonly up: LoraLinear;
  readonly down: LoraLinear;
  readonly #act: (x: Tensor) => Tensor;
  constructor(w: WeightSource, c: QwenVisionConfig) {
    super();
    this.norm1 = this.module('norm1', new RmsNorm(w, 'norm1', c.hidden, 1e-6));
    this.norm2 = this.module('norm2', new RmsNorm(w, 'norm2', c.hidden, 1e-6));
    this.attn = this.module('attn', new VisionAttention(w.at('attn'), c.hidden, c.heads));
    this.gate = this.module('mlp.gate_proj', w.linear('mlp.gate_proj', c.hidden, c.intermediate, true));
    this.up = this.module('mlp.up_proj', w.linear('mlp.up_proj', c.hidden, c.intermediate, true));
    this.down = this.module('mlp.down_proj', w.linear('mlp.down_proj', c.intermediate, c.hidden, true));
    this.#act = activation(c.act);
  }
  forward(x: Tensor, tables: RotaryTables, lengths: readonly number[]): Tensor {
    const h = x.add(this.attn.forward(this.norm1.forward(x), tables, lengths));
    const n = this.norm2.forward(h);
    return h.add(this.down.forward(this.#act(this.gate.forward(n)).mul(this.up.forward(n))));
  }
}

/** Qwen2-VL's block: LayerNorm (ε 1e-6), attention, LayerNorm, fc2(act(fc1(x))). */
class MlpBlock extends Module {
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly attn: VisionAttention;
  readonly fc1: LoraLinear;
  readonly fc2: LoraLinear;
  readonly #act: (x: Tensor) => Tensor;
  constructor(w: WeightSource, c: QwenVisionConfig) {
    super();
    this.norm1 = this.module('norm1', w.layerNorm('norm1', c.hidden, 1e-6));
    this.norm2 = this.module('norm2', w.layerNorm('norm2', c.hidden, 1e-6));
    this.attn = this.module('attn', new VisionAttention(w.at('attn'), c.hidden, c.heads));
    this.fc1 = this.module('mlp.fc1', w.linear('mlp.fc1', c.hidden, c.intermediate, true));
    this.fc2 = this.module('mlp.fc2', w.linear('mlp.fc2', c.intermediate, c.hidden, true));
    this.#act = activation(c.act);
  }
  forward(x: Tensor, tables: RotaryTables, lengths: readonly number[]): Tensor {
    const h = x.add(this.attn.forward(this.norm1.forward(x), tables, lengths));
    return h.add(this.fc2.forward(this.#act(this.fc1.forward(this.norm2.forward(h)))));
  }
}

export class VisionTower extends Module {
  readonly patchWeight: Tensor;
  readonly blocks: (SwiGluBlock | MlpBlock)[];

  constructor(w: WeightSource, readonly c: QwenVisionConfig) {
    super();
    this.patchWeight = this.param('patch_embed.proj.weight',
      w.tensor('patch_embed.proj.weight', [c.hidden, c.channels, c.temporalPatchSize, c.patchSize, c.patchSize]));
    const Block = c.style === 'rms-swiglu' ? SwiGluBlock : MlpBlock;
    this.blocks = Array.from({ length: c.depth }, (_, i) => this.module(`blocks.${i}`, new Block(w.at(`blocks.${i}`), c)));
  }

  /** The values of one patch: channels x frames x patch x patch, as the image processor flattens them. */
  get patchDim(): number { return this.c.channels * this.c.temporalPatchSize * this.c.patchSize ** 2; }

  /**
   * The last block's output for the images' patches ([N, patchDim] in, [N, D] out), in window
   * order when the tower attends in windows; `restore` [N / merge²] puts merged units back in
   * image order (null when nothing was reordered).
   */
  encode(pixels: Tensor, grids: readonly ImageGrid[]): { hidden: Tensor; restore: Tensor | null } {
    const { mergeSize: merge, window } = this.c;
    const unit = merge * merge;
    const n = pixels.size(0);
    const expected = grids.reduce((s, g) => s + g.t * g.h * g.w, 0);
    if (n !== expected || pixels.size(1) !== this.patchDim) {
      throw new RangeError(`pixel values [${pixels.shape}] do not fit the grids (${expected} patches of ${this.patchDim} values)`);
    }
    let h = linear(pixels.to(this.patchWeight.dtype), this.patchWeight.view(this.c.hidden, -1));
    let angles = this.#angles(grids, h.device);
    const full = frameLengths(grids);
    let windowed: number[] | null = null;
    let restore: Tensor | null = null;
    if (window) {
      const cut = windows(grids, merge, Math.floor(window.size / merge / this.c.patchSize));
      const order = tensor(cut.order, [cut.order.length], 'int64', h.device);
      const byUnit = (x: Tensor) => x.view(n / unit, unit, -1).indexSelect(0, order).view(n, -1);
      h = byUnit(h);
      angles = byUnit(angles);
      windowed = cut.lengths;
      restore = tensor(inverse(cut.order), [cut.order.length], 'int64', h.device);
    }
    const tables = anglesToTables(angles, 'float32');
    this.blocks.forEach((block, i) => {
      const lengths = windowed && !window!.fullAttentionBlocks.includes(i) ? windowed : full;
      const input = h;
      h = scope(() => block.forward(input, tables, lengths));
    });
    return { hidden: h, restore };
  }

  /** The rotary angles of each patch: its row's, then its column's, at head width / 4 frequencies each. [N, head width / 2] */
  #angles(grids: readonly ImageGrid[], device: string): Tensor {
    const headDim = this.c.hidden / this.c.heads;
    const inv = inverseFrequencies(headDim / 2, this.c.ropeTheta, device);
    const { rows, columns } = patchPositions(grids, this.c.mergeSize);
    const at = (p: number[]) => tensor(p, [p.length, 1], 'float32', device).mul(inv);
    return cat([at(rows), at(columns)], -1);
  }
}

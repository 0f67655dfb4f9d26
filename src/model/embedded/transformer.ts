import { Module, Embedding, LayerNorm, Tensor, ones, arange } from '../../torch/index.ts';
import { LoraLinear } from '../lora.ts';

export interface TransformerConfig {
  vocabSize: number;
  dModel: number;
  layers: number;
  heads: number;
  /** hidden width of the MLP as a multiple of dModel */
  mlpRatio: number;
  /** longest sequence (positions), image tokens included */
  maxSeq: number;
  dropout: number;
}

/** Multi-head causal self-attention, written out (no fused kernel) so every step is visible. */
export class CausalSelfAttention extends Module {
  readonly qkv: LoraLinear;
  readonly proj: LoraLinear;
  constructor(readonly config: TransformerConfig) {
    super();
    this.qkv = this.module('qkv', new LoraLinear(config.dModel, 3 * config.dModel));
    this.proj = this.module('proj', new LoraLinear(config.dModel, config.dModel));
  }

  /** x: [B, T, D]; mask: [T, T] or [B, 1, T, T] bool, true where a position may not look. */
  forward(x: Tensor, mask: Tensor): Tensor {
    const [batch, time, dim] = x.shape as [number, number, number];
    const heads = this.config.heads;
    const headDim = dim / heads;
    // [B, T, 3D] -> [3, B, H, T, hd]
    const qkv = this.qkv.forward(x).view(batch, time, 3, heads, headDim).permute(2, 0, 3, 1, 4);
    const q = qkv.narrow(0, 0, 1).squeeze(0);
    const k = qkv.narrow(0, 1, 1).squeeze(0);
    const v = qkv.narrow(0, 2, 1).squeeze(0);
    const scores = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(headDim)).maskedFill(mask, -Infinity);
    const attention = scores.softmax(-1).dropout(this.config.dropout, this.training);
    const out = attention.matmul(v).transpose(1, 2).reshape(batch, time, dim);
    return this.proj.forward(out).dropout(this.config.dropout, this.training);
  }
}

export class FeedForward extends Module {
  readonly fc: LoraLinear;
  readonly proj: LoraLinear;
  constructor(readonly config: TransformerConfig) {
    super();
    this.fc = this.module('fc', new LoraLinear(config.dModel, config.mlpRatio * config.dModel));
    this.proj = this.module('proj', new LoraLinear(config.mlpRatio * config.dModel, config.dModel));
  }
  forward(x: Tensor): Tensor {
    return this.proj.forward(this.fc.forward(x).gelu()).dropout(this.config.dropout, this.training);
  }
}

/** Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x)). */
export class Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln2: LayerNorm;
  readonly mlp: FeedForward;
  constructor(config: TransformerConfig) {
    super();
    this.ln1 = this.module('ln1', new LayerNorm(config.dModel));
    this.attn = this.module('attn', new CausalSelfAttention(config));
    this.ln2 = this.module('ln2', new LayerNorm(config.dModel));
    this.mlp = this.module('mlp', new FeedForward(config));
  }
  forward(x: Tensor, mask: Tensor): Tensor {
    const h = x.add(this.attn.forward(this.ln1.forward(x), mask));
    return h.add(this.mlp.forward(this.ln2.forward(h)));
  }
}

/** Decoder-only language model (GPT-2 shape) that also accepts ready-made input embeddings. */
export class Transformer extends Module {
  readonly tokens: Embedding;
  readonly positions: Embedding;
  readonly blocks: Block[];
  readonly lnFinal: LayerNorm;
  readonly head: LoraLinear;

  constructor(readonly config: TransformerConfig) {
    super();
    if (config.dModel % config.heads !== 0) throw new RangeError(`dModel ${config.dModel} is not divisible by heads ${config.heads}`);
    this.tokens = this.module('tokens', new Embedding(config.vocabSize, config.dModel, { std: 0.02 }));
    this.positions = this.module('positions', new Embedding(config.maxSeq, config.dModel, { std: 0.02 }));
    this.blocks = Array.from({ length: config.layers }, (_, i) => this.module(`blocks.${i}`, new Block(config)));
    this.lnFinal = this.module('ln_final', new LayerNorm(config.dModel));
    this.head = this.module('head', new LoraLinear(config.dModel, config.vocabSize, { bias: false }));
  }

  /** Token ids [B, T] (int64) -> embeddings [B, T, D]. */
  embed(ids: Tensor): Tensor { return this.tokens.forward(ids); }

  /**
   * Embeddings [B, T, D] -> next-token logits [B, T, V]. By default position t is at t and sees
   * positions <= t; packed sequences pass their own positions [B, T] and mask [B, 1, T, T].
   */
  forwardEmbeddings(x: Tensor, layout: { positions: Tensor; mask: Tensor } | null = null): Tensor {
    return this.head.forward(this.lnFinal.forward(this.residualAfter(x, this.blocks.length - 1, layout)));
  }

  /**
   * Embeddings [B, T, D] -> the residual stream after block `layer` (0-based), [B, T, D], before the final norm.
   * The blocks above it do not run. Layout as forwardEmbeddings.
   */
  residualAfter(x: Tensor, layer: number, layout: { positions: Tensor; mask: Tensor } | null = null): Tensor {
    const time = x.size(1);
    if (!layout && time > this.config.maxSeq) throw new RangeError(`sequence of ${time} positions exceeds maxSeq ${this.config.maxSeq}`);
    const mask = layout?.mask ?? ones([time, time], 'bool', x.device).triu(1);
    const positions = layout?.positions ?? arange(0, time, 1, 'int64', x.device);
    let h = x.add(this.positions.forward(positions)).dropout(this.config.dropout, this.training);
    for (const block of this.blocks.slice(0, layer + 1)) h = block.forward(h, mask);
    return h;
  }

  forward(ids: Tensor): Tensor { return this.forwardEmbeddings(this.embed(ids)); }

  /** Every linear layer that can take a LoRA adapter, by name. */
  loraTargets(): [string, LoraLinear][] {
    return this.namedModules().filter((entry): entry is [string, LoraLinear] => entry[1] instanceof LoraLinear);
  }
}

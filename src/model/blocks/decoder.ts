import { Module, cat, arange, scalarPow, type Embedding, type Tensor } from '../../torch/index.ts';
import type { LoraLinear } from '../lora.ts';
import { attend, mergeHeads, splitHeads } from './attention.ts';
import type { WeightSource } from '../hf/source.ts';

/**
 * The decoder of transformers' LlamaModel and Qwen2Model (LLaVA-1.5's Vicuna, Qwen2-VL's and
 * Qwen2.5-VL's language model): pre-norm layers with RMSNorm, rotary position embeddings,
 * grouped-query attention and a SiLU-gated MLP. They differ in their biases (Llama: none unless
 * the config asks; Qwen2: on q, k and v only) and in their rotary positions, which the caller
 * computes (1-D for Llama, M-RoPE for Qwen2-VL) and passes in as cos/sin tables.
 */

export interface DecoderConfig {
  vocabSize: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** max_position_embeddings: the longest sequence the model is made for; pulse refuses longer ones */
  maxPositions: number;
  /** a bias on the q, k and v projections */
  qkvBias: boolean;
  /** a bias on o_proj */
  outputBias: boolean;
  mlpBias: boolean;
}

/** RMSNorm(x) = w · (x / √(mean(x²) + ε)), computed in float32 and cast back before the scale, as transformers does. */
export class RmsNorm extends Module {
  readonly weight: Tensor;
  constructor(w: WeightSource, name: string, readonly dim: number, readonly eps: number) {
    super();
    this.weight = this.param('weight', w.tensor(`${name}.weight`, [dim]));
  }
  forward(x: Tensor): Tensor {
    const x32 = x.float();
    const normed = x32.mul(x32.pow(2).mean(-1, true).add(this.eps).rsqrt());
    return this.weight.mul(normed.to(x.dtype));
  }
}

/** The rotary frequencies θ^(-2i/d) for i < d/2, float32, [d/2]. */
export function inverseFrequencies(headDim: number, theta: number, device: string): Tensor {
  const exponents = arange(0, headDim, 2, 'int64', device).float().div(headDim);
  return scalarPow(theta, exponents).pow(-1);
}

/** cos and sin of rotary angles [.., d/2] (float32), repeated for both halves and cast to `dtype`: [.., d] each. */
export function anglesToTables(angles: Tensor, dtype: string): RotaryTables {
  const both = cat([angles, angles], -1);
  return { cos: both.cos().to(dtype as 'float32'), sin: both.sin().to(dtype as 'float32') };
}

/**
 * cos and sin of the rotary angles for `positions` [B, T] (int64): angle = position · θ^(-2i/d)
 * for i < d/2, repeated for both halves, computed in float32 and cast to `dtype`. [B, T, d] each.
 */
export function rotaryTables(positions: Tensor, headDim: number, theta: number, dtype: string): RotaryTables {
  return anglesToTables(positions.float().unsqueeze(-1).mul(inverseFrequencies(headDim, theta, positions.device)), dtype);
}

export interface RotaryTables { cos: Tensor; sin: Tensor }

/** rotate_half(x) = [-x₂, x₁] for the halves x₁, x₂ of the last dimension. */
export function rotateHalf(x: Tensor): Tensor {
  const half = x.size(-1) / 2;
  return cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
}

/** x·cos + rotate_half(x)·sin, the tables broadcast over heads. x: [B, H, T, d] */
export function rotate(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return x.mul(cos).add(rotateHalf(x).mul(sin));
}

/** [B, Hkv, T, d] -> [B, Hkv·groups, T, d], each key/value head serving `groups` query heads. */
function repeatKv(x: Tensor, groups: number): Tensor {
  if (groups === 1) return x;
  const [b, h, t, d] = x.shape as [number, number, number, number];
  return x.unsqueeze(2).expand(b, h, groups, t, d).reshape(b, h * groups, t, d);
}

export interface DecoderContext extends RotaryTables {
  /** [B, 1, T, T] bool, causal and not padding; 'causal' when no row is padded (the fused kernels' fast path) */
  allowed: Tensor | 'causal';
}

class DecoderAttention extends Module {
  readonly q: LoraLinear;
  readonly k: LoraLinear;
  readonly v: LoraLinear;
  readonly o: LoraLinear;
  constructor(w: WeightSource, readonly c: DecoderConfig) {
    super();
    const kv = c.kvHeads * c.headDim;
    this.q = this.module('q_proj', w.linear('q_proj', c.hidden, c.heads * c.headDim, c.qkvBias));
    this.k = this.module('k_proj', w.linear('k_proj', c.hidden, kv, c.qkvBias));
    this.v = this.module('v_proj', w.linear('v_proj', c.hidden, kv, c.qkvBias));
    this.o = this.module('o_proj', w.linear('o_proj', c.heads * c.headDim, c.hidden, c.outputBias));
  }
  forward(x: Tensor, ctx: DecoderContext): Tensor {
    const { heads, kvHeads } = this.c;
    const cos = ctx.cos.unsqueeze(1);
    const sin = ctx.sin.unsqueeze(1);
    const q = rotate(splitHeads(this.q.forward(x), heads), cos, sin);
    const k = repeatKv(rotate(splitHeads(this.k.forward(x), kvHeads), cos, sin), heads / kvHeads);
    const v = repeatKv(splitHeads(this.v.forward(x), kvHeads), heads / kvHeads);
    return this.o.forward(mergeHeads(attend(q, k, v, ctx.allowed)));
  }
}

class GatedMlp extends Module {
  readonly gate: LoraLinear;
  readonly up: LoraLinear;
  readonly down: LoraLinear;
  constructor(w: WeightSource, c: DecoderConfig) {
    super();
    this.gate = this.module('gate_proj', w.linear('gate_proj', c.hidden, c.intermediate, c.mlpBias));
    this.up = this.module('up_proj', w.linear('up_proj', c.hidden, c.intermediate, c.mlpBias));
    this.down = this.module('down_proj', w.linear('down_proj', c.intermediate, c.hidden, c.mlpBias));
  }
  /** down(silu(gate(x)) ⊙ up(x)) */
  forward(x: Tensor): Tensor { return this.down.forward(this.gate.forward(x).silu().mul(this.up.forward(x))); }
}

export class DecoderLayer extends Module {
  readonly attention: DecoderAttention;
  readonly mlp: GatedMlp;
  readonly inputNorm: RmsNorm;
  readonly postAttentionNorm: RmsNorm;
  constructor(w: WeightSource, c: DecoderConfig) {
    super();
    this.attention = this.module('self_attn', new DecoderAttention(w.at('self_attn'), c));
    this.mlp = this.module('mlp', new GatedMlp(w.at('mlp'), c));
    this.inputNorm = this.module('input_layernorm', new RmsNorm(w, 'input_layernorm', c.hidden, c.rmsNormEps));
    this.postAttentionNorm = this.module('post_attention_layernorm', new RmsNorm(w, 'post_attention_layernorm', c.hidden, c.rmsNormEps));
  }
  forward(x: Tensor, ctx: DecoderContext): Tensor {
    const h = x.add(this.attention.forward(this.inputNorm.forward(x), ctx));
    return h.add(this.mlp.forward(this.postAttentionNorm.forward(h)));
  }
}

/** Embeddings, decoder layers and the final norm (transformers' LlamaModel / Qwen2Model; the head lives beside it). */
export class DecoderStack extends Module {
  readonly embedTokens: Embedding;
  readonly layers: DecoderLayer[];
  readonly norm: RmsNorm;
  constructor(w: WeightSource, readonly c: DecoderConfig) {
    super();
    this.embedTokens = this.module('embed_tokens', w.embedding('embed_tokens', c.vocabSize, c.hidden));
    this.layers = Array.from({ length: c.layers }, (_, i) => this.module(`layers.${i}`, new DecoderLayer(w.at(`layers.${i}`), c)));
    this.norm = this.module('norm', new RmsNorm(w, 'norm', c.hidden, c.rmsNormEps));
  }

  /** Causal attention over real tokens: [B, 1, T, T] bool from a [B, T] 0/1 mask. */
  static allowedKeys(attentionMask: Tensor): Tensor {
    const t = attentionMask.size(1);
    const ids = arange(0, t, 1, 'int64', attentionMask.device);
    const causal = ids.view(1, t).le(ids.view(t, 1));
    return causal.view(1, 1, t, t).logicalAnd(attentionMask.ne(0).view(attentionMask.size(0), 1, 1, t));
  }

  /** The layers' context: the rotary tables of the pass's positions, and causal attention over its real tokens. */
  context(tables: RotaryTables, attentionMask: Tensor): DecoderContext {
    const padded = attentionMask.eq(0).sum().item() > 0;
    return { ...tables, allowed: padded ? DecoderStack.allowedKeys(attentionMask) : 'causal' };
  }
}

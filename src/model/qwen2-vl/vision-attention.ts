import { Module, cat, tensor, zeros, type Tensor } from '../../torch/index.ts';
import type { LoraLinear } from '../lora.ts';
import { attend } from '../blocks/attention.ts';
import { rotateHalf, type RotaryTables } from '../blocks/decoder.ts';
import type { WeightSource } from '../hf/source.ts';

/**
 * The vision tower's attention (transformers' VisionAttention / Qwen2_5_VLVisionAttention): a
 * fused qkv projection with bias, 2-D rotary embeddings on q and k (in float32), attention
 * within segments of consecutive patches (an image's frame, or a window), an output projection.
 */
export class VisionAttention extends Module {
  readonly qkv: LoraLinear;
  readonly proj: LoraLinear;
  constructor(w: WeightSource, readonly dim: number, readonly heads: number) {
    super();
    this.qkv = this.module('qkv', w.linear('qkv', dim, 3 * dim, true));
    this.proj = this.module('proj', w.linear('proj', dim, dim, true));
  }

  /** x: [N, D]; tables: [N, head width] float32; lengths: the segments' sizes, summing to N. */
  forward(x: Tensor, tables: RotaryTables, lengths: readonly number[]): Tensor {
    const n = x.size(0);
    const d = this.dim / this.heads;
    const qkv = this.qkv.forward(x).view(n, 3, this.heads, d);
    const [q, k, v] = [0, 1, 2].map((i) => qkv.narrow(1, i, 1).squeeze(1)) as [Tensor, Tensor, Tensor];
    const out = segmentAttention(rotateVision(q, tables), rotateVision(k, tables), v, lengths);
    return this.proj.forward(out.reshape(n, this.dim));
  }
}

/** x·cos + rotate_half(x)·sin in float32, cast back (apply_rotary_pos_emb_vision). x: [N, H, d], tables [N, d]. */
function rotateVision(x: Tensor, { cos, sin }: RotaryTables): Tensor {
  const x32 = x.float();
  return x32.mul(cos.unsqueeze(1)).add(rotateHalf(x32).mul(sin.unsqueeze(1))).to(x.dtype);
}

/**
 * softmax(q kᵀ / √d) v within each segment of consecutive rows ([N, H, d] in and out), as
 * transformers runs one attention per segment. The segments are gathered into a [S, H, L, d]
 * batch padded to the longest (L), keys past a segment's end masked: the cost is S·L², not N².
 * Padding rows attend to everything (zeros), so that no row's softmax is empty; they are dropped.
 */
export function segmentAttention(q: Tensor, k: Tensor, v: Tensor, lengths: readonly number[]): Tensor {
  const [n, heads, d] = q.shape as [number, number, number];
  const segments = lengths.filter((l) => l > 0);
  const longest = Math.max(...segments);
  if (segments.length === 1 || segments.every((l) => l === longest)) {
    const batch = (x: Tensor) => x.reshape(segments.length, longest, heads, d).transpose(1, 2);
    return attend(batch(q), batch(k), batch(v), null).transpose(1, 2).reshape(n, heads, d);
  }
  const gather: number[] = [];
  const valid: number[] = [];
  const real: boolean[] = [];
  let start = 0;
  segments.forEach((length, s) => {
    for (let i = 0; i < longest; i++) {
      gather.push(i < length ? start + i : n);
      real.push(i < length);
      if (i < length) valid.push(s * longest + i);
    }
    start += length;
  });
  const device = q.device;
  const index = tensor(gather, [gather.length], 'int64', device);
  const pad = zeros([1, heads, d], q.dtype, device);
  const batch = (x: Tensor) => cat([x, pad]).indexSelect(0, index).view(segments.length, longest, heads, d).transpose(1, 2);
  const keys = tensor(real.map(Number), [segments.length, 1, 1, longest], 'bool', device);
  const allowed = keys.logicalOr(keys.view(segments.length, 1, longest, 1).logicalNot());
  const out = attend(batch(q), batch(k), batch(v), allowed).transpose(1, 2).reshape(segments.length * longest, heads, d);
  return out.indexSelect(0, tensor(valid, [valid.length], 'int64', device));
}

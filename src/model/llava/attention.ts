import type { Tensor } from '../../torch/index.ts';

/**
 * Scaled dot-product attention as transformers' eager path computes it:
 * softmax(q kᵀ · d^-½ + mask) v, the softmax in float32 and cast back to the inputs' dtype.
 * q: [B, H, T, d], k and v: [B, H, S, d]; `allowed` (bool, broadcast to [B, H, T, S]) or null.
 */
export function attend(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor | null): Tensor {
  const scores = q.matmul(k.transpose(2, 3)).mul(q.size(-1) ** -0.5);
  const masked = allowed ? scores.maskedFill(allowed.logicalNot(), lowest(scores.dtype)) : scores;
  const weights = masked.float().softmax(-1).to(q.dtype);
  return weights.matmul(v);
}

/** torch.finfo(dtype).min, what transformers fills masked scores with (not -inf: a row masked whole stays finite). */
function lowest(dtype: string): number {
  if (dtype === 'float16') return -65504;
  if (dtype === 'bfloat16') return -3.3895313892515355e38;
  return -3.4028234663852886e38;
}

/** [B, T, H·d] -> [B, H, T, d] */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, t, width] = x.shape as [number, number, number];
  return x.view(b, t, heads, width / heads).transpose(1, 2);
}

/** [B, H, T, d] -> [B, T, H·d] */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, d] = x.shape as [number, number, number, number];
  return x.transpose(1, 2).reshape(b, t, h * d);
}

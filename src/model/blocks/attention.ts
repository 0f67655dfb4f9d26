import { attention, type Tensor } from '../../torch/index.ts';

/**
 * Scaled dot-product attention as transformers computes it: softmax(q kᵀ · d^-½ + mask) v, the
 * softmax in float32 and cast back to the inputs' dtype (fused kernels on libtorch >= 2.1).
 * q: [B, H, T, d], k and v: [B, H, S, d]; `allowed` (bool, broadcast to [B, H, T, S]), 'causal' or null.
 */
export function attend(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor | 'causal' | null): Tensor {
  return attention(q, k, v, allowed, q.size(-1) ** -0.5);
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

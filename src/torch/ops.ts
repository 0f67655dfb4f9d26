import { native } from './native.ts';
import { Tensor, type Dtype, type TensorLike } from './tensor.ts';

/** Default device for new tensors; set once from the CLI (`cpu` or `cuda`). */
let defaultDevice = 'cpu';
export function setDefaultDevice(device: string): void { defaultDevice = device; }
export function getDefaultDevice(): string { return defaultDevice; }

type Data = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | number[];

/**
 * A tensor from JS data. Float32Array -> float32, Float64Array -> float64, BigInt64Array -> int64, Int32Array -> int64
 * (indices are int64 in libtorch), Uint8Array -> uint8 unless dtype says bool, number[] -> dtype
 * (default float32).
 */
export function tensor(data: Data, shape?: number[], dtype?: Dtype, device = defaultDevice): Tensor {
  const dims = shape ?? [data.length];
  if (Array.isArray(data)) {
    const type = dtype ?? 'float32';
    if (type === 'int64') return tensor(BigInt64Array.from(data, (v) => BigInt(Math.trunc(v))), dims, 'int64', device);
    if (type === 'bool' || type === 'uint8') return tensor(Uint8Array.from(data, (v) => (type === 'bool' ? (v ? 1 : 0) : v)), dims, type, device);
    const floats = tensor(Float32Array.from(data), dims, 'float32', device);
    if (type === 'float32') return floats;
    const converted = floats.to(type);
    floats.dispose();
    return converted;
  }
  if (data instanceof Int32Array) {
    return tensor(BigInt64Array.from(data, (v) => BigInt(v)), dims, 'int64', device);
  }
  const type: Dtype = data instanceof Float32Array ? 'float32' : data instanceof Float64Array ? 'float64' : data instanceof BigInt64Array ? 'int64' : dtype === 'bool' ? 'bool' : 'uint8';
  return new Tensor(native.fromBytes(data, type, dims, device === 'cpu' ? undefined : device));
}

export function fromBytes(bytes: Uint8Array, dtype: Dtype, shape: number[], device = defaultDevice): Tensor {
  return new Tensor(native.fromBytes(bytes, dtype, shape, device === 'cpu' ? undefined : device));
}
export const zeros = (shape: number[], dtype: Dtype = 'float32', device = defaultDevice) => new Tensor(native.zeros(shape, dtype, device));
export const ones = (shape: number[], dtype: Dtype = 'float32', device = defaultDevice) => new Tensor(native.ones(shape, dtype, device));
export const full = (shape: number[], value: number, dtype: Dtype = 'float32', device = defaultDevice) => new Tensor(native.full(shape, value, dtype, device));
/** Standard normal samples from libtorch's generator (seeded by manualSeed). */
export const randn = (shape: number[], device = defaultDevice) => new Tensor(native.randn(shape, 'float32', device));
export const rand = (shape: number[], device = defaultDevice) => new Tensor(native.rand(shape, 'float32', device));
export const randint = (low: number, high: number, shape: number[], device = defaultDevice) => new Tensor(native.randint(low, high, shape, 'int64', device));
export const arange = (start: number, end: number, step = 1, dtype: Dtype = 'int64', device = defaultDevice) => new Tensor(native.arange(start, end, step, dtype, device));
export const zerosLike = (t: Tensor) => new Tensor(native.zerosLike(t.handle));
export const onesLike = (t: Tensor) => new Tensor(native.onesLike(t.handle));

export const cat = (ts: Tensor[], dim = 0) => new Tensor(native.cat(ts.map((t) => t.handle), dim));
export const stack = (ts: Tensor[], dim = 0) => new Tensor(native.stack(ts.map((t) => t.handle), dim));
/** cond ? a : b elementwise; a number operand takes the other operand's dtype and device (float32 if both are numbers). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const like = typeof a === 'number' ? (typeof b === 'number' ? undefined : b) : a;
  const asTensor = (x: TensorLike): Tensor => (typeof x === 'number' ? full([], x, like?.dtype ?? 'float32', like?.device ?? cond.device) : x);
  const ta = asTensor(a);
  const tb = asTensor(b);
  try {
    return new Tensor(native.where(cond.handle, ta.handle, tb.handle));
  } finally {
    if (ta !== a) ta.dispose();
    if (tb !== b) tb.dispose();
  }
}

/** base ** t, elementwise, for a scalar base. */
export const scalarPow = (base: number, t: Tensor) => new Tensor(native.scalarPow(base, t.handle));

// --- layers as functions (the nn modules call these) ---
/**
 * softmax(q kᵀ · scale + mask) v with the softmax in float32; q [.., T, d], k and v [.., S, d]. The
 * mask: `allowed`, a bool tensor broadcast to [.., T, S] (false = masked), or 'causal' (each query
 * sees the keys up to its own position), or null. Fused on libtorch >= 2.1.
 */
export const attention = (q: Tensor, k: Tensor, v: Tensor, allowed: Tensor | 'causal' | null, scale: number) =>
  new Tensor(native.attention(q.handle, k.handle, v.handle, allowed instanceof Tensor ? allowed.handle : undefined, scale, allowed === 'causal'));
export const linear = (x: Tensor, weight: Tensor, bias?: Tensor) => new Tensor(native.linear(x.handle, weight.handle, bias?.handle));
export const embedding = (weight: Tensor, indices: Tensor) => new Tensor(native.embedding(weight.handle, indices.handle));
export const layerNorm = (x: Tensor, normalizedShape: number[], weight?: Tensor, bias?: Tensor, eps = 1e-5) =>
  new Tensor(native.layerNorm(x.handle, normalizedShape, weight?.handle, bias?.handle, eps));
export const conv2d = (x: Tensor, weight: Tensor, bias?: Tensor, stride = 1, padding = 0) =>
  new Tensor(native.conv2d(x.handle, weight.handle, bias?.handle, stride, padding));
export const maxPool2d = (x: Tensor, kernel: number, stride = kernel) => new Tensor(native.maxPool2d(x.handle, kernel, stride));
export const avgPool2d = (x: Tensor, kernel: number, stride = kernel) => new Tensor(native.avgPool2d(x.handle, kernel, stride));

// --- losses ---
/**
 * Cross-entropy of logits [N, C] against class indices [N] (int64):
 * loss_i = -log softmax(logits_i)[target_i]; targets equal to ignoreIndex contribute nothing and
 * are left out of the mean.
 */
export const crossEntropy = (logits: Tensor, targets: Tensor, ignoreIndex = -100, reduction: 'mean' | 'sum' | 'none' = 'mean') =>
  new Tensor(native.crossEntropy(logits.handle, targets.handle, ignoreIndex, reduction));
/**
 * KL divergence as torch.nn.functional.kl_div: input = log q, target = p (or log p when
 * logTarget); pointwise p · (log p - log q), then reduced.
 */
export const klDiv = (input: Tensor, target: Tensor, reduction: 'mean' | 'sum' | 'none' = 'mean', logTarget = false) =>
  new Tensor(native.klDiv(input.handle, target.handle, reduction, logTarget));

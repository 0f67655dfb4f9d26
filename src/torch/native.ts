import { createRequire } from 'node:module';
import { PulseError } from '../errors.ts';
import { PACKAGE_ADDON, locateAddon } from '../setup/addon-files.ts';

/**
 * The id of one libtorch tensor in the addon's registry (native/tensor.cc). Ids are never reused,
 * so a stale id fails with "used after dispose()" instead of reaching another tensor.
 */
export type NativeTensor = number & { readonly __brand: 'NativeTensor' };
export interface NativeAdamW {
  step(): void;
  zeroGrad(): void;
  setLr(lr: number): void;
  dispose(): void;
}
export type NativeDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'uint8' | 'bool';
type H = NativeTensor;

/** The functions the C++ addon (native/*.cc) exports; names and argument order match it. */
export interface NativeAddon {
  version(): string;
  cudaAvailable(): boolean;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  setGradEnabled(enabled: boolean): void;
  isGradEnabled(): boolean;
  setDeterministic(on: boolean): void;
  liveTensors(): number;
  AdamW: new (params: H[], lr: number, beta1: number, beta2: number, eps: number, weightDecay: number) => NativeAdamW;
  clipGradNorm(params: H[], maxNorm: number): number;

  /** False when the id was already freed. */
  dispose(t: H): boolean;
  /** reports a tensor's bytes to V8 as external memory (once): for tensors no scope will dispose */
  account(t: H): boolean;
  /** the bytes reported to V8 by account() and not yet released */
  accountedBytes(): number;
  isDisposed(t: H): boolean;
  shape(t: H): number[];
  dtype(t: H): NativeDtype;
  device(t: H): string;
  numel(t: H): number;
  requiresGrad(t: H): boolean;
  setRequiresGrad(t: H, on: boolean): void;
  grad(t: H): H | null;
  zeroGrad(t: H): void;
  backward(t: H, gradient?: H): void;
  item(t: H): number;
  toArray(t: H): Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
  toBytes(t: H): Uint8Array;

  fromBytes(bytes: ArrayBufferView, dtype: NativeDtype, shape: number[], device?: string): H;
  zeros(shape: number[], dtype?: NativeDtype, device?: string): H;
  ones(shape: number[], dtype?: NativeDtype, device?: string): H;
  full(shape: number[], value: number, dtype?: NativeDtype, device?: string): H;
  randn(shape: number[], dtype?: NativeDtype, device?: string): H;
  rand(shape: number[], dtype?: NativeDtype, device?: string): H;
  randint(low: number, high: number, shape: number[], dtype?: NativeDtype, device?: string): H;
  randperm(n: number): H;
  arange(start: number, end: number, step?: number, dtype?: NativeDtype, device?: string): H;
  zerosLike(t: H): H;
  onesLike(t: H): H;
  to(t: H, dtype?: NativeDtype, device?: string): H;
  detach(t: H): H;
  clone(t: H): H;
  contiguous(t: H): H;
  copy_(dst: H, src: H): void;
  add_(dst: H, src: H, alpha?: number): void;
  mul_(dst: H, factor: number): void;
  zero_(t: H): void;
  normal_(t: H, mean?: number, std?: number): void;
  uniform_(t: H, low: number, high: number): void;
  fill_(t: H, value: number): void;

  add(a: H, b: H, alpha?: number): H;
  sub(a: H, b: H, alpha?: number): H;
  mul(a: H, b: H): H;
  div(a: H, b: H): H;
  pow(a: H, b: H): H;
  maximum(a: H, b: H): H;
  minimum(a: H, b: H): H;
  addScalar(a: H, b: number, alpha?: number): H;
  subScalar(a: H, b: number, alpha?: number): H;
  mulScalar(a: H, b: number): H;
  divScalar(a: H, b: number): H;
  powScalar(a: H, b: number): H;
  scalarPow(base: number, t: H): H;
  maximumScalar(a: H, b: number): H;
  minimumScalar(a: H, b: number): H;
  neg(a: H): H; exp(a: H): H; log(a: H): H; sqrt(a: H): H; rsqrt(a: H): H; abs(a: H): H; sign(a: H): H;
  clamp(a: H, min?: number | null, max?: number | null): H;
  relu(a: H): H; tanh(a: H): H; sigmoid(a: H): H; logSigmoid(a: H): H; silu(a: H): H; cos(a: H): H; sin(a: H): H;
  gelu(a: H, tanhApproximation?: boolean): H;
  softplus(a: H, beta?: number, threshold?: number): H;
  softmax(a: H, dim: number): H;
  logSoftmax(a: H, dim: number): H;
  dropout(a: H, p: number, train: boolean): H;
  isFinite(a: H): H;
  eq(a: H, b: H): H; ne(a: H, b: H): H; gt(a: H, b: H): H; ge(a: H, b: H): H; lt(a: H, b: H): H; le(a: H, b: H): H;
  eqScalar(a: H, b: number): H; neScalar(a: H, b: number): H; gtScalar(a: H, b: number): H;
  geScalar(a: H, b: number): H; ltScalar(a: H, b: number): H; leScalar(a: H, b: number): H;
  logicalAnd(a: H, b: H): H; logicalOr(a: H, b: H): H; logicalNot(a: H): H;
  where(cond: H, a: H, b: H): H;
  maskedFill(a: H, mask: H, value: number): H;
  triu(a: H, diagonal?: number): H;
  tril(a: H, diagonal?: number): H;
  sum(a: H, dims?: number[], keepdim?: boolean): H;
  mean(a: H, dims?: number[], keepdim?: boolean): H;
  max(a: H, dim?: number, keepdim?: boolean): H;
  min(a: H, dim?: number, keepdim?: boolean): H;
  argmax(a: H, dim?: number, keepdim?: boolean): H;
  logsumexp(a: H, dims: number[], keepdim?: boolean): H;
  norm(a: H): H;
  reshape(a: H, shape: number[]): H;
  view(a: H, shape: number[]): H;
  permute(a: H, dims: number[]): H;
  transpose(a: H, d0: number, d1: number): H;
  squeeze(a: H, dim?: number): H;
  unsqueeze(a: H, dim: number): H;
  expand(a: H, shape: number[]): H;
  repeat(a: H, repeats: number[]): H;
  flatten(a: H, start?: number, end?: number): H;
  narrow(a: H, dim: number, start: number, length: number): H;
  cat(ts: H[], dim?: number): H;
  stack(ts: H[], dim?: number): H;
  indexSelect(a: H, dim: number, index: H): H;
  gather(a: H, dim: number, index: H): H;
  matmul(a: H, b: H): H;
  attention(q: H, k: H, v: H, allowed: H | undefined, scale: number, causal: boolean): H;
  linear(x: H, weight: H, bias?: H): H;
  embedding(weight: H, indices: H): H;
  layerNorm(x: H, normalizedShape: number[], weight?: H, bias?: H, eps?: number): H;
  conv2d(x: H, weight: H, bias?: H, stride?: number, padding?: number): H;
  maxPool2d(x: H, kernel: number, stride?: number): H;
  avgPool2d(x: H, kernel: number, stride?: number): H;
  crossEntropy(logits: H, targets: H, ignoreIndex?: number, reduction?: 'mean' | 'sum' | 'none'): H;
  klDiv(input: H, target: H, reduction?: 'mean' | 'sum' | 'none', logTarget?: boolean): H;
}

function load(): NativeAddon {
  const addonPath = locateAddon();
  if (!addonPath) throw new PulseError(`the libtorch addon is not built (no ${PACKAGE_ADDON}, and none in the cache for this install): run \`npx pulse setup\``);
  return createRequire(import.meta.url)(addonPath) as NativeAddon;
}

export const native: NativeAddon = load();

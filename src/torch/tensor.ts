import { native, type NativeDtype, type NativeTensor } from './native.ts';

export type Dtype = NativeDtype;
export type Scalar = number;
export type TensorLike = Tensor | number;

/**
 * Tensors created while a scope() runs, innermost last. Disposal is explicit and immediate:
 * a long training loop must not wait for V8's garbage collector to free native memory it
 * cannot see.
 */
const scopes: Set<Tensor>[] = [];

/**
 * The safety net for tensors nobody disposed: when V8 collects the Tensor object, its native
 * tensor is freed. It runs only when the event loop turns, so training loops still dispose
 * explicitly (scope()); this only bounds what a forgotten tensor costs.
 */
const unreachable = new FinalizationRegistry<NativeTensor>((id) => { native.dispose(id); });

/** A libtorch tensor. Every op returns a new Tensor owned by the current scope (if any). */
export class Tensor {
  #handle: NativeTensor | null;
  #shape: number[] | undefined;

  constructor(handle: NativeTensor) {
    this.#handle = handle;
    unreachable.register(this, handle, this);
    const owner = scopes[scopes.length - 1];
    if (owner) owner.add(this);
    else native.account(handle);
  }

  get handle(): NativeTensor {
    if (this.#handle === null) throw new Error('tensor used after dispose()');
    return this.#handle;
  }
  get isDisposed(): boolean { return this.#handle === null; }
  /** Frees the native memory now. Safe to call twice. */
  dispose(): void {
    if (this.#handle === null) return;
    native.dispose(this.#handle);
    unreachable.unregister(this);
    this.#handle = null;
    for (const s of scopes) s.delete(this);
  }

  get shape(): number[] { return (this.#shape ??= native.shape(this.handle)); }
  get dtype(): Dtype { return native.dtype(this.handle); }
  get device(): string { return native.device(this.handle); }
  get numel(): number { return native.numel(this.handle); }
  get ndim(): number { return this.shape.length; }
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? s.length + dim : dim;
    const v = s[d];
    if (v === undefined) throw new RangeError(`dimension ${dim} out of range for shape [${s.join(', ')}]`);
    return v;
  }

  // --- autograd ---
  get requiresGrad(): boolean { return native.requiresGrad(this.handle); }
  setRequiresGrad(on = true): this { native.setRequiresGrad(this.handle, on); return this; }
  /** The accumulated gradient (a new handle sharing its storage), or null before backward(). */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  zeroGrad(): void { native.zeroGrad(this.handle); }
  backward(gradient?: Tensor): void { native.backward(this.handle, gradient?.handle); }
  detach(): Tensor { return new Tensor(native.detach(this.handle)); }

  // --- data out ---
  item(): number { return native.item(this.handle); }
  /** A copy of the values: Float64Array for float64, Float32Array for other float types, BigInt64Array for int64, Uint8Array for bool. */
  data(): Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array { return native.toArray(this.handle); }
  toFloat32Array(): Float32Array {
    const d = this.data();
    return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>, Number);
  }
  /** Values as plain numbers (int64 converted, exact up to 2^53). */
  toArray(): number[] {
    const d = this.data();
    return d instanceof BigInt64Array ? Array.from(d, Number) : Array.from(d as ArrayLike<number>);
  }
  toBytes(): Uint8Array { return native.toBytes(this.handle); }

  // --- conversion ---
  to(dtype?: Dtype, device?: string): Tensor { return new Tensor(native.to(this.handle, dtype, device)); }
  float(): Tensor { return this.to('float32'); }
  long(): Tensor { return this.to('int64'); }
  clone(): Tensor { return new Tensor(native.clone(this.handle)); }
  contiguous(): Tensor { return new Tensor(native.contiguous(this.handle)); }

  // --- in place (for parameters; run under noGrad) ---
  copy_(src: Tensor): this { native.copy_(this.handle, src.handle); return this; }
  add_(src: Tensor, alpha = 1): this { native.add_(this.handle, src.handle, alpha); return this; }
  mul_(factor: number): this { native.mul_(this.handle, factor); return this; }
  zero_(): this { native.zero_(this.handle); return this; }
  fill_(value: number): this { native.fill_(this.handle, value); return this; }
  normal_(mean = 0, std = 1): this { native.normal_(this.handle, mean, std); return this; }
  uniform_(low: number, high: number): this { native.uniform_(this.handle, low, high); return this; }

  // --- elementwise ---
  add(o: TensorLike, alpha = 1): Tensor { return new Tensor(typeof o === 'number' ? native.addScalar(this.handle, o, alpha) : native.add(this.handle, o.handle, alpha)); }
  sub(o: TensorLike, alpha = 1): Tensor { return new Tensor(typeof o === 'number' ? native.subScalar(this.handle, o, alpha) : native.sub(this.handle, o.handle, alpha)); }
  mul(o: TensorLike): Tensor { return this.#binary(o, native.mul, native.mulScalar); }
  div(o: TensorLike): Tensor { return this.#binary(o, native.div, native.divScalar); }
  pow(o: TensorLike): Tensor { return this.#binary(o, native.pow, native.powScalar); }
  maximum(o: TensorLike): Tensor { return this.#binary(o, native.maximum, native.maximumScalar); }
  minimum(o: TensorLike): Tensor { return this.#binary(o, native.minimum, native.minimumScalar); }
  neg(): Tensor { return new Tensor(native.neg(this.handle)); }
  exp(): Tensor { return new Tensor(native.exp(this.handle)); }
  log(): Tensor { return new Tensor(native.log(this.handle)); }
  sqrt(): Tensor { return new Tensor(native.sqrt(this.handle)); }
  rsqrt(): Tensor { return new Tensor(native.rsqrt(this.handle)); }
  abs(): Tensor { return new Tensor(native.abs(this.handle)); }
  sign(): Tensor { return new Tensor(native.sign(this.handle)); }
  clamp(min: number | null, max: number | null = null): Tensor { return new Tensor(native.clamp(this.handle, min, max)); }
  relu(): Tensor { return new Tensor(native.relu(this.handle)); }
  gelu(tanhApproximation = false): Tensor { return new Tensor(native.gelu(this.handle, tanhApproximation)); }
  tanh(): Tensor { return new Tensor(native.tanh(this.handle)); }
  sigmoid(): Tensor { return new Tensor(native.sigmoid(this.handle)); }
  logSigmoid(): Tensor { return new Tensor(native.logSigmoid(this.handle)); }
  /** x · sigmoid(x) (Llama's MLP activation) */
  silu(): Tensor { return new Tensor(native.silu(this.handle)); }
  cos(): Tensor { return new Tensor(native.cos(this.handle)); }
  sin(): Tensor { return new Tensor(native.sin(this.handle)); }
  softplus(beta = 1, threshold = 20): Tensor { return new Tensor(native.softplus(this.handle, beta, threshold)); }
  softmax(dim: number): Tensor { return new Tensor(native.softmax(this.handle, dim)); }
  logSoftmax(dim: number): Tensor { return new Tensor(native.logSoftmax(this.handle, dim)); }
  dropout(p: number, train: boolean): Tensor { return new Tensor(native.dropout(this.handle, p, train)); }
  isFinite(): Tensor { return new Tensor(native.isFinite(this.handle)); }

  // --- comparison and masks ---
  eq(o: TensorLike): Tensor { return this.#binary(o, native.eq, native.eqScalar); }
  ne(o: TensorLike): Tensor { return this.#binary(o, native.ne, native.neScalar); }
  gt(o: TensorLike): Tensor { return this.#binary(o, native.gt, native.gtScalar); }
  ge(o: TensorLike): Tensor { return this.#binary(o, native.ge, native.geScalar); }
  lt(o: TensorLike): Tensor { return this.#binary(o, native.lt, native.ltScalar); }
  le(o: TensorLike): Tensor { return this.#binary(o, native.le, native.leScalar); }
  logicalAnd(o: Tensor): Tensor { return new Tensor(native.logicalAnd(this.handle, o.handle)); }
  logicalOr(o: Tensor): Tensor { return new Tensor(native.logicalOr(this.handle, o.handle)); }
  logicalNot(): Tensor { return new Tensor(native.logicalNot(this.handle)); }
  maskedFill(mask: Tensor, value: number): Tensor { return new Tensor(native.maskedFill(this.handle, mask.handle, value)); }
  triu(diagonal = 0): Tensor { return new Tensor(native.triu(this.handle, diagonal)); }
  tril(diagonal = 0): Tensor { return new Tensor(native.tril(this.handle, diagonal)); }

  // --- reductions (no dims: over everything) ---
  sum(dims?: number | number[], keepdim = false): Tensor { return new Tensor(native.sum(this.handle, dimList(dims), keepdim)); }
  mean(dims?: number | number[], keepdim = false): Tensor { return new Tensor(native.mean(this.handle, dimList(dims), keepdim)); }
  max(dim?: number, keepdim = false): Tensor { return new Tensor(native.max(this.handle, dim, keepdim)); }
  min(dim?: number, keepdim = false): Tensor { return new Tensor(native.min(this.handle, dim, keepdim)); }
  argmax(dim?: number, keepdim = false): Tensor { return new Tensor(native.argmax(this.handle, dim, keepdim)); }
  logsumexp(dims: number | number[], keepdim = false): Tensor { return new Tensor(native.logsumexp(this.handle, typeof dims === 'number' ? [dims] : dims, keepdim)); }
  norm(): Tensor { return new Tensor(native.norm(this.handle)); }

  // --- shape ---
  reshape(...shape: number[]): Tensor { return new Tensor(native.reshape(this.handle, shape)); }
  view(...shape: number[]): Tensor { return new Tensor(native.view(this.handle, shape)); }
  permute(...dims: number[]): Tensor { return new Tensor(native.permute(this.handle, dims)); }
  transpose(d0: number, d1: number): Tensor { return new Tensor(native.transpose(this.handle, d0, d1)); }
  squeeze(dim?: number): Tensor { return new Tensor(native.squeeze(this.handle, dim)); }
  unsqueeze(dim: number): Tensor { return new Tensor(native.unsqueeze(this.handle, dim)); }
  expand(...shape: number[]): Tensor { return new Tensor(native.expand(this.handle, shape)); }
  repeat(...repeats: number[]): Tensor { return new Tensor(native.repeat(this.handle, repeats)); }
  flatten(start = 0, end = -1): Tensor { return new Tensor(native.flatten(this.handle, start, end)); }
  narrow(dim: number, start: number, length: number): Tensor { return new Tensor(native.narrow(this.handle, dim, start, length)); }
  indexSelect(dim: number, index: Tensor): Tensor { return new Tensor(native.indexSelect(this.handle, dim, index.handle)); }
  gather(dim: number, index: Tensor): Tensor { return new Tensor(native.gather(this.handle, dim, index.handle)); }

  matmul(o: Tensor): Tensor { return new Tensor(native.matmul(this.handle, o.handle)); }

  #binary(o: TensorLike, withTensor: (a: NativeTensor, b: NativeTensor) => NativeTensor, withScalar: (a: NativeTensor, b: number) => NativeTensor): Tensor {
    return new Tensor(typeof o === 'number' ? withScalar(this.handle, o) : withTensor(this.handle, o.handle));
  }

  toString(): string { return this.isDisposed ? 'Tensor(disposed)' : `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device})`; }
}

function dimList(dims: number | number[] | undefined): number[] | undefined {
  return dims === undefined ? undefined : typeof dims === 'number' ? [dims] : dims;
}

function collect(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) { out.add(value); return; }
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (value instanceof Map) { for (const v of value.values()) collect(v, out, depth + 1); return; }
  if (Array.isArray(value)) { for (const v of value) collect(v, out, depth + 1); return; }
  if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out, depth + 1);
}

/**
 * Runs fn and disposes every tensor created inside it, except the tensors it returns (found in
 * a returned Tensor, array, Map or plain object), which move to the enclosing scope.
 * Synchronous only: an async fn would let tensors of concurrent work leak into this scope.
 */
export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  scopes.push(created);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('scope() takes a synchronous function');
  } catch (error) {
    scopes.pop();
    for (const t of created) t.dispose();
    throw error;
  }
  scopes.pop();
  const kept = new Set<Tensor>();
  collect(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of created) {
    if (!kept.has(t)) t.dispose();
    else if (parent) parent.add(t);
    else native.account(t.handle);
  }
  return result;
}

/** Exempts tensors from the current scopes (e.g. parameters or caches built inside one). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  // No scope will dispose it now: V8 hears of its memory, so that a forgotten one prompts a GC.
  if (!t.isDisposed) native.account(t.handle);
  return t;
}

/** Runs fn with autograd off (evaluation, in-place parameter updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = native.isGradEnabled();
  native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Disposes every tensor in a value (Tensor, array, Map, plain object). */
export function disposeAll(value: unknown): void {
  const found = new Set<Tensor>();
  collect(value, found);
  for (const t of found) t.dispose();
}

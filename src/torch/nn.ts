import { Tensor, noGrad, keep } from './tensor.ts';
import { zeros, ones, linear, embedding, layerNorm, conv2d } from './ops.ts';
import { PulseError } from '../errors.ts';

/**
 * A module owns named parameters and child modules, in registration order, so that a state dict
 * has stable keys ("blocks.0.attn.qkv.weight") like PyTorch's.
 */
export abstract class Module {
  #parameters = new Map<string, Tensor>();
  #modules = new Map<string, Module>();
  #training = true;

  protected param(name: string, value: Tensor, requiresGrad = true): Tensor {
    if (this.#parameters.has(name) || this.#modules.has(name)) throw new Error(`duplicate member '${name}'`);
    keep(value);
    value.setRequiresGrad(requiresGrad);
    this.#parameters.set(name, value);
    return value;
  }

  protected module<M extends Module>(name: string, child: M): M {
    if (this.#parameters.has(name) || this.#modules.has(name)) throw new Error(`duplicate member '${name}'`);
    this.#modules.set(name, child);
    return child;
  }

  /** Replaces a registered parameter (e.g. after a merge), disposing the old one. */
  protected replaceParam(name: string, value: Tensor): void {
    const old = this.#parameters.get(name);
    if (!old) throw new Error(`no parameter '${name}'`);
    keep(value);
    value.setRequiresGrad(old.requiresGrad);
    this.#parameters.set(name, value);
    old.dispose();
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this.#parameters) out.push([prefix + name, p]);
    for (const [name, m] of this.#modules) out.push(...m.namedParameters(`${prefix}${name}.`));
    return out;
  }
  parameters(): Tensor[] { return this.namedParameters().map(([, p]) => p); }
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [name, m] of this.#modules) out.push(...m.namedModules(`${prefix}${name}.`));
    return out;
  }
  parameterCount(): number { return this.parameters().reduce((n, p) => n + p.numel, 0); }

  get training(): boolean { return this.#training; }
  train(on = true): this {
    for (const [, m] of this.namedModules()) m.#training = on;
    return this;
  }
  eval(): this { return this.train(false); }

  /** Marks every parameter trainable or frozen. */
  requiresGrad(on: boolean): this {
    for (const p of this.parameters()) p.setRequiresGrad(on);
    return this;
  }

  /** The parameters by name (the live tensors, not copies). */
  stateDict(): Map<string, Tensor> { return new Map(this.namedParameters()); }

  /**
   * Copies values into the parameters. strict: every parameter must be present and no extra
   * key may appear. Shapes must match. Errors name the key.
   */
  loadStateDict(values: Map<string, Tensor>, options: { strict?: boolean; source?: string } = {}): void {
    const strict = options.strict ?? true;
    const where = options.source ? ` in ${options.source}` : '';
    const own = this.stateDict();
    if (strict) {
      const missing = [...own.keys()].filter((k) => !values.has(k));
      const extra = [...values.keys()].filter((k) => !own.has(k));
      if (missing.length) throw new PulseError(`missing parameter${missing.length > 1 ? 's' : ''}${where}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
      if (extra.length) throw new PulseError(`unexpected parameter${extra.length > 1 ? 's' : ''}${where}: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
    }
    noGrad(() => {
      for (const [key, src] of values) {
        const dst = own.get(key);
        if (!dst) continue;
        if (dst.shape.join(',') !== src.shape.join(',')) {
          throw new PulseError(`parameter ${key}${where} has shape [${src.shape.join(', ')}], the model expects [${dst.shape.join(', ')}]`);
        }
        dst.copy_(src);
      }
    });
  }

  dispose(): void { for (const p of this.parameters()) p.dispose(); }
}

/** Tensors to build a layer from instead of initialising it (a loaded checkpoint); shapes are checked. */
export interface LayerValues { weight: Tensor; bias?: Tensor }

function checkShape(what: string, t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.join(',') !== shape.join(',')) throw new RangeError(`${what} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return t;
}

/** y = x Wᵀ + b, initialised as PyTorch's nn.Linear: U(-1/√in, 1/√in), or from given values. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: { bias?: boolean; values?: LayerValues } = {}) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    const v = options.values;
    const hasBias = v ? v.bias !== undefined : options.bias !== false;
    this.weight = this.param('weight', v ? checkShape('weight', v.weight, [outFeatures, inFeatures]) : zeros([outFeatures, inFeatures]).uniform_(-bound, bound));
    this.bias = !hasBias ? undefined : this.param('bias', v?.bias ? checkShape('bias', v.bias, [outFeatures]) : zeros([outFeatures]).uniform_(-bound, bound));
  }
  forward(x: Tensor): Tensor { return linear(x, this.weight, this.bias); }
}

export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(readonly count: number, readonly dim: number, options: { std?: number; values?: LayerValues } = {}) {
    super();
    const v = options.values?.weight;
    this.weight = this.param('weight', v ? checkShape('weight', v, [count, dim]) : zeros([count, dim]).normal_(0, options.std ?? 1));
  }
  forward(indices: Tensor): Tensor { return embedding(this.weight, indices); }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-5, values?: LayerValues) {
    super();
    this.weight = this.param('weight', values ? checkShape('weight', values.weight, [dim]) : ones([dim]));
    this.bias = this.param('bias', values?.bias ? checkShape('bias', values.bias, [dim]) : zeros([dim]));
  }
  forward(x: Tensor): Tensor { return layerNorm(x, [this.dim], this.weight, this.bias, this.eps); }
}

/** 2-D convolution over [N, C, H, W], initialised as PyTorch's nn.Conv2d, or from given values. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  constructor(
    readonly inChannels: number, readonly outChannels: number, readonly kernel: number,
    readonly options: { stride?: number; padding?: number; bias?: boolean; values?: LayerValues } = {},
  ) {
    super();
    const bound = 1 / Math.sqrt(inChannels * kernel * kernel);
    const v = options.values;
    const shape = [outChannels, inChannels, kernel, kernel];
    this.weight = this.param('weight', v ? checkShape('weight', v.weight, shape) : zeros(shape).uniform_(-bound, bound));
    const hasBias = v ? v.bias !== undefined : options.bias !== false;
    this.bias = !hasBias ? undefined : this.param('bias', v?.bias ? checkShape('bias', v.bias, [outChannels]) : zeros([outChannels]).uniform_(-bound, bound));
  }
  forward(x: Tensor): Tensor { return conv2d(x, this.weight, this.bias, this.options.stride ?? 1, this.options.padding ?? 0); }
}

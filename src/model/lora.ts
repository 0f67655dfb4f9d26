import { Linear, Tensor, zeros, linear, keep, noGrad, type Module } from '../torch/index.ts';
import { PulseError } from '../errors.ts';
import type { LoraSpec, ModelBatch, ReferenceModel, StateDelta } from './model.ts';

export interface LoraOptions {
  rank: number;
  alpha: number;
  dropout: number;
}

/** An adapter taken out of its layer: y gains (scale) · B A x. */
export interface LoraFactors { a: Tensor; b: Tensor; scale: number }

/**
 * A linear layer that can carry a LoRA adapter: y = x Wᵀ + b + (α/r) · B A x, with A [r, in]
 * initialised small and random and B [out, r] at zero, so attaching changes nothing until B
 * trains. The adapter's tensors are not registered parameters: the base state dict keeps the
 * same keys with or without an adapter, and adapters are saved on their own.
 */
export class LoraLinear extends Linear {
  adapter: { a: Tensor; b: Tensor; scale: number; dropout: number } | null = null;
  /** While set, the adapter is ignored: the layer computes with its base weights alone. */
  adapterOff = false;

  attach(options: LoraOptions): void {
    if (this.adapter) throw new Error('a LoRA adapter is already attached');
    if (!Number.isInteger(options.rank) || options.rank < 1) throw new RangeError(`LoRA rank must be a positive integer, got ${options.rank}`);
    const bound = 1 / Math.sqrt(this.inFeatures);
    const a = keep(zeros([options.rank, this.inFeatures], 'float32', this.weight.device).uniform_(-bound, bound)).setRequiresGrad(true);
    const b = keep(zeros([this.outFeatures, options.rank], 'float32', this.weight.device)).setRequiresGrad(true);
    this.adapter = { a, b, scale: options.alpha / options.rank, dropout: options.dropout };
  }

  /** W += scale · B A: how an adapter, live or saved, becomes part of the weight. */
  foldIn(factors: LoraFactors): void {
    const { a, b, scale } = factors;
    if (a.size(1) !== this.inFeatures || b.size(0) !== this.outFeatures || a.size(0) !== b.size(1)) {
      throw new RangeError(`adapter of shape [${a.shape}]/[${b.shape}] does not fit a ${this.inFeatures} -> ${this.outFeatures} layer`);
    }
    noGrad(() => {
      const delta = b.matmul(a).mul(scale);
      this.weight.add_(delta);
      delta.dispose();
    });
  }

  /** Folds the adapter into W and removes it; returns its factors (owned by the caller). */
  merge(): LoraFactors | null {
    const factors = this.take();
    if (factors) this.foldIn(factors);
    return factors;
  }

  /** Removes the adapter without merging; returns its factors, detached from autograd (owned by the caller). */
  take(): LoraFactors | null {
    const adapter = this.adapter;
    if (!adapter) return null;
    this.adapter = null;
    const out = { a: keep(adapter.a.detach()), b: keep(adapter.b.detach()), scale: adapter.scale };
    adapter.a.dispose();
    adapter.b.dispose();
    return out;
  }

  /** Removes the adapter and frees it. */
  detach(): void {
    const factors = this.take();
    factors?.a.dispose();
    factors?.b.dispose();
  }

  override forward(x: Tensor): Tensor {
    const base = linear(x, this.weight, this.bias);
    const adapter = this.adapter;
    if (!adapter || this.adapterOff) return base;
    const input = adapter.dropout > 0 ? x.dropout(adapter.dropout, this.training) : x;
    // Adapters stay float32 over a half-precision base (as PEFT keeps them): the input is cast up, the update down.
    if (input.dtype === adapter.a.dtype) return base.add(linear(linear(input, adapter.a), adapter.b), adapter.scale);
    return base.add(linear(linear(input.to(adapter.a.dtype), adapter.a), adapter.b).mul(adapter.scale).to(base.dtype));
  }
}

/**
 * Attaches adapters to the layers whose last name component is in spec.layers (all when it is
 * empty); returns how many. Naming no layer the model has is bad input, said with the names it has.
 */
export function attachByName(layers: readonly [string, LoraLinear][], spec: LoraSpec): number {
  const chosen = layers.filter(([name]) => spec.layers.length === 0 || spec.layers.includes(name.split('.').pop()!));
  if (chosen.length === 0) {
    const known = [...new Set(layers.map(([name]) => name.split('.').pop()!))].join(', ');
    throw new PulseError(`lora.layers [${spec.layers.join(', ')}] names no linear layer of ${spec.parts.join('+')} (its layers: ${known || 'none'})`);
  }
  for (const [, layer] of chosen) layer.attach(spec);
  return chosen.length;
}

/** Takes every attached adapter out of its layer, folded into the weight or not: the delta of an adapter update. */
export function takeAdapters(layers: readonly [string, LoraLinear][], fold: boolean): StateDelta {
  const entries: StateDelta['entries'] = [];
  for (const [layer, l] of layers) {
    const factors = fold ? l.merge() : l.take();
    if (factors) entries.push({ kind: 'lora', layer, ...factors });
  }
  return { entries };
}

/** The attached adapters' live factors by layer name: what PulseModel.loraFactors returns. */
export function liveFactors(layers: readonly [string, LoraLinear][]): Map<string, LoraFactors> {
  const out = new Map<string, LoraFactors>();
  for (const [name, l] of layers) if (l.adapter) out.set(name, { a: l.adapter.a, b: l.adapter.b, scale: l.adapter.scale });
  return out;
}

/**
 * The reference of an update in which only adapters train: the same model with every adapter
 * switched off (and in evaluation mode, as a frozen copy would be), i.e. the weights from before
 * the update, at the cost of no copy.
 */
export function adaptersOffReference(
  model: Module & {
    answerLogProbs(b: ModelBatch): { sum: Tensor; tokens: Tensor }; answerLogits(b: ModelBatch): Tensor; hiddenStates(b: ModelBatch, layer: number): Tensor;
  },
  layers: readonly LoraLinear[],
): ReferenceModel {
  const withoutAdapters = <T>(fn: () => T): T => {
    const wasTraining = model.training;
    model.eval();
    for (const l of layers) l.adapterOff = true;
    try {
      return noGrad(fn);
    } finally {
      for (const l of layers) l.adapterOff = false;
      model.train(wasTraining);
    }
  };
  return {
    answerLogProbs: (batch) => withoutAdapters(() => model.answerLogProbs(batch)),
    answerLogits: (batch) => withoutAdapters(() => model.answerLogits(batch)),
    hiddenStates: (batch, layer) => withoutAdapters(() => model.hiddenStates(batch, layer)),
    dispose: () => {},
  };
}

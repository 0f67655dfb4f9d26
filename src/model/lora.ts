import { Linear, Tensor, zeros, linear, keep, noGrad } from '../torch/index.ts';

export interface LoraOptions {
  rank: number;
  alpha: number;
  dropout: number;
}

/**
 * A linear layer that can carry a LoRA adapter: y = x Wᵀ + b + (α/r) · B A x, with A [r, in]
 * initialised small and random and B [out, r] at zero, so attaching changes nothing until B
 * trains. The adapter's tensors are not registered parameters: the base state dict keeps the
 * same keys with or without an adapter, and adapters are saved on their own.
 */
export class LoraLinear extends Linear {
  adapter: { a: Tensor; b: Tensor; scale: number; dropout: number } | null = null;

  attach(options: LoraOptions): void {
    if (this.adapter) throw new Error('a LoRA adapter is already attached');
    if (!Number.isInteger(options.rank) || options.rank < 1) throw new RangeError(`LoRA rank must be a positive integer, got ${options.rank}`);
    const bound = 1 / Math.sqrt(this.inFeatures);
    const a = keep(zeros([options.rank, this.inFeatures], 'float32', this.weight.device).uniform_(-bound, bound)).setRequiresGrad(true);
    const b = keep(zeros([this.outFeatures, options.rank], 'float32', this.weight.device)).setRequiresGrad(true);
    this.adapter = { a, b, scale: options.alpha / options.rank, dropout: options.dropout };
  }

  /** Folds the adapter into W (W += scale · B A) and removes it. */
  merge(): void {
    const adapter = this.adapter;
    if (!adapter) return;
    noGrad(() => {
      const delta = adapter.b.matmul(adapter.a).mul(adapter.scale);
      this.weight.add_(delta);
      delta.dispose();
    });
    this.detach();
  }

  /** Removes the adapter without merging. */
  detach(): void {
    if (!this.adapter) return;
    this.adapter.a.dispose();
    this.adapter.b.dispose();
    this.adapter = null;
  }

  override forward(x: Tensor): Tensor {
    const base = linear(x, this.weight, this.bias);
    const adapter = this.adapter;
    if (!adapter) return base;
    const input = adapter.dropout > 0 ? x.dropout(adapter.dropout, this.training) : x;
    return base.add(linear(linear(input, adapter.a), adapter.b), adapter.scale);
  }
}

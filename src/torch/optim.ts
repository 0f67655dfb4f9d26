import { native, type NativeAdamW } from './native.ts';
import type { Tensor } from './tensor.ts';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** A group of parameters sharing options (e.g. no weight decay on biases and norms). */
export interface ParamGroup { params: Tensor[]; weightDecay?: number }

/**
 * AdamW, run by libtorch's own implementation (one native optimizer per parameter group), so an
 * update step is the same computation PyTorch does.
 */
export class AdamW {
  #groups: NativeAdamW[];
  #params: Tensor[];
  #lr: number;

  constructor(params: Tensor[] | ParamGroup[], options: AdamWOptions) {
    const groups: ParamGroup[] = params.length > 0 && 'params' in (params[0] as object) ? (params as ParamGroup[]) : [{ params: params as Tensor[] }];
    const [b1, b2] = options.betas ?? [0.9, 0.999];
    this.#lr = options.lr;
    this.#params = groups.flatMap((g) => g.params);
    this.#groups = groups
      .filter((g) => g.params.length > 0)
      .map((g) => new native.AdamW(g.params.map((p) => p.handle), options.lr, b1, b2, options.eps ?? 1e-8, g.weightDecay ?? options.weightDecay ?? 0.01));
  }

  get lr(): number { return this.#lr; }
  set lr(value: number) {
    this.#lr = value;
    for (const g of this.#groups) g.setLr(value);
  }
  get parameters(): readonly Tensor[] { return this.#params; }
  step(): void { for (const g of this.#groups) g.step(); }
  /** Drops the gradients (set to none, as PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void { for (const g of this.#groups) g.zeroGrad(); }
  /** Frees the moment estimates. */
  dispose(): void { for (const g of this.#groups) g.dispose(); this.#groups = []; }
}

/** Scales gradients so that their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  return native.clipGradNorm(params.map((p) => p.handle), maxNorm);
}

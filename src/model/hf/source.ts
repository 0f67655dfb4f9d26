import { Embedding, LayerNorm, zeros, ones, keep, type Dtype, type Tensor } from '../../torch/index.ts';
import { LoraLinear } from '../lora.ts';
import type { CheckpointWeights } from './weights.ts';

/**
 * Where a model's layers get their tensors while it is built: a checkpoint folder, or random
 * values (benchmarks at full size, with no download). Each block asks for its tensors by name,
 * so a tensor missing from a checkpoint, or of the wrong shape, is an error naming it.
 */
export class WeightSource {
  private constructor(private readonly read: (name: string, shape: readonly number[]) => Tensor, private readonly prefix = '') {}

  static checkpoint(weights: CheckpointWeights, dtype: Dtype, device: string): WeightSource {
    return new WeightSource((name, shape) => weights.read(name, shape, dtype, device));
  }

  /** N(0, 0.02²) matrices (the init transformers uses), ones for norm scales, zeros for biases. */
  static random(dtype: Dtype, device: string): WeightSource {
    const make = (name: string, shape: readonly number[]): Tensor => {
      const isNormScale = /norm[^.]*\.weight$|layrnorm\.weight$|layer_norm\d\.weight$|ln_q\.weight$/.test(name);
      const t = isNormScale ? ones([...shape], dtype, device)
        : name.endsWith('.bias') ? zeros([...shape], dtype, device)
          : zeros([...shape], 'float32', device).normal_(0, 0.02);
      if (t.dtype === dtype) return keep(t);
      const out = keep(t.to(dtype));
      t.dispose();
      return out;
    };
    return new WeightSource(make);
  }

  /**
   * A model's current tensors, shared (not copied) except those named in `copied`, which are
   * cloned: a frozen reference that costs only the tensors an update changes in full.
   */
  static sharing(state: ReadonlyMap<string, Tensor>, copied: ReadonlySet<string>): WeightSource {
    return new WeightSource((name) => {
      const t = state.get(name);
      if (!t) throw new Error(`no tensor ${name} to share`);
      return copied.has(name) ? keep(t.detach().clone()) : t;
    });
  }

  /** The same source, with names relative to `prefix`. */
  at(prefix: string): WeightSource {
    return new WeightSource(this.read, this.#name(prefix));
  }

  tensor(name: string, shape: readonly number[]): Tensor { return this.read(this.#name(name), shape); }

  linear(name: string, inFeatures: number, outFeatures: number, bias: boolean): LoraLinear {
    const weight = this.tensor(`${name}.weight`, [outFeatures, inFeatures]);
    return new LoraLinear(inFeatures, outFeatures, { values: { weight, bias: bias ? this.tensor(`${name}.bias`, [outFeatures]) : undefined } });
  }

  layerNorm(name: string, dim: number, eps: number): LayerNorm {
    return new LayerNorm(dim, eps, { weight: this.tensor(`${name}.weight`, [dim]), bias: this.tensor(`${name}.bias`, [dim]) });
  }

  embedding(name: string, count: number, dim: number): Embedding {
    return new Embedding(count, dim, { values: { weight: this.tensor(`${name}.weight`, [count, dim]) } });
  }

  #name(name: string): string { return this.prefix ? `${this.prefix}.${name}` : name; }
}

import { Tensor, tensor, scope, noGrad } from '../../src/torch/index.ts';

/**
 * Compares autograd's gradient of a scalar function with central finite differences, in float64
 * so that the comparison can be tight. Returns the largest absolute difference over all inputs.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: { data: number[]; shape: number[] }[], eps = 1e-6): number {
  return scope(() => {
    const xs = inputs.map((i) => tensor(Float64Array.from(i.data), i.shape).setRequiresGrad(true));
    const out = fn(...xs);
    out.backward();
    let worst = 0;
    xs.forEach((x, k) => {
      const analytic = x.grad!.data() as Float64Array;
      const base = Float64Array.from(inputs[k]!.data);
      for (let j = 0; j < base.length; j++) {
        const at = (delta: number) => noGrad(() => {
          const moved = Float64Array.from(base);
          moved[j]! += delta;
          const args = xs.map((other, m) => (m === k ? tensor(moved, inputs[k]!.shape) : other.detach()));
          return fn(...args).item();
        });
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        worst = Math.max(worst, Math.abs(numeric - analytic[j]!));
      }
    });
    return worst;
  });
}

/** Deterministic pseudo-random values in [-1, 1) for test inputs. */
export function values(n: number, seed = 1, offset = 0): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1 + offset;
  });
}

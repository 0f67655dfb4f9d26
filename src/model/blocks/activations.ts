import type { Tensor } from '../../torch/index.ts';

/** quick_gelu(x) = x · σ(1.702 x), CLIP's and Qwen2-VL's activation (not erf GELU). */
export function quickGelu(x: Tensor): Tensor {
  return x.mul(x.mul(1.702).sigmoid());
}

/** transformers' ACT2FN by name, for the activations the supported models use. */
export function activation(name: 'silu' | 'quick_gelu' | 'gelu' | 'gelu_pytorch_tanh'): (x: Tensor) => Tensor {
  switch (name) {
    case 'silu': return (x) => x.silu();
    case 'quick_gelu': return quickGelu;
    case 'gelu': return (x) => x.gelu();
    case 'gelu_pytorch_tanh': return (x) => x.gelu(true);
  }
}

/** The TypeScript face of the libtorch addon: tensors, ops, autograd, memory, nn, optim, I/O. */
export { Tensor, scope, keep, noGrad, disposeAll, type Dtype, type TensorLike } from './tensor.ts';
export * from './ops.ts';
export * from './engine.ts';
export { Module, Linear, Embedding, LayerNorm, Conv2d } from './nn.ts';
export { AdamW, clipGradNorm, type AdamWOptions, type ParamGroup } from './optim.ts';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor, cat, stack, where, linear, embedding, layerNorm, conv2d, maxPool2d, avgPool2d, crossEntropy, klDiv, liveTensorCount } from '../../src/torch/index.ts';
import { gradcheck, values } from './gradcheck.ts';

const v = (shape: number[], seed = 1, offset = 0) => ({ data: values(shape.reduce((a, b) => a * b, 1), seed, offset), shape });
const positive = (shape: number[], seed = 1) => v(shape, seed, 1.5); // in [0.5, 2.5): safe for log, sqrt, pow
const TOL = 1e-6;

// Every differentiable op: autograd's gradient equals central finite differences.
const cases: [string, (...xs: Tensor[]) => Tensor, ReturnType<typeof v>[]][] = [
  ['matmul', (a, b) => a.matmul(b).sum(), [v([2, 3]), v([3, 4], 2)]],
  ['add (broadcast)', (a, b) => a.add(b).mul(a).sum(), [v([2, 3]), v([3], 2)]],
  ['sub', (a, b) => a.sub(b).pow(2).sum(), [v([2, 3]), v([2, 3], 2)]],
  ['mul', (a, b) => a.mul(b).sum(), [v([2, 3]), v([1, 3], 2)]],
  ['div', (a, b) => a.div(b).sum(), [v([2, 3]), positive([2, 3], 2)]],
  ['neg', (a) => a.neg().mul(a).sum(), [v([4])]],
  ['exp', (a) => a.exp().sum(), [v([4])]],
  ['log', (a) => a.log().sum(), [positive([4])]],
  ['sqrt', (a) => a.sqrt().sum(), [positive([4])]],
  ['pow (scalar)', (a) => a.pow(3).sum(), [v([4])]],
  ['pow (tensor)', (a, b) => a.pow(b).sum(), [positive([4]), v([4], 2)]],
  ['abs', (a) => a.abs().sum(), [v([5], 3)]],
  ['clamp', (a) => a.clamp(-0.5, 0.5).mul(a).sum(), [v([6], 4)]],
  ['relu', (a) => a.relu().mul(a).sum(), [v([6], 5)]],
  ['gelu', (a) => a.gelu().sum(), [v([6])]],
  ['gelu (tanh)', (a) => a.gelu(true).sum(), [v([6])]],
  ['tanh', (a) => a.tanh().sum(), [v([6])]],
  ['sigmoid', (a) => a.sigmoid().sum(), [v([6])]],
  ['logSigmoid', (a) => a.logSigmoid().sum(), [v([6])]],
  ['softplus', (a) => a.softplus().sum(), [v([6])]],
  ['softmax', (a, w) => a.softmax(-1).mul(w).sum(), [v([2, 4]), v([2, 4], 2)]],
  ['logSoftmax', (a, w) => a.logSoftmax(1).mul(w).sum(), [v([2, 4]), v([2, 4], 2)]],
  ['layerNorm', (x, g, b) => layerNorm(x, [4], g, b).mul(x).sum(), [v([3, 4]), v([4], 2), v([4], 3)]],
  ['embedding', (w) => embedding(w, tensor([2, 0, 2], [3], 'int64')).pow(2).sum(), [v([3, 2])]],
  ['linear', (x, w, b) => linear(x, w, b).pow(2).sum(), [v([2, 3]), v([4, 3], 2), v([4], 3)]],
  ['conv2d', (x, w, b) => conv2d(x, w, b, 1, 1).pow(2).sum(), [v([1, 2, 4, 4]), v([3, 2, 3, 3], 2), v([3], 3)]],
  ['maxPool2d', (x) => maxPool2d(x, 2).pow(2).sum(), [v([1, 1, 4, 4])]],
  ['avgPool2d', (x) => avgPool2d(x, 2).pow(2).sum(), [v([1, 1, 4, 4])]],
  ['reshape/view', (a) => a.reshape(3, 2).view(6).mul(tensor(Float64Array.from([1, 2, 3, 4, 5, 6]))).sum(), [v([2, 3])]],
  ['permute/transpose', (a, b) => a.permute(1, 0).transpose(0, 1).mul(b).sum(), [v([2, 3]), v([2, 3], 2)]],
  ['cat', (a, b) => cat([a, b], 1).pow(2).sum(), [v([2, 2]), v([2, 3], 2)]],
  ['stack', (a, b) => stack([a, b], 0).pow(2).sum(), [v([2, 2]), v([2, 2], 2)]],
  ['narrow', (a) => a.narrow(1, 1, 2).pow(2).sum(), [v([2, 4])]],
  ['indexSelect', (a) => a.indexSelect(0, tensor([1, 1, 0], [3], 'int64')).pow(2).sum(), [v([2, 3])]],
  ['gather', (a) => a.gather(1, tensor([0, 2, 1, 1], [2, 2], 'int64')).pow(2).sum(), [v([2, 3])]],
  ['maskedFill', (a) => a.maskedFill(tensor([1, 0, 0, 1], [2, 2], 'bool'), 0).pow(2).sum(), [v([2, 2])]],
  ['where', (a, b) => where(tensor([1, 0, 1], [3], 'bool'), a, b).pow(2).sum(), [v([3]), v([3], 2)]],
  ['triu/tril', (a) => a.triu(0).add(a.tril(-1).mul(3)).pow(2).sum(), [v([3, 3])]],
  ['sum over dim', (a) => a.sum(1).pow(2).sum(), [v([2, 3])]],
  ['mean over dim', (a) => a.mean([0], true).pow(2).sum(), [v([2, 3])]],
  ['max over dim', (a) => a.max(1).pow(2).sum(), [v([2, 3])]],
  ['logsumexp', (a) => a.logsumexp(1).sum(), [v([2, 3])]],
  ['expand/repeat', (a) => a.expand(2, 3).mul(a.repeat(2, 1)).sum(), [v([1, 3])]],
  ['crossEntropy (ignore index)', (x) => crossEntropy(x, tensor([1, -100, 3], [3], 'int64'), -100), [v([3, 4])]],
  ['klDiv', (q, p) => klDiv(q.logSoftmax(-1), p.softmax(-1), 'sum'), [v([2, 3]), v([2, 3], 2)]],
];

for (const [name, fn, inputs] of cases) {
  test(`gradient of ${name} matches finite differences`, () => {
    const before = liveTensorCount();
    assert.ok(gradcheck(fn, inputs) < TOL);
    assert.equal(liveTensorCount(), before, 'gradcheck leaked tensors');
  });
}

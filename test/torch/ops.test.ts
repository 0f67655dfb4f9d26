import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  tensor, zeros, ones, full, arange, cat, stack, where, linear, layerNorm, conv2d, crossEntropy, klDiv, embedding,
  scope, noGrad, liveTensorCount, manualSeed, randn, setNumThreads, getNumThreads,
} from '../../src/torch/index.ts';

const close = (actual: ArrayLike<number>, expected: number[], tol = 1e-5) => {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `index ${i}: ${actual[i]} != ${expected[i]}`);
};

test('forward values match hand-worked numbers', () => scope(() => {
  const a = tensor([1, 2, 3, 4], [2, 2]);
  const b = tensor([5, 6, 7, 8], [2, 2]);
  close(a.matmul(b).toArray(), [19, 22, 43, 50]); // [1·5+2·7, 1·6+2·8; 3·5+4·7, 3·6+4·8]
  close(a.add(tensor([10, 20])).toArray(), [11, 22, 13, 24]); // broadcast over rows
  close(a.sub(1).div(2).toArray(), [0, 0.5, 1, 1.5]);
  close(a.mul(b).sum().toArray(), [70]);
  close(a.mean(1).toArray(), [1.5, 3.5]);
  close(a.max(0).toArray(), [3, 4]);
  assert.deepEqual(a.argmax(1).toArray(), [1, 1]);
  close(tensor([0]).exp().toArray(), [1]);
  close(tensor([Math.E]).log().toArray(), [1]);
  close(tensor([0]).sigmoid().toArray(), [0.5]);
  close(tensor([0]).logSigmoid().toArray(), [-Math.LN2]);
  close(tensor([0]).softplus().toArray(), [Math.LN2]);
  close(tensor([-1, 0, 2]).relu().toArray(), [0, 0, 2]);
  close(tensor([1]).gelu().toArray(), [0.8413447]); // x·Φ(x) at 1
  close(tensor([1]).tanh().toArray(), [Math.tanh(1)]);
  close(tensor([-3, 0.5, 3]).clamp(-1, 1).toArray(), [-1, 0.5, 1]);
  close(tensor([1, 1]).softmax(0).toArray(), [0.5, 0.5]);
  close(tensor([0, Math.log(3)]).logSoftmax(0).toArray(), [Math.log(0.25), Math.log(0.75)]);
  close(tensor([4, 9]).sqrt().toArray(), [2, 3]);
  close(tensor([-2, 3]).abs().pow(2).toArray(), [4, 9]);
  close(tensor([1, 2, 3]).logsumexp(0).toArray(), [Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3))]);
  // layer norm of [1, 3]: mean 2, variance 1 -> [-1, 1] (eps 1e-5 shrinks it slightly)
  close(layerNorm(tensor([1, 3], [1, 2]), [2]).toArray(), [-1, 1], 1e-4);
  // linear: x Wᵀ + b
  close(linear(tensor([1, 2], [1, 2]), tensor([1, 0, 0, 1, 1, 1], [3, 2]), tensor([0, 0, 10])).toArray(), [1, 2, 13]);
  // 3x3 ones kernel over a 3x3 ones image with padding 1: corner 4, edge 6, centre 9
  close(conv2d(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), undefined, 1, 1).toArray(), [4, 6, 4, 6, 9, 6, 4, 6, 4]);
  close(embedding(tensor([1, 2, 3, 4, 5, 6], [3, 2]), tensor([2, 0], [2], 'int64')).toArray(), [5, 6, 1, 2]);
  close(cat([a, b], 0).narrow(0, 1, 2).toArray(), [3, 4, 5, 6]);
  assert.deepEqual(stack([a, b], 0).shape, [2, 2, 2]);
  assert.deepEqual(a.permute(1, 0).contiguous().toArray(), [1, 3, 2, 4]);
  assert.deepEqual(a.transpose(0, 1).reshape(4).toArray(), [1, 3, 2, 4]);
  assert.deepEqual(a.unsqueeze(0).shape, [1, 2, 2]);
  assert.deepEqual(a.flatten().shape, [4]);
  assert.deepEqual(a.indexSelect(0, tensor([1, 0], [2], 'int64')).toArray(), [3, 4, 1, 2]);
  assert.deepEqual(a.gather(1, tensor([1, 0], [2, 1], 'int64')).toArray(), [2, 3]);
  assert.deepEqual(ones([3, 3]).triu(1).toArray(), [0, 1, 1, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(ones([2, 2]).tril().toArray(), [1, 0, 1, 1]);
  assert.deepEqual(where(tensor([1, 0], [2], 'bool'), tensor([1, 2]), tensor([3, 4])).toArray(), [1, 4]);
  assert.deepEqual(a.maskedFill(a.gt(2), -1).toArray(), [1, 2, -1, -1]);
  assert.deepEqual(arange(0, 4).toArray(), [0, 1, 2, 3]);
  assert.deepEqual(full([2], 7).toArray(), [7, 7]);
  assert.deepEqual(zeros([2], 'int64').dtype, 'int64');
  assert.deepEqual(tensor([1, 0], [2], 'bool').dtype, 'bool');
  // dropout: identity in eval; in training zeroes some entries and scales the rest by 1/(1-p)
  assert.deepEqual(ones([4]).dropout(0.5, false).toArray(), [1, 1, 1, 1]);
  manualSeed(3);
  for (const x of ones([1000]).dropout(0.5, true).toArray()) assert.ok(x === 0 || x === 2);
}));

test('cross-entropy with ignore-index and KL divergence match hand-worked values', () => scope(() => {
  // logits [0, ln 3] -> p = [1/4, 3/4]; target 1 -> -ln(3/4); the ignored row is left out of the mean
  const logits = tensor([0, Math.log(3), 5, 5], [2, 2]);
  close(crossEntropy(logits, tensor([1, -100], [2], 'int64')).toArray(), [-Math.log(0.75)]);
  close(crossEntropy(logits, tensor([0, 1], [2], 'int64'), -100, 'none').toArray(), [-Math.log(0.25), Math.LN2]);
  // KL(p || q) = Σ p log(p/q) with p = [1/2, 1/2], q = [1/4, 3/4]
  const expected = 0.5 * Math.log(0.5 / 0.25) + 0.5 * Math.log(0.5 / 0.75);
  close(klDiv(tensor([Math.log(0.25), Math.log(0.75)]), tensor([0.5, 0.5]), 'sum').toArray(), [expected]);
  close(klDiv(tensor([Math.log(0.25), Math.log(0.75)]), tensor([Math.log(0.5), Math.log(0.5)]), 'sum', true).toArray(), [expected]);
}));

test('scope() disposes everything made inside except what it returns', () => {
  const before = liveTensorCount();
  const kept = scope(() => {
    const a = ones([10, 10]);
    const b = a.mul(2).add(1);
    scope(() => b.exp().sum());
    return { result: b.sum(), list: [a.mean()] };
  });
  assert.equal(liveTensorCount(), before + 2);
  assert.equal(kept.result.item(), 300);
  assert.equal(kept.list[0]!.item(), 1);
  kept.result.dispose();
  kept.list[0]!.dispose();
  assert.equal(liveTensorCount(), before);
});

test('scope() frees its tensors when the function throws', () => {
  const before = liveTensorCount();
  assert.throws(() => scope(() => { ones([3]).mul(2); throw new Error('boom'); }), /boom/);
  assert.equal(liveTensorCount(), before);
});

test('a libtorch error is a thrown Error with its message, not a crash', () => scope(() => {
  assert.throws(() => ones([2, 3]).matmul(ones([2, 3])), /libtorch: .*cannot be multiplied \(2x3 and 2x3\)/);
  assert.throws(() => tensor([1, 2, 3]).reshape(2, 2), /libtorch: shape '\[2, 2\]' is invalid/);
  assert.throws(() => embedding(ones([3, 2]), tensor([1.5])), /libtorch: .*(Long|Int)/);
  assert.throws(() => crossEntropy(ones([2, 3]), tensor([0, 5], [2], 'int64')), /libtorch: .*(out of bounds|Target 5)/);
  assert.throws(() => tensor(new Float32Array(3), [2, 2]), /3 bytes|12 bytes but shape and dtype need 16/);
  const t = ones([2]);
  t.dispose();
  assert.throws(() => t.add(1), /tensor used after dispose/);
}));

test('autograd: requiresGrad, backward, grad, zeroGrad, detach, noGrad', () => scope(() => {
  const x = tensor([1, 2, 3]).setRequiresGrad();
  x.mul(x).sum().backward(); // d/dx Σx² = 2x
  assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
  x.zeroGrad();
  assert.equal(x.grad, null);
  assert.equal(x.detach().requiresGrad, false);
  const y = noGrad(() => x.mul(2));
  assert.equal(y.requiresGrad, false);
  assert.equal(x.mul(2).requiresGrad, true);
}));

test('the same seed gives the same numbers', () => scope(() => {
  manualSeed(42);
  const a = randn([5]).toArray();
  manualSeed(42);
  const b = randn([5]).toArray();
  assert.deepEqual(a, b);
  manualSeed(43);
  assert.notDeepEqual(randn([5]).toArray(), a);
}));

test('thread count is set from TypeScript', () => {
  const before = getNumThreads();
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  setNumThreads(before);
  assert.throws(() => setNumThreads(0), /positive integer/);
});

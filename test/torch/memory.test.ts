import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Module, Linear, AdamW, clipGradNorm, scope, tensor, randn, liveTensorCount, manualSeed, crossEntropy, type Tensor } from '../../src/torch/index.ts';

// RSS is read after a full collection, so the bound measures what stays allocated (native memory
// and retained JS objects), not garbage V8 has not collected yet.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;
const settledRss = () => { collectGarbage(); return process.memoryUsage().rss; };

class Mlp extends Module {
  fc1 = this.module('fc1', new Linear(16, 64));
  fc2 = this.module('fc2', new Linear(64, 4));
  forward(x: Tensor): Tensor { return this.fc2.forward(this.fc1.forward(x).gelu()); }
}

test('1,000 training steps of an MLP keep live tensors and RSS flat, and learn', () => {
  manualSeed(0);
  const model = new Mlp();
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0 });
  const x = randn([64, 16]);
  const labels = scope(() => x.narrow(1, 0, 4).argmax(1)); // a learnable rule: the largest of the first 4 features
  const step = () => scope(() => {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.forward(x), labels);
    loss.backward();
    clipGradNorm(model.parameters(), 1.0);
    optimizer.step();
    return loss.item();
  });
  const first = step();
  for (let i = 0; i < 100; i++) step(); // warm-up: allocator and optimizer state settle
  const live = liveTensorCount();
  const rss = settledRss();
  let last = first;
  for (let i = 0; i < 1000; i++) last = step();
  assert.equal(liveTensorCount(), live, 'live tensor count grew');
  const growthMiB = (settledRss() - rss) / 2 ** 20;
  assert.ok(growthMiB < 8, `RSS grew by ${growthMiB.toFixed(1)} MiB`);
  assert.ok(last < first / 10, `loss went from ${first} to ${last}`);
  optimizer.dispose();
  model.dispose();
  x.dispose();
  labels.dispose();
});

test('a tensor nobody disposed is freed once V8 collects it (the safety net)', async () => {
  const live = liveTensorCount();
  (() => { for (let i = 0; i < 50; i++) randn([256, 256]); })(); // outside any scope, never disposed
  assert.equal(liveTensorCount(), live + 50);
  // Finalizers run as tasks after a collection, so the event loop must turn.
  for (let round = 0; round < 20 && liveTensorCount() > live; round++) {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(liveTensorCount(), live);
});

test('AdamW with weight decay matches the closed form of one step', () => scope(() => {
  // One AdamW step from w=1 with gradient g: m̂ = g, v̂ = g², so w ← w·(1 - lr·wd) - lr·g/(|g| + eps).
  const w = tensor([1, 1]).setRequiresGrad();
  const opt = new AdamW([w], { lr: 0.1, weightDecay: 0.5, eps: 1e-8 });
  w.mul(tensor([3, -2])).sum().backward(); // g = [3, -2]
  opt.step();
  const [a, b] = w.toArray();
  assert.ok(Math.abs(a! - (1 * (1 - 0.05) - 0.1)) < 1e-6);
  assert.ok(Math.abs(b! - (1 * (1 - 0.05) + 0.1)) < 1e-6);
  opt.dispose();
}));

test('clipGradNorm scales gradients to the maximum global norm', () => scope(() => {
  const a = tensor([0, 0]).setRequiresGrad();
  a.mul(tensor([3, 4])).sum().backward(); // grad [3, 4], norm 5
  const norm = clipGradNorm([a], 1);
  assert.ok(Math.abs(norm - 5) < 1e-6);
  const [g0, g1] = a.grad!.toArray();
  assert.ok(Math.abs(g0! - 0.6) < 1e-5 && Math.abs(g1! - 0.8) < 1e-5);
}));

test('state dicts round-trip and reject wrong shapes by key', () => {
  manualSeed(1);
  const a = new Mlp();
  manualSeed(2);
  const b = new Mlp();
  b.loadStateDict(a.stateDict());
  assert.deepEqual(b.fc1.weight.toArray(), a.fc1.weight.toArray());
  const bad = new Map(a.stateDict());
  bad.set('fc2.bias', scope(() => tensor([1, 2])));
  assert.throws(() => b.loadStateDict(bad), /fc2\.bias.*shape \[2\].*expects \[4\]/);
  bad.delete('fc2.bias');
  assert.throws(() => b.loadStateDict(bad), /missing parameter: fc2\.bias/);
  a.dispose();
  b.dispose();
});

test('V8 hears of the memory of tensors no scope will dispose, and only of those', async () => {
  const { accountedBytes, zeros, scope, keep } = await import('../../src/torch/index.ts');
  const base = accountedBytes();
  scope(() => { for (let i = 0; i < 10; i++) zeros([256, 256]).add(1); });
  assert.equal(accountedBytes(), base, 'a scope\'s temporaries are never reported');
  const outside = zeros([100]);
  assert.equal(accountedBytes(), base + 400, 'made outside any scope');
  const kept = scope(() => keep(zeros([50])));
  const returned = scope(() => zeros([25]));
  assert.equal(accountedBytes(), base + 400 + 200 + 100, 'kept, or returned to no enclosing scope');
  for (const t of [outside, kept, returned]) t.dispose();
  assert.equal(accountedBytes(), base);
});

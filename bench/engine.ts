/**
 * npm run bench:engine [-- --steps N --threads N]
 * Trains the reference transformer (vocab 2000, d_model 192, 4 layers, 4 heads, MLP 4x, seq 64,
 * batch 16, causal attention, AdamW) for the same steps in TypeScript (our addon) and in PyTorch
 * (bench/reference_step.py, Debian's python3-torch), with the same thread count, and prints
 * ms/step for both and their ratio (target: TypeScript / PyTorch <= 1.2). Also prints the
 * engine's fp32 matmul GFLOP/s at 1024³.
 */
import { parseArgs } from 'node:util';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AdamW, clipGradNorm, crossEntropy, manualSeed, randint, randn, scope, setNumThreads, defaultThreads, libtorchVersion } from '../src/torch/index.ts';
import { Transformer } from '../src/model/embedded/transformer.ts';

const { values } = parseArgs({ options: {
  steps: { type: 'string', default: '30' },
  warmup: { type: 'string', default: '5' },
  threads: { type: 'string', default: String(defaultThreads()) },
  python: { type: 'string', default: '/usr/bin/python3' },
} });
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const threads = Number(values.threads);
const cfg = { vocab: 2000, dModel: 192, layers: 4, heads: 4, seq: 64, batch: 16 };

function ensurePythonTorch(python: string): void {
  const probe = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
  if (probe.status === 0) return;
  console.log('[bench] python3-torch is missing: installing it with apt (Debian package)');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  execFileSync(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), 'install', '-y', '-qq', 'python3-torch'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

function benchTypeScript(): { msPerStep: number; loss: number; params: number } {
  setNumThreads(threads);
  manualSeed(0);
  const model = new Transformer({ vocabSize: cfg.vocab, dModel: cfg.dModel, layers: cfg.layers, heads: cfg.heads, mlpRatio: 4, maxSeq: cfg.seq, dropout: 0 });
  const optimizer = new AdamW(model.parameters(), { lr: 3e-4, weightDecay: 0.01 });
  const ids = randint(0, cfg.vocab, [cfg.batch, cfg.seq + 1]);
  const x = ids.narrow(1, 0, cfg.seq);
  const y = ids.narrow(1, 1, cfg.seq).reshape(-1);
  const step = () => scope(() => {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.forward(x).reshape(-1, cfg.vocab), y);
    loss.backward();
    clipGradNorm(model.parameters(), 1.0);
    optimizer.step();
    return loss.item();
  });
  for (let i = 0; i < warmup; i++) step();
  const t0 = performance.now();
  let loss = 0;
  for (let i = 0; i < steps; i++) loss = step();
  const msPerStep = (performance.now() - t0) / steps;
  const params = model.parameterCount();
  optimizer.dispose();
  model.dispose();
  return { msPerStep, loss, params };
}

function matmulGflops(): number {
  return scope(() => {
    const a = randn([1024, 1024]);
    const b = randn([1024, 1024]);
    for (let i = 0; i < 3; i++) a.matmul(b).dispose();
    const reps = 20;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) a.matmul(b).dispose();
    const seconds = (performance.now() - t0) / 1000;
    return (2 * 1024 ** 3 * reps) / seconds / 1e9;
  });
}

ensurePythonTorch(values.python);
console.log(`[bench] reference transformer: vocab ${cfg.vocab}, d_model ${cfg.dModel}, ${cfg.layers} layers, ${cfg.heads} heads, MLP 4x, seq ${cfg.seq}, batch ${cfg.batch}; ${steps} steps after ${warmup} warm-up; ${threads} threads; libtorch ${libtorchVersion()}`);
const ts = benchTypeScript();
const script = fileURLToPath(new URL('./reference_step.py', import.meta.url));
const py = JSON.parse(execFileSync(values.python, [script, '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup)], { encoding: 'utf8' }).trim().split('\n').pop()!);
const gflops = matmulGflops();
console.log(`typescript (pulse addon): ${ts.msPerStep.toFixed(1)} ms/step  (params ${ts.params}, last loss ${ts.loss.toFixed(3)})`);
console.log(`pytorch ${py.version}:      ${py.ms_per_step.toFixed(1)} ms/step  (params ${py.params}, last loss ${py.loss.toFixed(3)})`);
const ratio = ts.msPerStep / py.ms_per_step;
console.log(`ratio typescript/pytorch: ${ratio.toFixed(3)}  (target <= 1.2: ${ratio <= 1.2 ? 'met' : 'NOT met'})`);
console.log(`fp32 matmul 1024^3: ${gflops.toFixed(1)} GFLOP/s`);

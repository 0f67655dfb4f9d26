/**
 * npm run bench:engine [-- --steps N --warmup N --rounds R --threads N --python PATH]
 * Trains the reference transformer (vocab 2000, d_model 192, 4 layers, 4 heads, MLP 4x, seq 64,
 * batch 16, causal attention, AdamW, gradient clipping at norm 1) in TypeScript (our addon) and
 * in PyTorch (bench/reference_step.py, Debian's python3-torch) and compares ms/step.
 *
 * Method:
 * - Same work: this process builds the seeded Transformer (src/model/embedded/transformer.ts)
 *   and a token batch and writes both, with the model shape and optimizer settings in the
 *   metadata, to one safetensors file in a temporary folder. Both sides load that file: same
 *   initial weights, same data, same hyperparameters.
 * - Same computation, checked: each side reports the loss of every step (warm-up included);
 *   in every round the two sequences must agree within LOSS_TOLERANCE, or the bench stops with
 *   a non-zero exit (the two sides would not be timing the same work).
 * - Noise: R rounds (default 5), each running the TypeScript side and the PyTorch side as fresh
 *   child processes, one after the other, alternating which goes first. Each process times
 *   `steps` steps after `warmup` untimed ones, with the same thread count, and reports its peak
 *   RSS. The summary gives the median ms/step of each side and the median of the per-round
 *   ratios TypeScript / PyTorch (with its min and max); the target (<= 1.2) is checked on
 *   that median.
 * Also prints the engine's fp32 matmul GFLOP/s at 1024³ (in this process, after the rounds).
 *
 * Internal: `--side ts --weights FILE` runs one TypeScript side and prints one JSON line.
 */
import { parseArgs } from 'node:util';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdamW, clipGradNorm, crossEntropy, manualSeed, randint, randn, scope, setNumThreads, getNumThreads, defaultThreads, libtorchVersion } from '../src/torch/index.ts';
import { loadSafetensors, saveSafetensors } from '../src/torch/safetensors.ts';
import { Transformer } from '../src/model/embedded/transformer.ts';

const { values } = parseArgs({ options: {
  steps: { type: 'string', default: '30' },
  warmup: { type: 'string', default: '5' },
  rounds: { type: 'string', default: '5' },
  threads: { type: 'string', default: String(defaultThreads()) },
  python: { type: 'string', default: '/usr/bin/python3' },
  side: { type: 'string' },
  weights: { type: 'string' },
} });
function positiveInt(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be an integer >= ${min}, got '${text}'`);
  return n;
}
const steps = positiveInt('steps', values.steps);
const warmup = positiveInt('warmup', values.warmup, 0);
const rounds = positiveInt('rounds', values.rounds);
const threads = positiveInt('threads', values.threads);

/** Losses of the two sides may differ by this much at any step (same libtorch underneath: float rounding only). */
const LOSS_TOLERANCE = 1e-4;

/** Everything both sides need besides the tensors; stored as JSON in the safetensors metadata key "bench". */
interface BenchConfig {
  vocab: number; d_model: number; layers: number; heads: number; mlp_ratio: number; seq: number; batch: number;
  ln_eps: number; lr: number; betas: [number, number]; eps: number; weight_decay: number; clip: number;
}
const CONFIG: BenchConfig = {
  vocab: 2000, d_model: 192, layers: 4, heads: 4, mlp_ratio: 4, seq: 64, batch: 16,
  ln_eps: 1e-5, lr: 3e-4, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01, clip: 1.0,
};

/** What one side (one process) reports, as its last stdout line. */
interface SideResult { engine: string; version: string; threads: number; ms_per_step: number; losses: number[]; params: number; max_rss_kb: number }

function buildModel(cfg: BenchConfig): Transformer {
  // dropout 0 and LayerNorm eps 1e-5 (the module's default): what reference_step.py builds.
  return new Transformer({ vocabSize: cfg.vocab, dModel: cfg.d_model, layers: cfg.layers, heads: cfg.heads, mlpRatio: cfg.mlp_ratio, maxSeq: cfg.seq, dropout: 0 });
}

/** The TypeScript side, in its own process: load the file, train, print one JSON line. */
async function runTypeScriptSide(weights: string): Promise<void> {
  setNumThreads(threads);
  const { tensors, metadata } = await loadSafetensors(weights);
  const cfg = JSON.parse(metadata['bench'] ?? '') as BenchConfig;
  const ids = tensors.get('ids');
  if (!ids) throw new Error(`${weights}: no 'ids' tensor`);
  tensors.delete('ids');
  const model = buildModel(cfg);
  model.loadStateDict(tensors, { source: weights });
  for (const t of tensors.values()) t.dispose();
  const optimizer = new AdamW(model.parameters(), { lr: cfg.lr, betas: cfg.betas, eps: cfg.eps, weightDecay: cfg.weight_decay });
  const x = ids.narrow(1, 0, cfg.seq);
  const y = ids.narrow(1, 1, cfg.seq).reshape(-1);
  const step = () => scope(() => {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.forward(x).reshape(-1, cfg.vocab), y);
    loss.backward();
    clipGradNorm(model.parameters(), cfg.clip);
    optimizer.step();
    return loss.item();
  });
  const losses: number[] = [];
  for (let i = 0; i < warmup; i++) losses.push(step());
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) losses.push(step());
  const msPerStep = (performance.now() - t0) / steps;
  const result: SideResult = {
    engine: 'typescript', version: libtorchVersion(), threads: getNumThreads(), ms_per_step: msPerStep, losses,
    params: model.parameterCount(), max_rss_kb: process.resourceUsage().maxRSS,
  };
  optimizer.dispose();
  model.dispose();
  console.log(JSON.stringify(result));
}

function ensurePythonTorch(python: string): void {
  const probe = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
  if (probe.status === 0) return;
  console.log('[bench] python3-torch is missing: installing it with apt (Debian package)');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  execFileSync(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), 'install', '-y', '-qq', 'python3-torch'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** Runs one side as a fresh child process (stderr passes through) and parses its JSON line. */
function runSide(side: 'ts' | 'py', weights: string): SideResult {
  const common = ['--weights', weights, '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup)];
  const [command, args] = side === 'ts'
    ? [process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--side', 'ts', ...common]]
    : [values.python, [fileURLToPath(new URL('./reference_step.py', import.meta.url)), ...common]];
  const child = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (child.error) throw child.error;
  if (child.status !== 0) throw new Error(`${side === 'ts' ? 'TypeScript' : 'PyTorch'} side failed (exit ${child.status ?? child.signal}): ${command} ${args.join(' ')}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as SideResult;
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

function median(xs: readonly number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
const lossLine = (losses: readonly number[]) => losses.map((l) => l.toFixed(6)).join(' ');

async function main(): Promise<void> {
  ensurePythonTorch(values.python);
  setNumThreads(threads);
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-engine-'));
  const weights = join(dir, 'reference.safetensors');
  {
    manualSeed(0);
    const model = buildModel(CONFIG);
    const ids = randint(0, CONFIG.vocab, [CONFIG.batch, CONFIG.seq + 1]);
    await saveSafetensors(weights, new Map([...model.stateDict(), ['ids', ids]]), { bench: JSON.stringify(CONFIG) });
    ids.dispose();
    model.dispose();
  }
  const c = CONFIG;
  console.log(`[bench] reference transformer: vocab ${c.vocab}, d_model ${c.d_model}, ${c.layers} layers, ${c.heads} heads, MLP ${c.mlp_ratio}x, seq ${c.seq}, batch ${c.batch}; AdamW lr ${c.lr} wd ${c.weight_decay}, clip ${c.clip}; ${steps} steps after ${warmup} warm-up; ${threads} threads; libtorch ${libtorchVersion()}`);
  console.log(`[bench] ${rounds} rounds, each a fresh TypeScript and a fresh PyTorch process (alternating which goes first), all from ${weights}`);

  const ts: SideResult[] = [];
  const py: SideResult[] = [];
  let worst = 0;
  for (let r = 0; r < rounds; r++) {
    const order: ('ts' | 'py')[] = r % 2 === 0 ? ['ts', 'py'] : ['py', 'ts'];
    const got: Partial<Record<'ts' | 'py', SideResult>> = {};
    for (const side of order) got[side] = runSide(side, weights);
    const t = got.ts!;
    const p = got.py!;
    ts.push(t);
    py.push(p);
    console.log(`round ${r + 1}/${rounds} (${order[0] === 'ts' ? 'typescript' : 'pytorch'} first): typescript ${t.ms_per_step.toFixed(1)} ms/step (peak RSS ${mib(t.max_rss_kb)}), pytorch ${p.ms_per_step.toFixed(1)} ms/step (peak RSS ${mib(p.max_rss_kb)}), ratio ${(t.ms_per_step / p.ms_per_step).toFixed(3)}`);
    const diffs = t.losses.map((l, i) => Math.abs(l - (p.losses[i] ?? Number.NaN)));
    const roundWorst = t.losses.length === p.losses.length && t.params === p.params ? Math.max(...diffs) : Number.POSITIVE_INFINITY;
    if (r === 0 || !(roundWorst <= LOSS_TOLERANCE)) {
      console.log(`  loss by step, typescript: ${lossLine(t.losses)}`);
      console.log(`  loss by step, pytorch:    ${lossLine(p.losses)}`);
    }
    if (!(roundWorst <= LOSS_TOLERANCE)) {
      console.error(`[bench] FAILED: in round ${r + 1} the two sides disagree (max |loss difference| ${roundWorst.toExponential(2)} > ${LOSS_TOLERANCE}; params ${t.params} vs ${p.params}, ${t.losses.length} vs ${p.losses.length} losses): they do not compute the same thing, so their timings do not compare. Weights and batch kept in ${weights}`);
      process.exit(1);
    }
    worst = Math.max(worst, roundWorst);
  }
  rmSync(dir, { recursive: true, force: true });

  const ratios = ts.map((t, i) => t.ms_per_step / py[i]!.ms_per_step);
  const ratio = median(ratios);
  const gflops = matmulGflops();
  console.log(`losses agree: max |typescript - pytorch| ${worst.toExponential(2)} over ${rounds} rounds x ${warmup + steps} steps (tolerance ${LOSS_TOLERANCE}); params ${ts[0]!.params}`);
  console.log(`peak RSS (largest over rounds): typescript ${mib(Math.max(...ts.map((t) => t.max_rss_kb)))}, pytorch ${py[0]!.version} ${mib(Math.max(...py.map((p) => p.max_rss_kb)))}`);
  console.log(`median over ${rounds} rounds: typescript (pulse addon) ${median(ts.map((t) => t.ms_per_step)).toFixed(1)} ms/step, pytorch ${py[0]!.version} ${median(py.map((p) => p.ms_per_step)).toFixed(1)} ms/step; ratio typescript/pytorch median ${ratio.toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}); target <= 1.2: ${ratio <= 1.2 ? 'met' : 'NOT met'}`);
  console.log(`fp32 matmul 1024^3: ${gflops.toFixed(1)} GFLOP/s`);
}

if (values.side === 'ts') {
  if (!values.weights) throw new Error('--side ts needs --weights FILE');
  await runTypeScriptSide(values.weights);
} else if (values.side !== undefined) {
  throw new Error(`--side must be 'ts' (the PyTorch side is bench/reference_step.py), got '${values.side}'`);
} else {
  await main();
}

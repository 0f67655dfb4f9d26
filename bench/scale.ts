/**
 * npm run bench:scale [-- --preset paper|quick --seeds N --no-slurm]
 * The paper preset (3 seeds) on this machine three ways, each from a cold cache into its own run
 * folder: one process with 2 libtorch threads, 2 local workers with 1 thread each, and a one-node
 * Slurm cluster (scripts/slurm-local.sh start) with a job array of 2 tasks of 1 thread. Prints the
 * wall time of each and its ratio to the single process (target for 2 workers: <= 0.65), the
 * time the workers spent between steps scanning and claiming (scheduling; target <= 5% of the
 * steps' time) and waiting for each other, and checks the numbers: the 2 workers and Slurm (same
 * threads) identical, and how far 2 threads move them from 1.
 * `--preset quick --seeds 2` proves it works in a few minutes.
 */
import { parseArgs } from 'node:util';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { readSamples } from '../src/protocol/samples-file.ts';

const { values } = parseArgs({ options: { preset: { type: 'string', default: 'paper' }, seeds: { type: 'string', default: '3' }, 'no-slurm': { type: 'boolean', default: false } } });
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i);
const root = mkdtempSync(join(tmpdir(), 'pulse-bench-scale-'));
const PULSE = resolve('bin/pulse.js');
const worldDir = join(root, 'world');

const slurmUp = (() => {
  try { return /idle|mixed/.test(execFileSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })); } catch { return false; }
})();

interface Variant { name: string; threads: number; args: string[] }
const variants: Variant[] = [
  { name: 'one process, 2 threads', threads: 2, args: [] },
  { name: '2 workers x 1 thread', threads: 1, args: ['--workers', '2'] },
  ...(!values['no-slurm'] && slurmUp ? [{ name: 'Slurm, 2 tasks x 1 thread', threads: 1, args: ['--executor', 'slurm', '--jobs', '2', '--wait'] }] : []),
];
if (!values['no-slurm'] && !slurmUp) console.log('no Slurm running: the Slurm row is left out (scripts/slurm-local.sh start)');

function pulse(cwd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [PULSE, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    child.on('exit', (code) => (code === 0 ? done((performance.now() - t0) / 1000) : fail(new Error(`pulse ${args.join(' ')} exited ${code}:\n${err}`))));
  });
}

// the world once, outside the timings
await pulse(root, ['data', 'generate', '--out', worldDir, '--seed', '0']);

interface Measured { variant: Variant; wall: number; out: string; steps: number; scheduling: number; waiting: number }
const measured: Measured[] = [];
for (const variant of variants) {
  const cwd = join(root, variant.name.replace(/[^A-Za-z0-9]+/g, '-'));
  mkdirSync(cwd);
  const config = join(cwd, 'config.yaml');
  writeFileSync(config, stringify({ threads: variant.threads, model: { path: resolve('assets/base.safetensors') }, world: { seed: 0, dir: worldDir }, seeds }));
  const out = join(cwd, 'run');
  console.log(`${variant.name}: running (${cwd}) ...`);
  const wall = await pulse(cwd, ['run', '--preset', values.preset!, '--config', config, '--out', out, '--no-report', ...variant.args]);
  const journals = readdirSync(join(out, 'workers')).map((f) => JSON.parse(readFileSync(join(out, 'workers', f), 'utf8')));
  const sum = (key: string) => journals.reduce((t, j) => t + j[key], 0);
  measured.push({ variant, wall, out, steps: sum('step_seconds'), scheduling: sum('scheduling_seconds'), waiting: sum('waiting_seconds') });
}

/** Numeric leaves that differ between two results.json (timings, placement and the summary aside), and the largest differences by kind. */
function numberDrift(a: string, b: string) {
  const out = { compared: 0, differ: 0, maxAccuracy: 0, maxRelative: 0, maxLoss: 0 };
  const skip = /(^|\.)(seconds|placement|config|created_at|finished_at|id|pulse_version|summary)$/;
  const walk = (x: unknown, y: unknown, path: string) => {
    if (skip.test(path)) return;
    if (typeof x === 'number' && typeof y === 'number') {
      out.compared++;
      if (x !== y) {
        out.differ++;
        const d = Math.abs(x - y);
        if (/\.(unlearn|retain|general)\.(overall|multimodal|text_only)$/.test(path)) out.maxAccuracy = Math.max(out.maxAccuracy, d);
        if (/\.relative\./.test(path)) out.maxRelative = Math.max(out.maxRelative, d);
        if (/\.loss\.(first|last)$/.test(path)) out.maxLoss = Math.max(out.maxLoss, d);
      }
    } else if (x && y && typeof x === 'object' && typeof y === 'object') {
      // arrays too: their indices are keys
      for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${path}.${k}`);
    }
  };
  walk(JSON.parse(readFileSync(join(a, 'results.json'), 'utf8')), JSON.parse(readFileSync(join(b, 'results.json'), 'utf8')), '');
  return out;
}

/** How far the per-question option scores (log-likelihoods) of two runs are apart, and how many answers differ. */
async function sampleDrift(a: string, b: string): Promise<{ rows: number; maxScore: number; answers: number }> {
  const [x, y] = await Promise.all([a, b].map((dir) => readSamples(join(dir, 'samples.parquet'))));
  let maxScore = 0;
  let answers = 0;
  x!.forEach((row, i) => {
    const other = y![i]!;
    if (row.chosen !== other.chosen) answers++;
    row.scores.forEach((v, j) => { maxScore = Math.max(maxScore, Math.abs(v - other.scores[j]!)); });
  });
  return { rows: x!.length, maxScore, answers };
}

const single = measured[0]!;
const f1 = (n: number) => n.toFixed(1);
console.log(`\nbench:scale, preset ${values.preset}, seeds ${seeds.join(',')}, ${variants.length} executors, each from a cold cache\n`);
console.log(`${'executor'.padEnd(28)} ${'wall (min)'.padStart(10)} ${'ratio'.padStart(6)} ${'steps (s)'.padStart(10)} ${'scheduling (s)'.padStart(15)} ${'% of steps'.padStart(10)} ${'waiting (s)'.padStart(12)}`);
for (const m of measured) {
  console.log(`${m.variant.name.padEnd(28)} ${(m.wall / 60).toFixed(2).padStart(10)} ${(m.wall / single.wall).toFixed(2).padStart(6)} ${f1(m.steps).padStart(10)} `
    + `${f1(m.scheduling).padStart(15)} ${((100 * m.scheduling) / m.steps).toFixed(2).padStart(10)} ${f1(m.waiting).padStart(12)}`);
}
const workers = measured[1]!;
console.log(`\ntargets: 2 workers / one process <= 0.65 (${(workers.wall / single.wall).toFixed(2)}); scheduling <= 5% of the steps' time `
  + `(${measured.map((m) => `${((100 * m.scheduling) / m.steps).toFixed(2)}%`).join(', ')})`);
for (const m of measured.slice(2)) {
  const d = numberDrift(workers.out, m.out);
  console.log(`numbers, ${workers.variant.name} vs ${m.variant.name}: ${d.differ === 0 ? 'identical' : `${d.differ} of ${d.compared} differ`} (${d.compared} numbers)`);
}
const drift = numberDrift(single.out, workers.out);
console.log(`numbers, 2 threads vs 1 thread: ${drift.differ} of ${drift.compared} differ; largest difference of an accuracy ${drift.maxAccuracy.toFixed(2)} points, `
  + `of a forgotten/retained % ${drift.maxRelative.toFixed(2)} points, of a request's first or last training loss ${drift.maxLoss.toExponential(1)}`);
const rows = await sampleDrift(single.out, workers.out);
console.log(`per-question rows, 2 threads vs 1 thread: largest difference of an option's log-likelihood ${rows.maxScore.toExponential(1)}, `
  + `${rows.answers} of ${rows.rows} answers differ`);
console.log(`run folders: ${root}`);

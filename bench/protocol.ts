/**
 * npm run bench:protocol [-- --preset paper|quick --seeds N --attacks all --keep-cache]
 * Runs the paper preset (3 scenarios x 3 methods + the update-target ablation, its seeds, scoring
 * every epoch, the retain oracle) on the shipped model into a fresh run folder and prints the
 * total wall time, the time per phase, the share of time spent scoring, the peak RSS, and the size
 * of each request checkpoint (a state delta) against the parameters it holds. `--seeds N` runs
 * seeds 0..N-1; `--attacks all` (or a list) adds the attack battery and prints its share. The
 * fine-tuned model and the oracles are built from scratch unless --keep-cache (then pulse's cache, as `pulse run` uses it).
 * Target on a 2-core machine: <= 20 minutes with several seeds, <= 10 with one.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProtocol } from '../src/protocol/runner.ts';
import { resolveConfig, type PresetName } from '../src/protocol/config.ts';
import { loadProtocolData } from '../src/data/protocol-data.ts';
import { writeReport } from '../src/report/index.ts';
import { consoleProgress } from '../src/progress.ts';
import { cacheDir as pulseCache } from '../src/paths.ts';

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'paper' }, 'keep-cache': { type: 'boolean', default: false }, out: { type: 'string' }, seeds: { type: 'string' },
    attacks: { type: 'string' },
  },
});
const preset = values.preset as PresetName;
const seedCount = values.seeds === undefined ? null : Number(values.seeds);
if (seedCount !== null && !(Number.isInteger(seedCount) && seedCount > 0)) throw new Error(`--seeds must be a positive integer, not ${values.seeds}`);
const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-protocol-'));
const outDir = values.out ?? join(dir, 'run');
const cacheDir = values['keep-cache'] ? pulseCache() : join(dir, 'cache');
const overrides: Record<string, unknown> = {};
if (seedCount !== null) overrides.seeds = Array.from({ length: seedCount }, (_, i) => i);
if (values.attacks) overrides.attacks = values.attacks.split(',');
const config = resolveConfig({ preset, overrides });
const target = preset === 'paper' && (config.seeds?.length ?? 1) > 1 ? 20 : 10;
const t0 = performance.now();
const { phases, resultsPath, checkpoints, scoringSeconds, attackSeconds } = await runProtocol({ config, outDir, preset, cacheDir, progress: consoleProgress, loadData: (c) => loadProtocolData(c.world), log: (l) => console.error(`[pulse] ${l}`) });
const total = (performance.now() - t0) / 1000;
await writeReport(outDir);
console.log(`\nphase times (s):`);
for (const p of phases) console.log(`  ${p.seconds.toFixed(1).padStart(7)}  ${p.name}`);
console.log(`seeds: ${(config.seeds ?? [config.seed]).join(', ')}; eval.every: ${config.eval.every}; retain oracle: ${config.eval.oracle ? 'yes' : 'no'}`);
console.log(`total wall time: ${(total / 60).toFixed(2)} min (target <= ${target} min)${values['keep-cache'] ? ' [fine-tuned model from cache]' : ''}`);
console.log(`scoring: ${(scoringSeconds / 60).toFixed(2)} min, ${((100 * scoringSeconds) / total).toFixed(0)}% of the total`);
if (config.attacks.length) {
  const all = Object.values(attackSeconds).reduce((a, b) => a + b, 0);
  console.log(`attacks (${config.attacks.join(', ')}): ${(all / 60).toFixed(2)} min, ${((100 * all) / total).toFixed(0)}% of the total, `
    + `+${((100 * all) / (total - all)).toFixed(0)}% on the same run without them (target <= 50%)`);
  for (const [name, seconds] of Object.entries(attackSeconds)) console.log(`  ${name}: ${(seconds / 60).toFixed(2)} min`);
}
console.log(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
const modelBytes = statSync(String(config.model.path)).size;
console.log(`request checkpoints (state deltas; the whole model file is ${(modelBytes / 1024).toFixed(0)} KiB):`);
for (const c of checkpoints) {
  console.log(`  ${(c.bytes / 1024).toFixed(1).padStart(8)} KiB  ${String(c.parameters).padStart(9)} trained parameters  ${(c.bytes / c.parameters).toFixed(2)} bytes/parameter  ${c.file}`);
}
console.log(`results: ${resultsPath}`);

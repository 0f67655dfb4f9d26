/**
 * npm run bench:model [-- --steps N --threads N]
 * Pre-trains the embedded model with the shipped recipe (or N steps), LoRA-fine-tunes it on 100
 * fictitious people with the paper preset's settings, and prints wall time, steps/s and the
 * accuracy of both models by set and modality (likelihood and letter scoring).
 * Targets on a 2-core machine: pre-training <= 60 min, fine-tuning <= 5 min.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pretrain, DEFAULT_PRETRAIN } from '../src/train/pretrain.ts';
import { ensureFineTuned } from '../src/protocol/finetune.ts';
import { loadProtocolData } from '../src/data/protocol-data.ts';
import { resolveConfig } from '../src/protocol/config.ts';
import { loadModel } from '../src/model/registry.ts';
import { disposeDelta } from '../src/model/model.ts';
import { evaluateModelOnSets } from '../src/protocol/eval-model.ts';
import { scoreQuestions, scorePeople } from '../src/protocol/evaluate.ts';
import { byId, questionsOf } from '../src/data/records.ts';
import { consoleProgress } from '../src/progress.ts';
import { defaultThreads, setNumThreads } from '../src/torch/index.ts';

const { values } = parseArgs({ options: { steps: { type: 'string' }, threads: { type: 'string' }, base: { type: 'string' } } });
const threads = Number(values.threads ?? defaultThreads());
setNumThreads(threads);
const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-model-'));
const fmt = (r: { overall: number | null; multimodal: number | null; text_only: number | null; n: number; known_80?: number }) =>
  `overall ${r.overall?.toFixed(1)}%, multimodal ${r.multimodal?.toFixed(1) ?? '—'}%, text-only ${r.text_only?.toFixed(1) ?? '—'}% (n ${r.n})${r.known_80 !== undefined ? `, ${r.known_80} celebrities >= 80% in both modalities` : ''}`;

let basePath = values.base;
if (!basePath) {
  const recipe = { ...DEFAULT_PRETRAIN, ...(values.steps ? { steps: Number(values.steps) } : {}) };
  basePath = join(dir, 'base.safetensors');
  const t0 = performance.now();
  const { model } = await pretrain(recipe, basePath, { progress: consoleProgress, threads });
  model.dispose();
  const seconds = (performance.now() - t0) / 1000;
  console.log(`pre-training: ${recipe.steps} steps in ${(seconds / 60).toFixed(1)} min (${(recipe.steps / seconds).toFixed(2)} steps/s, batch ${recipe.batchSize}, ${threads} threads); target <= 60 min`);
} else {
  console.log(`pre-training skipped: using ${basePath}`);
}

const config = resolveConfig({ preset: 'paper', overrides: { model: { path: basePath } } });
const data = await loadProtocolData({ dir: join(dir, 'world'), seed: config.world.seed });
const model = await loadModel(config.model);
const t1 = performance.now();
const fineTuned = await ensureFineTuned(model, data, config, join(dir, 'cache'), consoleProgress);
const ftSeconds = (performance.now() - t1) / 1000;
console.log(`fine-tuning: ${config.fine_tune.steps} steps on ${fineTuned.people.length} people in ${(ftSeconds / 60).toFixed(2)} min (${(config.fine_tune.steps / ftSeconds).toFixed(2)} steps/s); target <= 5 min`);

for (const name of ['base', 'fine-tuned'] as const) {
  if (name === 'fine-tuned') model.applyDelta(fineTuned.delta);
  for (const mode of ['likelihood', 'letter'] as const) {
    const t = performance.now();
    const sets = await evaluateModelOnSets(model, data, ['general', 'celebrities', 'fictitious'], mode);
    const tuned = await scoreQuestions(model, questionsOf(byId(data.fictitious, fineTuned.people, 'fine-tuned people')), mode, 256);
    console.log(`${name} [${mode}] (${((performance.now() - t) / 1000).toFixed(0)} s)`);
    for (const [set, r] of Object.entries(sets)) console.log(`  ${set.padEnd(12)} ${fmt(r)}`);
    console.log(`  ${'the 100 fine-tuned people'.padEnd(12)} ${fmt(tuned)}`);
    // Celebrities are numbered by popularity rank: knowledge should fall with rank.
    const people = await scorePeople(model, data.celebrities, mode, 256);
    const band = (from: number, to: number) => {
      const b = people.slice(from, to);
      const mean = (f: (p: (typeof b)[number]) => number) => (b.reduce((t, p) => t + f(p), 0) / b.length).toFixed(1);
      return `ranks ${from + 1}-${to}: multimodal ${mean((p) => p.multimodal)}%, text-only ${mean((p) => p.text_only)}%`;
    };
    console.log(`  celebrities by popularity: ${[[0, 10], [10, 45], [45, 100], [100, 153]].map(([a, b]) => band(a!, b!)).join('; ')}`);
  }
}
disposeDelta(fineTuned.delta);
model.dispose();

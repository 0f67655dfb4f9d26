import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PulseError } from '../errors.ts';
import type { RunConfig } from './config.ts';
import type { DataSizes, StepTime, StudyEstimate } from './estimate.ts';

/** bench:llava on CUDA (README, "On CUDA"): LLaVA-1.5-7B size, bfloat16, LoRA r16 on the seven projections, batch 4 x 650 tokens, no checkpointing. */
const MEASURED_7B: StepTime = { ms: 320.7, rows: 4, source: 'measured: npm run bench:llava -- --device cuda --size 7b, one NVIDIA H200 (README)' };
/** Parameters of LLaVA-1.5-7B and -13B (language model, CLIP ViT-L/14-336 and projector). */
const PARAMETERS = { '7b': 7.06e9, '13b': 13.35e9 };

/** The model's size from its Hugging Face config (the language model's width), else from its folder's name. */
function llavaSize(path: string): '7b' | '13b' | null {
  const file = join(path, 'config.json');
  if (existsSync(file)) {
    try {
      const width = (JSON.parse(readFileSync(file, 'utf8')) as { text_config?: { hidden_size?: number } }).text_config?.hidden_size;
      if (width === 4096) return '7b';
      if (width === 5120) return '13b';
    } catch { /* read the name instead */ }
  }
  return /13b/i.test(path) ? '13b' : /7b/i.test(path) ? '7b' : null;
}

/**
 * The step time an estimate rests on: the one given, else the H200 measurement at the 7B size,
 * scaled by parameter count for 13B and by 4/3 with gradient checkpointing (one more forward per
 * step), each scaling said in the source.
 */
export function stepTimeFor(config: RunConfig, given: { ms: number; rows: number } | null): StepTime {
  if (given) {
    if (!(given.ms > 0)) throw new PulseError(`--step-ms: expected a positive number of milliseconds, got ${given.ms}`);
    return { ...given, source: 'given with --step-ms' };
  }
  const size = config.model.kind === 'llava' ? llavaSize(String(config.model.path)) : null;
  if (!size) throw new PulseError(`no measured step time for this model (kind ${config.model.kind}); measure one (npm run bench:llava -- --device cuda) and give it with --step-ms`);
  const checkpointing = config.model.gradient_checkpointing === true;
  const scale = (PARAMETERS[size] / PARAMETERS['7b']) * (checkpointing ? 4 / 3 : 1);
  if (scale === 1) return MEASURED_7B;
  const why = [size === '13b' ? 'x13.35/7.06 parameters for 13B' : '', checkpointing ? 'x4/3 for gradient checkpointing' : ''].filter(Boolean).join(', ');
  return { ms: MEASURED_7B.ms * scale, rows: MEASURED_7B.rows, source: `the 7B H200 measurement (${MEASURED_7B.ms} ms) scaled, not measured: ${why}` };
}

const hours = (s: number) => (s / 3600).toFixed(s < 36 ? 3 : s < 360 ? 2 : 1);

/** The estimate as a table: one row per cell, then the prerequisites and the totals. */
export function formatEstimate(e: StudyEstimate, time: StepTime, sizes: DataSizes): string {
  const header = ['cell', 'requests', 'training steps', 'scoring points', 'GPU-hours'];
  const rows = e.cells.map((c) => [c.cell.key, String(c.requests), String(c.trainingSteps), String(c.scoringPoints), hours(c.seconds)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [
    line(header),
    ...rows.map(line),
    '',
    `${e.cells.length} cells: ${hours(e.gpuSeconds - e.prerequisiteSeconds)} GPU-hours; fine-tune, retain oracles, selection and preparations: ${hours(e.prerequisiteSeconds)} GPU-hours`,
    `total: ${hours(e.gpuSeconds)} GPU-hours; wall time on ${e.gpus} GPU${e.gpus > 1 ? 's' : ''}: ${hours(e.wallSeconds)} h `
      + `(cells started in plan order as soon as their preparation is done, as workers take them)`,
    `step time: ${time.ms.toFixed(1)} ms per ${time.rows} rows of ~650 tokens (${time.source}); `
      + `${sizes.examplesPerPerson} training examples and ${sizes.questionsPerPerson} questions per person, ${sizes.generalItems} general questions where eval.general_items is null; `
      + 'scoring a question costs a third of a training row (a forward); attacks as their training steps and scoring passes',
  ].join('\n');
}

import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { PulseError } from '../errors.ts';
import type { RunConfig } from './config.ts';
import { RESULTS_SCHEMA_VERSION, type Results, type ScenarioResult } from './results-schema.ts';
import { requestLabel, type Plan, type PrepareStep } from './plan.ts';
import { pendingCell, readCell, readPrepared, samplePartPath } from './records.ts';
import { skippedNote } from './settings.ts';
import type { RunInfo } from './run-dir.ts';

/**
 * results.json from the steps' records: a pure function of the run folder. Scenarios in plan order
 * (seed by seed), methods in the order the config lists them, whatever order the steps finished
 * in and whoever ran them. The summary is added by the finish. A step that has not run yet is an
 * error: only a run whose every step is done is merged.
 */
export function mergeResults(outDir: string, plan: Plan, config: RunConfig, info: RunInfo): Results {
  if (!info.model || !info.scoring) throw new PulseError(`${outDir}: no process has loaded the model yet (run.json has no model)`);
  const scenarios = plan.steps.filter((s): s is PrepareStep => s.kind === 'prepare').map((step): ScenarioResult => {
    const prepared = readPrepared(outDir, step);
    if (!prepared) throw new PulseError(`${outDir}: ${step.key} has not been prepared yet`);
    const { status, note, ...record } = prepared;
    if (status === 'skipped') return { ...record, status, ...(note ? { note } : {}), methods: [] };
    const methods = plan.cells.filter((c) => c.prepare === step.key).map((cell) => readCell(outDir, cell) ?? pendingCell(config, cell));
    const merged: ScenarioResult = { ...record, status: methods.every((m) => m.status === 'complete') ? 'complete' : 'partial', methods };
    const skipped = skippedNote(config, step.scenario);
    return skipped ? { ...merged, note: skipped } : merged;
  });
  return {
    schema: 'pulse.results',
    version: RESULTS_SCHEMA_VERSION,
    run: {
      id: basename(outDir), created_at: info.created_at, finished_at: null, pulse_version: info.pulse_version, preset: info.preset ?? null,
      scoring: info.scoring, model: info.model, seeds: { master: config.seed, world: config.world.seed }, seed_list: plan.seeds,
      config: config as unknown as Record<string, unknown>, ...(info.plugins?.length ? { plugins: info.plugins } : {}),
    },
    scenarios,
    summary: null,
  };
}

/**
 * The per-question parts of the run, in the order samples.parquet holds their rows: by the name
 * each part had before runs were cut into cells (`s<seed>--<scenario>--before`, `--oracle`,
 * `--<method>--<target>--r<k>`), so that a run gives the same file as it always did.
 */
export function sampleParts(outDir: string, plan: Plan): string[] {
  const parts: { order: string; path: string }[] = [];
  for (const step of plan.steps) {
    if (step.kind === 'select') continue;
    const stem = `s${step.seed}--`;
    if (step.kind === 'prepare') {
      for (const part of ['before', 'oracle']) {
        parts.push({ order: `${stem}${step.scenario.name}--${part}.parquet`, path: samplePartPath(outDir, step, part) });
      }
    } else {
      const label = requestLabel(step.scenario.name, step.method, step.target);
      for (const r of readCell(outDir, step)?.requests ?? []) {
        parts.push({ order: `${stem}${label}--r${r.request}.parquet`, path: samplePartPath(outDir, step, `r${r.request}`) });
      }
    }
  }
  return parts.filter((p) => existsSync(p.path)).sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0)).map((p) => p.path);
}

import { join } from 'node:path';
import { writeCsvAtomic, type CsvValue } from '../csv-file.ts';
import { forgotten, retained } from '../metrics/accuracy.ts';
import type { Accuracy, SetScores } from '../metrics/scores.ts';
import type { Results, ScenarioResult } from './results-schema.ts';

/**
 * results.csv: results.json in long format, one row per seed x scenario x method x target x
 * request x step x set x modality, so that pandas, R and DuckDB load it as is. The start model is
 * method `start` (request 0) and the retain oracle method `oracle`; their target is empty.
 * Sets are unlearn, retain, general, and request_<j> (request j's people of D_unlearn).
 * `relative` is forgotten % on D_unlearn and its request sets, retained % elsewhere, against the start model.
 */
export const RESULT_COLUMNS = [
  'seed', 'scenario', 'method', 'update_target', 'request', 'step', 'set', 'modality', 'accuracy', 'questions', 'relative', 'relative_kind',
] as const;

type Row = Record<(typeof RESULT_COLUMNS)[number], CsvValue>;
const MODALITIES = [['overall', 'overall'], ['multimodal', 'multimodal'], ['text_only', 'text']] as const;

interface Point { method: string; target: string | null; request: number; step: number; scores: SetScores; byRequest: Accuracy[] }

function pointRows(scenario: ScenarioResult, p: Point): Row[] {
  const before = scenario.before!;
  const sets: [string, Accuracy, Accuracy][] = [
    ['unlearn', p.scores.unlearn, before.unlearn], ['retain', p.scores.retain, before.retain], ['general', p.scores.general, before.general],
    ...p.byRequest.map((a, j): [string, Accuracy, Accuracy] => [`request_${j + 1}`, a, scenario.before_by_request[j]!]),
  ];
  return sets.flatMap(([set, acc, start]) => MODALITIES.flatMap(([key, modality]) => {
    if (acc[key] === null) return [];
    const forgets = set === 'unlearn' || set.startsWith('request_');
    const relative = forgets ? forgotten(start[key], acc[key]) : retained(start[key], acc[key]);
    return [{
      seed: scenario.seed, scenario: scenario.scenario, method: p.method, update_target: p.target, request: p.request, step: p.step,
      set, modality, accuracy: acc[key], questions: acc.n, relative, relative_kind: forgets ? 'forgotten' : 'retained',
    }];
  }));
}

export function resultRows(results: Results): Row[] {
  return results.scenarios.flatMap((scenario) => {
    if (scenario.before === null) return [];
    const start = { request: 0, step: 0, target: null };
    const points: Point[] = [
      { ...start, method: 'start', scores: scenario.before, byRequest: scenario.before_by_request },
      ...(scenario.oracle ? [{ ...start, method: 'oracle', scores: scenario.oracle, byRequest: [] }] : []),
      ...scenario.methods.flatMap((m) => m.requests.flatMap((r) => [
        ...r.trajectory.map((t) => ({ method: m.method, target: m.update_target, request: r.request, step: t.step, scores: t.after, byRequest: t.by_request })),
        { method: m.method, target: m.update_target, request: r.request, step: r.steps, scores: r.after, byRequest: r.by_request },
      ])),
    ];
    return points.flatMap((p) => pointRows(scenario, p));
  });
}

/** Writes RUN_DIR/results.csv from the results; returns its path and row count. */
export async function writeResultsCsv(runDir: string, results: Results): Promise<{ path: string; rows: number }> {
  const rows = resultRows(results);
  const path = join(runDir, 'results.csv');
  await writeCsvAtomic(path, rows, RESULT_COLUMNS);
  return { path, rows: rows.length };
}

import { seriesLabel, type MethodResult, type ScenarioResult } from '../protocol/results-schema.ts';
import { SCENARIO_NAMES } from '../protocol/scenarios.ts';
import type { SetScores } from '../metrics/scores.ts';
import type { Summary } from '../protocol/summary-schema.ts';
import type { LoadedRun } from './load.ts';
import { averageTrials, type Trial } from './average.ts';

/** The scenarios of the compared runs: the protocol's in table order, then any other a run holds. */
export function scenarioNames(runs: readonly LoadedRun[]): string[] {
  const found = runs.flatMap((r) => r.results.scenarios.map((s) => s.scenario));
  return [...new Set([...SCENARIO_NAMES, ...found])];
}

/**
 * One method (and update target) of one scenario of one run: the unit every chart and table row
 * is made of. `scenario` and `method` are the seeds' records averaged (a single seed's as they
 * are); `trials` holds each seed's own, and `summary` the run's intervals.
 */
export interface Series {
  run: string;
  label: string;
  scenario: ScenarioResult;
  method: MethodResult;
  trials: Trial[];
  summary: Summary | null;
}

/** All series of a scenario across the compared runs; labels carry the run when there are several. */
export function seriesOf(runs: readonly LoadedRun[], scenario: string): Series[] {
  return runs.flatMap((run) => {
    const records = run.results.scenarios.filter((x) => x.scenario === scenario);
    const first = records[0];
    if (!first) return [];
    return first.methods.map((m) => {
      const trials = records.flatMap((s) => s.methods.filter((x) => x.method === m.method && x.update_target === m.update_target)
        .map((method) => ({ seed: s.seed, scenario: s, method })));
      const mean = averageTrials(trials);
      const label = runs.length > 1 ? `${seriesLabel(m, first)} (${run.label})` : seriesLabel(m, first);
      return { run: run.label, label, ...mean, trials, summary: run.results.summary };
    });
  });
}

/** Scores after the last finished request, or null when none finished. */
export function lastScores(series: Series): SetScores | null {
  return series.method.requests.at(-1)?.after ?? null;
}

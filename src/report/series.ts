import { seriesLabel, type MethodResult, type ScenarioResult } from '../protocol/results-schema.ts';
import { SCENARIO_NAMES } from '../protocol/scenarios.ts';
import type { SetScores } from '../metrics/scores.ts';
import type { LoadedRun } from './load.ts';

/** The scenarios of the compared runs: the protocol's in table order, then any other a run holds. */
export function scenarioNames(runs: readonly LoadedRun[]): string[] {
  const found = runs.flatMap((r) => r.results.scenarios.map((s) => s.scenario));
  return [...new Set([...SCENARIO_NAMES, ...found])];
}

/** One method of one scenario of one run: the unit every chart and table row is made of. */
export interface Series {
  run: string;
  label: string;
  scenario: ScenarioResult;
  method: MethodResult;
}

/** All series of a scenario across the compared runs; labels carry the run when there are several. */
export function seriesOf(runs: readonly LoadedRun[], scenario: string): Series[] {
  return runs.flatMap((run) => {
    const s = run.results.scenarios.find((x) => x.scenario === scenario);
    if (!s) return [];
    return s.methods.map((m) => ({ run: run.label, label: runs.length > 1 ? `${seriesLabel(m, s)} (${run.label})` : seriesLabel(m, s), scenario: s, method: m }));
  });
}

/** Scores after the last finished request, or null when none finished. */
export function lastScores(series: Series): SetScores | null {
  return series.method.requests.at(-1)?.after ?? null;
}

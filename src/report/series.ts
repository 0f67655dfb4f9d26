import { seriesLabel, type MethodResult, type ScenarioName, type ScenarioResult, type SetScores } from '../protocol/results-schema.ts';
import type { LoadedRun } from './load.ts';

export const SCENARIO_TITLES: Record<ScenarioName, string> = {
  fine_tuned: 'Fine-tuned knowledge',
  pre_trained: 'Pre-trained knowledge',
  sustainability: 'Sustainability (sequential requests)',
};

/** One method of one scenario of one run: the unit every chart and table row is made of. */
export interface Series {
  run: string;
  label: string;
  scenario: ScenarioResult;
  method: MethodResult;
}

/** All series of a scenario across the compared runs; labels carry the run when there are several. */
export function seriesOf(runs: readonly LoadedRun[], scenario: ScenarioName): Series[] {
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

import type { Accuracy, ByModality, RelativeScores, SetScores } from '../metrics/scores.ts';
import type { MethodResult, ScenarioResult } from '../protocol/results-schema.ts';

/** One seed's record of an arm: its scenario (splits, start scores, oracle) and its method entry. */
export interface Trial { seed: number; scenario: ScenarioResult; method: MethodResult }

/** Mean of the values that are there; null when none is. */
export function meanOf(values: readonly (number | null | undefined)[]): number | null {
  const present = values.filter((v): v is number => v !== null && v !== undefined);
  return present.length ? present.reduce((a, b) => a + b, 0) / present.length : null;
}

function meanAccuracy(list: readonly Accuracy[]): Accuracy {
  return {
    overall: meanOf(list.map((a) => a.overall)), multimodal: meanOf(list.map((a) => a.multimodal)),
    text_only: meanOf(list.map((a) => a.text_only)), n: Math.round(meanOf(list.map((a) => a.n)) ?? 0),
  };
}

export function meanScores(list: readonly SetScores[]): SetScores {
  return { unlearn: meanAccuracy(list.map((s) => s.unlearn)), retain: meanAccuracy(list.map((s) => s.retain)), general: meanAccuracy(list.map((s) => s.general)) };
}

function meanByModality(list: readonly ByModality[]): ByModality {
  return { overall: meanOf(list.map((b) => b.overall)), multimodal: meanOf(list.map((b) => b.multimodal)), text_only: meanOf(list.map((b) => b.text_only)) };
}

function meanRelative(list: readonly RelativeScores[]): RelativeScores {
  return {
    forgotten_unlearn: meanByModality(list.map((r) => r.forgotten_unlearn)),
    retained_retain: meanByModality(list.map((r) => r.retained_retain)),
    retained_general: meanByModality(list.map((r) => r.retained_general)),
  };
}

/**
 * An arm's records averaged across seeds, shaped as one seed's, so that every table and chart
 * reads several seeds as it reads one: scores and relative scores are the means of the seeds'
 * (the mean of per-seed forgotten %, as the summary reports it); request k averages the seeds
 * that finished it. The status is the first seed's unless a seed failed or is pending.
 */
export function averageTrials(trials: readonly Trial[]): { scenario: ScenarioResult; method: MethodResult } {
  const first = trials[0]!;
  if (trials.length === 1) return first;
  const befores = trials.map((t) => t.scenario.before).filter((b): b is SetScores => b !== null);
  const oracles = trials.map((t) => t.scenario.oracle).filter((o): o is SetScores => o !== null);
  const longest = Math.max(...trials.map((t) => t.method.requests.length));
  const requests = Array.from({ length: longest }, (_, k) => {
    const at = trials.map((t) => t.method.requests[k]).filter((r) => r !== undefined);
    return {
      ...at[0]!, after: meanScores(at.map((r) => r.after)), relative: meanRelative(at.map((r) => r.relative)),
      by_request: at[0]!.by_request.map((_, j) => meanAccuracy(at.map((r) => r.by_request[j]!))), trajectory: [],
    };
  });
  const worst = trials.find((t) => t.method.status === 'failed') ?? trials.find((t) => t.method.status === 'pending') ?? first;
  return {
    scenario: {
      ...first.scenario, before: befores.length ? meanScores(befores) : null, oracle: oracles.length ? meanScores(oracles) : null,
      before_by_request: first.scenario.before_by_request.map((_, j) => meanAccuracy(trials.map((t) => t.scenario.before_by_request[j]!))),
    },
    method: { ...first.method, status: worst.method.status, ...(worst.method.error ? { error: worst.method.error } : {}), requests },
  };
}

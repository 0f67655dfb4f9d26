import { forgotten, retained } from '../metrics/accuracy.ts';
import type { Accuracy, SetScores } from '../metrics/scores.ts';
import { bootstrapInterval, normalisedArea, pairedDifference, tInterval, valueAtLevel, type Interval } from '../metrics/stats.ts';
import { deriveSeed } from '../random.ts';
import type { MethodResult, Results, ScenarioResult } from './results-schema.ts';
import type { SampleRow } from './samples-file.ts';
import type { Arm, Difference, MatchedCell, Modality, Stat, Summary, SummaryCell } from './summary-schema.ts';

export const MATCHED_LEVELS = [25, 50, 75] as const;
const MODALITIES: readonly Modality[] = ['overall', 'multimodal', 'text_only'];
/** the metrics compared between arms: the protocol's three relative scores */
const COMPARED = ['forgotten_unlearn', 'retained_retain', 'retained_general'] as const;

export interface SummaryOptions { resamples: number; seed: number; level?: number }

/** One arm in one seed: its scenario record and its finished method entry. */
interface Trial { seed: number; scenario: ScenarioResult; method: MethodResult }

const armKey = (a: Arm) => `${a.scenario}|${a.method}|${a.update_target}`;

/**
 * The run's aggregate: per arm and metric, each seed's value with a person-level bootstrap
 * interval, and the mean with a t interval across seeds; retained % at matched forgetting; and
 * paired differences between arms on the same seeds. Arms that did not finish in a seed leave
 * that seed out.
 */
export function summarise(results: Results, samples: readonly SampleRow[], options: SummaryOptions): Summary {
  const level = options.level ?? 0.95;
  const trials = finishedTrials(results);
  const arms = [...new Map(trials.map((t) => [armKey(armOf(t)), armOf(t)])).values()];
  const index = indexSamples(samples);
  const cells: SummaryCell[] = [];
  const matched: MatchedCell[] = [];
  for (const arm of arms) {
    const own = trials.filter((t) => armKey(armOf(t)) === armKey(arm));
    cells.push(...armCells(arm, own, index, { ...options, level }));
    matched.push(...matchedCells(arm, own, level));
  }
  return { level, bootstrap_resamples: options.resamples, seeds: results.run.seed_list, cells, matched, differences: differences(cells, level) };
}

function armOf(t: Trial): Arm {
  return { scenario: t.scenario.scenario, method: t.method.method, update_target: t.method.update_target };
}

function finishedTrials(results: Results): Trial[] {
  return results.scenarios.flatMap((scenario) => (scenario.before === null ? [] : scenario.methods
    .filter((m) => m.status === 'complete' && m.requests.length === scenario.splits.requests.length)
    .map((method) => ({ seed: scenario.seed, scenario, method }))));
}

const pointKey = (seed: number, scenario: string, method: string, target: string, request: number, step: number) =>
  [seed, scenario, method, target, request, step].join('|');

function indexSamples(samples: readonly SampleRow[]): Map<string, SampleRow[]> {
  const index = new Map<string, SampleRow[]>();
  for (const row of samples) {
    const key = pointKey(row.seed, row.scenario, row.method, row.target, row.request, row.step);
    const list = index.get(key);
    if (list) list.push(row); else index.set(key, [row]);
  }
  return index;
}

/** The value of a metric of one trial, read from results.json (per modality). */
type Reader = (t: Trial, m: Modality) => number | null;

const last = (t: Trial) => t.method.requests.at(-1)!;
const READERS: Record<string, Reader> = {
  forgotten_unlearn: (t, m) => last(t).relative.forgotten_unlearn[m],
  retained_retain: (t, m) => last(t).relative.retained_retain[m],
  retained_general: (t, m) => last(t).relative.retained_general[m],
  /** how far D_unlearn accuracy went from the start model's towards the retain oracle's: 100·(before − after)/(before − oracle) */
  toward_oracle: (t, m) => towardOracle(t.scenario.before!.unlearn[m], last(t).after.unlearn[m], t.scenario.oracle?.unlearn[m] ?? null),
};

export function towardOracle(before: number | null, after: number | null, oracle: number | null): number | null {
  if (before === null || after === null || oracle === null || before === oracle) return null;
  return (100 * (before - after)) / (before - oracle);
}

/** Normalised area under accuracy after request 0..K (metrics/stats normalisedArea): a sequence's mean accuracy. */
function sequenceReaders(requests: number): Record<string, Reader> {
  if (requests < 2) return {};
  type Point = { after: SetScores; byRequest: readonly Accuracy[] };
  const curve = (t: Trial): Point[] => [
    { after: t.scenario.before!, byRequest: t.scenario.before_by_request },
    ...t.method.requests.map((r) => ({ after: r.after, byRequest: r.by_request })),
  ];
  const area = (t: Trial, m: Modality, pick: (p: Point) => Accuracy | undefined) => normalisedArea(curve(t).map((p, x) => ({ x, y: pick(p)?.[m] ?? null })));
  const readers: Record<string, Reader> = {
    auc_unlearn: (t, m) => area(t, m, (p) => p.after.unlearn),
    auc_retain: (t, m) => area(t, m, (p) => p.after.retain),
    auc_general: (t, m) => area(t, m, (p) => p.after.general),
  };
  for (let j = 0; j < requests; j++) readers[`auc_request_${j + 1}`] = (t, m) => area(t, m, (p) => p.byRequest[j]);
  return readers;
}

function armCells(arm: Arm, trials: readonly Trial[], index: Map<string, SampleRow[]>, options: Required<SummaryOptions>): SummaryCell[] {
  const requests = trials[0]?.scenario.splits.requests.length ?? 0;
  const readers = { ...READERS, ...sequenceReaders(requests) };
  return Object.entries(readers).flatMap(([metric, read]) => MODALITIES.map((modality) => {
    const per_seed = trials.map((t) => ({
      seed: t.seed, value: read(t, modality),
      bootstrap: toStat(personBootstrap(t, metric, modality, index, options)),
    }));
    const values = per_seed.map((p) => p.value).filter((v): v is number => v !== null);
    return { ...arm, metric, modality, per_seed, across_seeds: toStat(tInterval(values, options.level)) };
  })).filter((c) => c.per_seed.some((p) => p.value !== null));
}

const toStat = (i: Interval | null): Stat | null => (i ? { estimate: i.estimate, low: i.low, high: i.high, n: i.n } : null);

/** Right and total answers of one cluster (a person, or a general question) at each point. */
interface Cluster { before: [number, number]; after: [number, number]; oracle: [number, number] }

/**
 * The bootstrap interval of a relative score within one seed: people (or general questions) are
 * drawn with replacement with all their questions, and the score is recomputed on the draw from
 * the start model's, the arm's and the oracle's answers to the same questions.
 */
function personBootstrap(t: Trial, metric: string, modality: Modality, index: Map<string, SampleRow[]>, options: Required<SummaryOptions>): Interval | null {
  const set = metric === 'retained_retain' ? 'retain' : metric === 'retained_general' ? 'general' : metric in READERS ? 'unlearn' : null;
  if (set === null || options.resamples === 0) return null;
  const { seed } = t;
  const scenario = t.scenario.scenario;
  const end = last(t);
  const rows = (method: string, target: string, request: number, step: number) =>
    (index.get(pointKey(seed, scenario, method, target, request, step)) ?? []).filter((r) => r.set === set && inModality(r, modality));
  const clusters = new Map<string, Cluster>();
  const add = (list: readonly SampleRow[], field: keyof Cluster) => {
    for (const r of list) {
      const id = r.person ?? r.question;
      const c = clusters.get(id) ?? { before: [0, 0], after: [0, 0], oracle: [0, 0] };
      c[field][0] += r.correct ? 1 : 0;
      c[field][1] += 1;
      clusters.set(id, c);
    }
  };
  add(rows('start', '', 0, 0), 'before');
  add(rows(t.method.method, t.method.update_target, end.request, end.steps), 'after');
  add(rows('oracle', '', 0, 0), 'oracle');
  const statistic = (draw: readonly Cluster[]) => {
    const pct = (f: keyof Cluster) => {
      const [right, n] = draw.reduce(([a, b], c) => [a + c[f][0], b + c[f][1]], [0, 0]);
      return n === 0 ? null : (100 * right) / n;
    };
    if (metric === 'forgotten_unlearn') return forgotten(pct('before'), pct('after'));
    if (metric === 'toward_oracle') return towardOracle(pct('before'), pct('after'), pct('oracle'));
    return retained(pct('before'), pct('after'));
  };
  const bootstrapSeed = deriveSeed(options.seed, scenario, t.method.method, t.method.update_target, seed, metric, modality);
  return bootstrapInterval([...clusters.values()], statistic, { resamples: options.resamples, seed: bootstrapSeed, level: options.level });
}

const inModality = (r: SampleRow, m: Modality) => m === 'overall' || (m === 'multimodal' ? r.modality === 'multimodal' : r.modality === 'text');

/**
 * The arm's path in (forgotten % on D_unlearn, retained %) from the start (0, 100) through every
 * scoring point of every request, in order: what matched forgetting reads.
 */
export function tradeOffPath(method: MethodResult, metric: 'retained_retain' | 'retained_general'): { x: number; y: number; request: number; step: number }[] {
  const start = { x: 0, y: 100, request: 0, step: 0 };
  const points = method.requests.flatMap((r) => [...r.trajectory.map((p) => ({ ...p, request: r.request })),
    { step: r.steps, after: r.after, relative: r.relative, request: r.request }]);
  return [start, ...points.flatMap((p) => {
    const x = p.relative.forgotten_unlearn.overall;
    const y = p.relative[metric].overall;
    return x === null || y === null ? [] : [{ x, y, request: p.request, step: p.step }];
  })];
}

function matchedCells(arm: Arm, trials: readonly Trial[], level: number): MatchedCell[] {
  return (['retained_retain', 'retained_general'] as const).flatMap((metric) => MATCHED_LEVELS.map((at) => {
    const per_seed = trials.map((t) => ({ seed: t.seed, value: valueAtLevel(tradeOffPath(t.method, metric), at) }));
    const reached = per_seed.map((p) => p.value).filter((v): v is number => v !== null);
    return { ...arm, level: at, metric, per_seed, across_seeds: toStat(tInterval(reached, level)) };
  }));
}

/**
 * a − b for every pair of arms of a scenario, and for the same method and target across
 * scenarios, on the protocol's three scores, paired by seed. "Beyond noise" needs two seeds or
 * more and an interval that excludes 0.
 */
function differences(cells: readonly SummaryCell[], level: number): Difference[] {
  const compared = cells.filter((c) => (COMPARED as readonly string[]).includes(c.metric));
  const out: Difference[] = [];
  for (const [i, a] of compared.entries()) {
    for (const b of compared.slice(i + 1)) {
      if (a.metric !== b.metric || a.modality !== b.modality) continue;
      const sameScenario = a.scenario === b.scenario;
      if (!sameScenario && (a.method !== b.method || a.update_target !== b.update_target)) continue;
      const seeds = a.per_seed.filter((p) => p.value !== null && b.per_seed.some((q) => q.seed === p.seed && q.value !== null)).map((p) => p.seed);
      const value = (c: SummaryCell, seed: number) => c.per_seed.find((p) => p.seed === seed)!.value!;
      const interval = pairedDifference(seeds.map((s) => value(a, s)), seeds.map((s) => value(b, s)), level);
      if (!interval) continue;
      const arm = (c: SummaryCell): Arm => ({ scenario: c.scenario, method: c.method, update_target: c.update_target });
      out.push({
        metric: a.metric, modality: a.modality, a: arm(a), b: arm(b), difference: toStat(interval)!,
        beyond_noise: interval.n >= 2 && (interval.low > 0 || interval.high < 0),
      });
    }
  }
  return out;
}

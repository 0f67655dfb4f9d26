import type { MatchedCell, Stat, Summary, SummaryCell } from '../protocol/summary-schema.ts';
import { MATCHED_LEVELS } from '../protocol/summary.ts';
import type { Series } from './series.ts';

const MISSING = '—';
const fixed = (v: number) => v.toFixed(1);

/** "71.0 [65.2, 76.8]", or the value alone when there is no interval. */
export function withInterval(value: number | null | undefined, stat: Stat | null | undefined): string {
  if (value === null || value === undefined) return MISSING;
  return stat && stat.high > stat.low ? `${fixed(value)} [${fixed(stat.low)}, ${fixed(stat.high)}]` : fixed(value);
}

const sameArm = (s: Series) => (c: { scenario: string; method: string; update_target: string }) =>
  c.scenario === s.scenario.scenario && c.method === s.method.method && c.update_target === s.method.update_target;

/** A metric's summary cell for a series, when the run has a summary. */
export function summaryCell(series: Series, metric: string, modality: SummaryCell['modality'] = 'overall'): SummaryCell | undefined {
  return series.summary?.cells.find((c) => sameArm(series)(c) && c.metric === metric && c.modality === modality);
}

/**
 * The interval a table shows for a series' metric: across seeds (t) when it ran with several,
 * else the seed's bootstrap over people.
 */
export function intervalOf(series: Series, metric: string, modality: SummaryCell['modality'] = 'overall'): Stat | null {
  const cell = summaryCell(series, metric, modality);
  if (!cell) return null;
  return series.trials.length > 1 ? cell.across_seeds : cell.per_seed[0]?.bootstrap ?? null;
}

/** What the intervals of a run's tables are, for the note under them. */
export function intervalNote(summary: Summary | null, seeds: number): string {
  if (!summary) return '';
  const level = Math.round(summary.level * 100);
  return seeds > 1
    ? `[a, b]: ${level}% t interval of the mean across ${seeds} seeds.`
    : `[a, b]: ${level}% bootstrap interval over people (${summary.bootstrap_resamples} resamples; a person's questions stay together).`;
}

export const MATCHED_HEADER = ['method', ...MATCHED_LEVELS.map((l) => `D_retain @ ${l}% forgotten`), ...MATCHED_LEVELS.map((l) => `general @ ${l}% forgotten`)];

function matchedText(cell: MatchedCell | undefined): string {
  if (!cell) return MISSING;
  const reached = cell.per_seed.filter((p) => p.value !== null).length;
  if (!cell.across_seeds || reached === 0) return 'not reached';
  const text = withInterval(cell.across_seeds.estimate, cell.across_seeds);
  return reached < cell.per_seed.length ? `${text} (${reached} of ${cell.per_seed.length} seeds)` : text;
}

/** A series' retained % at a matched forgetting level, from the run's summary. */
export function matchedCell(s: Series, metric: MatchedCell['metric'], level: number): MatchedCell | undefined {
  return s.summary?.matched.find((m) => sameArm(s)(m) && m.metric === metric && m.level === level);
}

/** Retained % at matched forgetting, per series: the comparison at equal forgetting, not at equal learning rate. */
export function matchedTable(series: readonly Series[]): string[][] {
  return series.filter((s) => s.summary).map((s) => {
    return [s.label, ...MATCHED_LEVELS.map((l) => matchedText(matchedCell(s, 'retained_retain', l))),
      ...MATCHED_LEVELS.map((l) => matchedText(matchedCell(s, 'retained_general', l)))];
  });
}

export const DIFFERENCE_HEADER = ['a − b', 'forgotten %', 'retained % (D_retain)', 'retained % (general)'];
const METRICS = ['forgotten_unlearn', 'retained_retain', 'retained_general'] as const;

const signed = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(1)}`;

/**
 * Paired differences (same seeds) on the overall scores, for the pairs `pick` keeps; a cell whose
 * interval excludes 0 is marked *.
 */
export function differenceTable(summary: Summary | null, pick: (a: Summary['differences'][number]) => boolean, name: (d: Summary['differences'][number]) => string): string[][] {
  if (!summary) return [];
  const chosen = summary.differences.filter((d) => d.modality === 'overall' && pick(d));
  const pairs = [...new Map(chosen.map((d) => [name(d), d])).keys()];
  return pairs.map((pair) => [pair, ...METRICS.map((metric) => {
    const d = chosen.find((x) => name(x) === pair && x.metric === metric);
    if (!d) return MISSING;
    const { estimate, low, high } = d.difference;
    return `${signed(estimate)} [${signed(low)}, ${signed(high)}]${d.beyond_noise ? ' *' : ''}`;
  })]);
}

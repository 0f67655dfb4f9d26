import type { TopLevelSpec } from 'vega-lite';
import { baseMethod } from '../protocol/grid.ts';
import { MATCHED_LEVELS } from '../protocol/summary.ts';
import type { MatchedCell } from '../protocol/summary-schema.ts';
import { matchedCell, withInterval } from './intervals.ts';
import { panelsSpec } from './render.ts';
import type { Series } from './series.ts';

/**
 * A sweep's report (config `grid:`, protocol/grid.ts): per scenario, each method's best grid point
 * at matched forgetting, and the Pareto front of all grid points and methods.
 */

const MISSING = '—';
const RETAINED = [['retained_retain', 'D_retain'], ['retained_general', 'general']] as const;
type Retained = (typeof RETAINED)[number][0];

/** Whether a scenario's series hold grid points: a run with `grid:` names them `<method>@<key>=<value>,...`. */
export const hasGrid = (series: readonly Series[]) => series.some((s) => s.method.method !== baseMethod(s.method.method));

/** What a series is a grid point of: its registry method, with the label's target and run (`npo [llm] (run-a)`). */
const pointOf = (s: Series) => baseMethod(s.method.method) + s.label.slice(s.method.method.length);

/** The series grouped by what they are grid points of, in report order. */
function groups(series: readonly Series[]): [string, Series[]][] {
  const out = new Map<string, Series[]>();
  for (const s of series) out.set(pointOf(s), [...(out.get(pointOf(s)) ?? []), s]);
  return [...out];
}

/**
 * Pareto front: the points no other point dominates, by forgotten % (x) and retained % (y), both
 * better when higher. p dominates q when x_p >= x_q and y_p >= y_q, one of them strictly; equal
 * points both stay on the front. Sorted by x.
 */
export function paretoFront<T>(points: readonly T[], x: (p: T) => number, y: (p: T) => number): T[] {
  const dominates = (p: T, q: T) => x(p) >= x(q) && y(p) >= y(q) && (x(p) > x(q) || y(p) > y(q));
  return points.filter((q) => !points.some((p) => dominates(p, q))).sort((a, b) => x(a) - x(b));
}

/**
 * The best grid point at a forgetting level: among the points that reached the level in every seed
 * they finished, the one with the highest retained % there (the summary's matched forgetting: the
 * mean across seeds of retained % where forgotten % on D_unlearn first reaches the level, along the
 * trade-off path); the first in run order on a tie. null when no point reached it.
 */
export function bestPoint(points: readonly Series[], metric: Retained, level: number): { series: Series; cell: MatchedCell } | null {
  let best: { series: Series; cell: MatchedCell } | null = null;
  for (const series of points) {
    const cell = matchedCell(series, metric, level);
    if (!cell?.across_seeds || cell.per_seed.length === 0 || cell.per_seed.some((p) => p.value === null)) continue;
    if (!best || cell.across_seeds.estimate > best.cell.across_seeds!.estimate) best = { series, cell };
  }
  return best;
}

export const BEST_HEADER = ['method', 'at forgotten %', 'grid points', ...RETAINED.flatMap(([, set]) => [`best for ${set}`, `retained % (${set})`])];

/** Per method (and target), per matched level: its best grid point for each retained set, and the retained % there. */
export function bestPointTable(series: readonly Series[]): string[][] {
  if (!series.some((s) => s.summary)) return [];
  return groups(series).flatMap(([name, points]) => MATCHED_LEVELS.map((level) => [
    name, String(level), String(points.length),
    ...RETAINED.flatMap(([metric]) => {
      const best = bestPoint(points, metric, level);
      return best ? [best.series.method.method, withInterval(best.cell.across_seeds!.estimate, best.cell.across_seeds)] : ['not reached', MISSING];
    }),
  ]));
}

/** A grid point's end: the relative scores after its last request (means across seeds), when it finished. */
interface EndPoint { series: Series; forgotten: number; retained: Record<Retained, number | null> }

function endPoints(series: readonly Series[]): EndPoint[] {
  return series.flatMap((s) => {
    const last = s.method.requests.at(-1);
    const forgotten = last?.relative.forgotten_unlearn.overall ?? null;
    if (s.method.status !== 'complete' || !last || forgotten === null) return [];
    return [{ series: s, forgotten, retained: { retained_retain: last.relative.retained_retain.overall, retained_general: last.relative.retained_general.overall } }];
  });
}

/** Each retained set's front over the finished grid points (and methods), as sets of points. */
function fronts(points: readonly EndPoint[]): Record<Retained, Set<EndPoint>> {
  const front = (metric: Retained) => new Set(paretoFront(points.filter((p) => p.retained[metric] !== null), (p) => p.forgotten, (p) => p.retained[metric]!));
  return { retained_retain: front('retained_retain'), retained_general: front('retained_general') };
}

export const PARETO_HEADER = ['grid point', 'forgotten %', ...RETAINED.map(([, set]) => `retained % (${set})`), 'on the front of'];

/** The points on either front, by forgotten %: their scores and which fronts they are on. */
export function paretoTable(series: readonly Series[]): string[][] {
  const points = endPoints(series);
  const on = fronts(points);
  const fixed = (v: number | null) => (v === null ? MISSING : v.toFixed(1));
  return points.filter((p) => RETAINED.some(([m]) => on[m].has(p))).sort((a, b) => a.forgotten - b.forgotten).map((p) => [
    p.series.label, fixed(p.forgotten), ...RETAINED.map(([m]) => fixed(p.retained[m])),
    RETAINED.filter(([m]) => on[m].has(p)).map(([, set]) => set).join(', '),
  ]);
}

/** Every grid point's end in (forgotten %, retained %), one panel per retained set, the front joined by a line. */
export function paretoSpec(title: string, series: readonly Series[]): TopLevelSpec | null {
  const points = endPoints(series);
  if (points.length < 2) return null;
  const on = fronts(points);
  const rows = RETAINED.flatMap(([metric, set]) => points.filter((p) => p.retained[metric] !== null).map((p) => ({
    panel: `retained % (${set})`, method: pointOf(p.series), point: p.series.label, forgotten: p.forgotten, retained: p.retained[metric], front: on[metric].has(p) ? 'yes' : 'no',
  })));
  const x = { field: 'forgotten', type: 'quantitative', title: 'forgotten % (D_unlearn)', scale: { domain: [0, 100], clamp: true } };
  const y = { field: 'retained', type: 'quantitative', title: 'retained %', scale: { domain: [0, 120], clamp: true } };
  return panelsSpec(title, rows, 'panel', {
    width: 260, height: 220,
    layer: [
      { transform: [{ filter: "datum.front === 'yes'" }], mark: { type: 'line', color: '#444', strokeWidth: 1, strokeDash: [4, 3] },
        encoding: { x, y, order: { field: 'forgotten', type: 'quantitative' } } },
      { mark: { type: 'point', filled: true, size: 60, opacity: 0.85 },
        encoding: { x, y, color: { field: 'method', type: 'nominal', title: 'method' }, shape: { field: 'front', type: 'nominal', title: 'on the front' } } },
    ],
  });
}

import type { TopLevelSpec } from 'vega-lite';
import { forgotten } from '../metrics/accuracy.ts';
import { tradeOffPath } from '../protocol/summary.ts';
import { FONT, panelsSpec } from './render.ts';
import { meanOf } from './average.ts';
import type { Series } from './series.ts';

const PANELS = [['retained_retain', 'retained % (D_retain)'], ['retained_general', 'retained % (general)']] as const;
/** Chance accuracy on four-option questions. */
export const CHANCE = 25;

/** Every seed's path of every series: forgotten % (x) against retained % (y), from the start (0, 100). */
export function tradeOffRows(series: readonly Series[], metric: (typeof PANELS)[number][0]) {
  return series.flatMap((s) => s.trials.flatMap((t) => tradeOffPath(t.method, metric).map((p, order) => ({
    method: s.label, seed: t.seed, order, forgotten: p.x, retained: p.y, request: p.request, step: p.step,
  }))));
}

/**
 * Where complete forgetting sits on the forgotten axis: the retain oracle's forgotten % (it never
 * saw D_unlearn) and chance's, means across the seeds' start models.
 */
export function referenceRows(series: readonly Series[]): { name: string; forgotten: number }[] {
  const trials = series.flatMap((s) => s.trials);
  const before = (t: (typeof trials)[number]) => t.scenario.before?.unlearn.overall ?? null;
  const oracle = meanOf(trials.map((t) => forgotten(before(t), t.scenario.oracle?.unlearn.overall ?? null)));
  const chance = meanOf(trials.map((t) => forgotten(before(t), CHANCE)));
  return [...(oracle === null ? [] : [{ name: 'retain oracle', forgotten: oracle }]), ...(chance === null ? [] : [{ name: 'chance', forgotten: chance }])];
}

/**
 * The trade-off of each method as its requests proceed: one line per seed through every scoring
 * point, forgotten % on D_unlearn against retained % on D_retain and on the general benchmark,
 * with the oracle's and chance's forgetting as vertical rules.
 */
export function tradeOffSpec(title: string, series: readonly Series[]): TopLevelSpec {
  const references = referenceRows(series);
  const panel = ([metric, label]: (typeof PANELS)[number]) => ({
    width: 260, height: 220,
    layer: [
      {
        data: { values: tradeOffRows(series, metric) },
        mark: { type: 'line', point: { size: 18 }, strokeWidth: 1.5, opacity: 0.85 },
        encoding: {
          x: { field: 'forgotten', type: 'quantitative', title: 'forgotten % (D_unlearn)', scale: { domain: [0, 100], clamp: true } },
          y: { field: 'retained', type: 'quantitative', title: label, scale: { domain: [0, 120], clamp: true } },
          color: { field: 'method', type: 'nominal', title: 'method' },
          detail: { field: 'seed', type: 'nominal' },
          order: { field: 'order', type: 'quantitative' },
        },
      },
      ...(references.length ? [{
        data: { values: references },
        layer: [
          { mark: { type: 'rule', strokeDash: [4, 3], color: '#777' }, encoding: { x: { field: 'forgotten', type: 'quantitative' } } },
          { mark: { type: 'text', angle: 270, dx: -4, dy: -4, align: 'right', baseline: 'bottom', fontSize: 9, color: '#555' },
            encoding: { x: { field: 'forgotten', type: 'quantitative' }, y: { value: 0 }, text: { field: 'name' } } },
        ],
      }] : []),
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, font: FONT },
    hconcat: PANELS.map(panel),
    config: { font: FONT },
  } as TopLevelSpec;
}

/** Retained % at matched forgetting per method (mean and interval across seeds), one panel per retained set. */
export function matchedSpec(title: string, series: readonly Series[]): TopLevelSpec | null {
  const rows = series.flatMap((s) => (s.summary?.matched ?? [])
    .filter((m) => m.scenario === s.scenario.scenario && m.method === s.method.method && m.update_target === s.method.update_target && m.across_seeds)
    .map((m) => ({
      method: s.label, level: `${m.level}%`, panel: m.metric === 'retained_retain' ? 'retained % (D_retain)' : 'retained % (general)',
      retained: m.across_seeds!.estimate, low: m.across_seeds!.low, high: m.across_seeds!.high,
    })));
  if (rows.length === 0) return null;
  const x = { field: 'level', type: 'ordinal', title: 'at forgotten % (D_unlearn)', sort: ['25%', '50%', '75%'] };
  const xOffset = { field: 'method', type: 'nominal' };
  const color = { field: 'method', type: 'nominal', title: 'method' };
  return panelsSpec(title, rows, 'panel', {
    width: 240, height: 200,
    layer: [
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, xOffset, y: { field: 'low', type: 'quantitative', title: 'retained %', scale: { domain: [0, 120], clamp: true } }, y2: { field: 'high' }, color } },
      { mark: { type: 'point', filled: true, size: 50 }, encoding: { x, xOffset, y: { field: 'retained', type: 'quantitative' }, color } },
    ],
  });
}

import type { TopLevelSpec } from 'vega-lite';
import { tInterval } from '../metrics/stats.ts';
import { panelsSpec } from './render.ts';
import { meanOf } from './average.ts';
import { CHANCE } from './tradeoff.ts';
import type { Series } from './series.ts';

const SETS = [['unlearn', 'D_unlearn (lower is better)'], ['retain', 'D_retain'], ['general', 'general benchmark']] as const;

/**
 * Accuracy after each request (0 = before), one row per series, set and request: the mean across
 * seeds, and with several seeds the 95% t interval of that mean (the band).
 */
export function sustainabilityRows(series: readonly Series[]) {
  return series.flatMap((s) => {
    const longest = Math.max(0, ...s.trials.map((t) => t.method.requests.length));
    return Array.from({ length: longest + 1 }, (_, request) => SETS.flatMap(([key, title]) => {
      const values = s.trials.map((t) => (request === 0 ? t.scenario.before : t.method.requests[request - 1]?.after)?.[key].overall)
        .filter((v): v is number => v !== null && v !== undefined);
      if (values.length === 0) return [];
      const band = values.length > 1 ? tInterval(values) : null;
      return [{ kind: 'series', method: s.label, set: title, request, accuracy: meanOf(values), low: band?.low ?? null, high: band?.high ?? null }];
    })).flat();
  });
}

/** Chance, and the retain oracle's accuracy on each set (mean across seeds): what complete forgetting looks like. */
function referenceRows(series: readonly Series[]) {
  const oracles = series.flatMap((s) => s.trials.map((t) => t.scenario.oracle)).filter((o) => o !== null);
  return SETS.flatMap(([key, title]) => {
    const oracle = meanOf(oracles.map((o) => o[key].overall));
    return [{ kind: 'reference', set: title, name: 'chance', accuracy: CHANCE }, ...(oracle === null ? [] : [{ kind: 'reference', set: title, name: 'retain oracle', accuracy: oracle }])];
  });
}

/** Sustainability: accuracy on each set after each request, one panel per set, one line (and band) per method. */
export function sustainabilitySpec(title: string, series: readonly Series[]): TopLevelSpec {
  const requests = Math.max(1, ...series.map((s) => s.scenario.splits.requests.length));
  const x = { field: 'request', type: 'quantitative', title: 'after request (0 = before)', scale: { domain: [0, requests] }, axis: { tickMinStep: 1, format: 'd' } };
  const y = { field: 'accuracy', type: 'quantitative', title: 'accuracy %', scale: { domain: [0, 100] } };
  const color = { field: 'method', type: 'nominal', title: 'method', legend: { orient: 'right' } };
  return panelsSpec(title, [...sustainabilityRows(series), ...referenceRows(series)], 'set', {
    width: 220, height: 200,
    layer: [
      { transform: [{ filter: "datum.kind === 'series' && datum.low !== null" }], mark: { type: 'area', opacity: 0.15 },
        encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color } },
      { transform: [{ filter: "datum.kind === 'series'" }], mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: { x, y, color } },
      { transform: [{ filter: "datum.kind === 'reference'" }], mark: { type: 'rule', strokeDash: [4, 3], color: '#777' }, encoding: { y } },
      { transform: [{ filter: "datum.kind === 'reference'" }], mark: { type: 'text', align: 'left', dx: 2, dy: -5, fontSize: 9, color: '#555' },
        encoding: { x: { datum: 0, type: 'quantitative' }, y, text: { field: 'name' } } },
    ],
  }, SETS.map(([, t]) => t));
}

/**
 * Accuracy on each request's people (D_unlearn, overall) after each request, one panel per method:
 * whether request k deepens or undoes the forgetting of request j (means across seeds).
 */
export function perRequestSpec(title: string, series: readonly Series[]): TopLevelSpec {
  const rows = series.flatMap((s) => [{ request: 0, groups: s.scenario.before_by_request }, ...s.method.requests.map((r) => ({ request: r.request, groups: r.by_request }))]
    .flatMap(({ request, groups }) => groups.map((g, j) => ({ method: s.label, request, people: `request ${j + 1}'s people`, accuracy: g.overall })))
    .filter((r) => r.accuracy !== null));
  const requests = Math.max(1, ...series.map((s) => s.scenario.splits.requests.length));
  return panelsSpec(title, rows, 'method', {
    width: 200, height: 180,
    mark: { type: 'line', point: true, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'request', type: 'quantitative', title: 'after request (0 = before)', scale: { domain: [0, requests] }, axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy %', scale: { domain: [0, 100] } },
      color: { field: 'people', type: 'ordinal', title: 'D_unlearn people of', scale: { scheme: 'viridis' } },
    },
  });
}

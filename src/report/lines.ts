import type { TopLevelSpec } from 'vega-lite';
import { FONT } from './render.ts';
import type { Series } from './series.ts';

const SETS = [['unlearn', 'D_unlearn (lower is better)'], ['retain', 'D_retain'], ['general', 'general benchmark']] as const;

/** Accuracy after each request (0 = before), one row per series, set and request. */
export function sustainabilityRows(series: readonly Series[]) {
  return series.flatMap((s) => {
    const before = s.scenario.before;
    const steps = [...(before ? [{ request: 0, after: before }] : []), ...s.method.requests.map((r) => ({ request: r.request, after: r.after }))];
    return steps.flatMap(({ request, after }) => SETS.map(([key, title]) => ({ method: s.label, set: title, request, accuracy: after[key].overall })));
  }).filter((row) => row.accuracy !== null);
}

/** Sustainability: accuracy on each set after each request, one panel per set, one line per method. */
export function sustainabilitySpec(title: string, series: readonly Series[]): TopLevelSpec {
  const requests = Math.max(1, ...series.map((s) => s.scenario.splits.requests.length));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, font: FONT },
    data: { values: sustainabilityRows(series) },
    facet: { column: { field: 'set', type: 'nominal', sort: SETS.map(([, t]) => t), title: null, header: { labelFont: FONT, labelFontSize: 12 } } },
    spec: {
      width: 220, height: 200,
      layer: [
        { mark: { type: 'line', point: true, strokeWidth: 2 } },
      ],
      encoding: {
        x: { field: 'request', type: 'quantitative', title: 'after request (0 = before)', scale: { domain: [0, requests] }, axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'accuracy', type: 'quantitative', title: 'accuracy %', scale: { domain: [0, 100] } },
        color: { field: 'method', type: 'nominal', title: 'method', legend: { orient: 'right' } },
        strokeDash: { field: 'method', type: 'nominal' },
      },
    },
    config: { font: FONT },
  } as TopLevelSpec;
}

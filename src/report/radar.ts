import type { Spec } from 'vega';
import { FONT } from './render.ts';
import { lastScores, type Series } from './series.ts';

export const RADAR_AXES = ['forgotten % (D_unlearn)', 'retained % (D_retain)', 'retained % (general)'] as const;

/** The three radar values of a series: relative scores after its last request (overall). */
export function radarValues(series: Series): (number | null)[] | null {
  const last = series.method.requests.at(-1);
  if (!last || !lastScores(series)) return null;
  return [last.relative.forgotten_unlearn.overall, last.relative.retained_retain.overall, last.relative.retained_general.overall];
}

/**
 * A radar (raw Vega: Vega-Lite has none) with one closed polygon per series over three axes.
 * Axis k points at angle k·120° clockwise from the top; values are clipped to [0, max].
 */
export function radarSpec(title: string, series: readonly Series[]): Spec {
  const rows = series.map((s) => ({ label: s.label, values: radarValues(s) })).filter((r): r is { label: string; values: (number | null)[] } => r.values !== null);
  const top = Math.min(150, Math.max(100, ...rows.flatMap((r) => r.values.map((v) => Math.ceil((v ?? 0) / 25) * 25))));
  const at = (k: number, radius: number) => ({ x: radius * Math.sin((k * 2 * Math.PI) / 3), y: radius * Math.cos((k * 2 * Math.PI) / 3) });
  const points = rows.flatMap((r) => r.values.map((v, k) => ({ label: r.label, k, value: v, ...at(k, Math.max(0, Math.min(top, v ?? 0)) / top) })));
  const rings = [25, 50, 75, 100, ...(top > 100 ? [top] : [])].flatMap((ring) => [0, 1, 2].map((k) => ({ ring, k, ...at(k, ring / top) })));
  const axes = RADAR_AXES.map((name, k) => ({ name, k, ...at(k, 1), ...Object.fromEntries(Object.entries(at(k, 1.13)).map(([c, v]) => [`l${c}`, v])) }));
  // The triangle spans y in [-0.5, 1] (top axis up), so the plot is shorter than it is wide.
  const width = 360;
  const yDomain: [number, number] = [-0.72, 1.22];
  const height = Math.round((width * (yDomain[1] - yDomain[0])) / 2.7);
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width, height, padding: { top: 10, left: 40, right: 40, bottom: 10 }, autosize: 'pad',
    title: { text: title, font: FONT, fontSize: 14 },
    config: { text: { font: FONT }, legend: { labelFont: FONT, titleFont: FONT } },
    data: [{ name: 'points', values: points }, { name: 'rings', values: rings }, { name: 'axes', values: axes }],
    scales: [
      { name: 'x', type: 'linear', domain: [-1.35, 1.35], range: 'width' },
      { name: 'y', type: 'linear', domain: yDomain, range: 'height' },
      { name: 'color', type: 'ordinal', domain: rows.map((r) => r.label), range: 'category' },
    ],
    legends: rows.length ? [{ fill: 'color', stroke: 'color', title: 'method', orient: 'bottom', direction: 'horizontal', columns: 4 }] : [],
    marks: [
      { type: 'group', from: { facet: { name: 'ring', data: 'rings', groupby: 'ring' } }, marks: [{
        type: 'line', from: { data: 'ring' },
        encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, interpolate: { value: 'linear-closed' }, stroke: { value: '#ccc' }, strokeWidth: { value: 1 } } },
      }] },
      { type: 'text', from: { data: 'rings' }, encode: { enter: {
        x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, text: { signal: "datum.k === 0 ? datum.ring + '%' : ''" },
        fill: { value: '#999' }, fontSize: { value: 9 }, dx: { value: 3 }, baseline: { value: 'bottom' },
      } } },
      { type: 'rule', from: { data: 'axes' }, encode: { enter: {
        x: { scale: 'x', value: 0 }, y: { scale: 'y', value: 0 }, x2: { scale: 'x', field: 'x' }, y2: { scale: 'y', field: 'y' }, stroke: { value: '#999' },
      } } },
      { type: 'text', from: { data: 'axes' }, encode: { enter: {
        x: { scale: 'x', field: 'lx' }, y: { scale: 'y', field: 'ly' }, text: { field: 'name' }, align: { value: 'center' }, baseline: { value: 'middle' }, fontSize: { value: 11 }, fill: { value: '#333' },
      } } },
      { type: 'group', from: { facet: { name: 'series', data: 'points', groupby: 'label' } }, marks: [
        { type: 'line', from: { data: 'series' }, encode: { enter: {
          x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, interpolate: { value: 'linear-closed' },
          stroke: { scale: 'color', field: 'label' }, strokeWidth: { value: 2 }, fill: { scale: 'color', field: 'label' }, fillOpacity: { value: 0.08 },
        } } },
        { type: 'symbol', from: { data: 'series' }, encode: { enter: {
          x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, fill: { scale: 'color', field: 'label' }, size: { value: 30 },
        } } },
      ] },
    ],
  } as Spec;
}

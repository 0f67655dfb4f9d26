import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

export const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

/** A Vega-Lite chart of `rows` with one panel (a facet column) per value of `field`, each drawn by `spec`. */
export function panelsSpec(title: string, rows: readonly object[], field: string, spec: object, sort?: readonly string[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, font: FONT },
    data: { values: rows },
    facet: { column: { field, type: 'nominal', ...(sort ? { sort } : {}), title: null, header: { labelFont: FONT, labelFontSize: 12 } } },
    spec,
    config: { font: FONT },
  } as TopLevelSpec;
}

/** Renders a Vega spec to SVG in Node (no browser, no canvas). */
export async function vegaToSvg(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  return vegaToSvg(compile(spec).spec);
}

/** SVG to PNG at 2x for sharp text; system fonts (DejaVu on Debian) draw the labels. */
export function svgToPng(svg: string): Uint8Array {
  const resvg = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return resvg.render().asPng();
}

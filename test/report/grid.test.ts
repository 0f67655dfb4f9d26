import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeReport } from '../../src/report/index.ts';
import { bestPoint, bestPointTable, paretoFront, paretoTable } from '../../src/report/grid.ts';
import { seriesOf } from '../../src/report/series.ts';
import { summarise } from '../../src/protocol/summary.ts';
import type { MethodResult, Results } from '../../src/protocol/results-schema.ts';
import { completeResults, writeRun } from './fixtures.ts';

test('the Pareto front keeps the points no other beats on both axes, ties included, sorted by x', () => {
  const points = { G: [5, 95], A: [10, 90], B: [30, 80], C: [20, 70], D: [30, 60], E: [50, 50], F: [50, 50] } as const;
  const front = paretoFront(Object.keys(points) as (keyof typeof points)[], (p) => points[p][0], (p) => points[p][1]);
  // C (20, 70) and D (30, 60) are beaten by B (30, 80); E and F are equal, so neither beats the other
  assert.deepEqual(front, ['G', 'A', 'B', 'E', 'F']);
  assert.deepEqual(paretoFront([], () => 0, () => 0), []);
});

/** A finished method whose one request ends at these relative scores (overall), with no scoring points inside it. */
function ending(name: string, template: MethodResult, forgotten: number, retain: number, general: number): MethodResult {
  const by = (v: number) => ({ overall: v, multimodal: v, text_only: v });
  const request = { ...template.requests[0]!, relative: { forgotten_unlearn: by(forgotten), retained_retain: by(retain), retained_general: by(general) } };
  return { ...template, method: name, requests: [request] };
}

/** One scenario, npo at three learning rates and ga without a grid, ending where the comments below work it out. */
function gridResults(): Results {
  const results = completeResults('sweep');
  const scenario = results.scenarios[0]!;
  const template = scenario.methods[0]!;
  scenario.methods = [
    ending('ga', template, 80, 50, 60),
    ending('npo@lr=0.00003', template, 40, 85, 96),
    ending('npo@lr=0.0001', template, 50, 90, 95),
    ending('npo@lr=0.001', template, 100, 40, 70),
  ];
  results.scenarios = [scenario];
  results.run.config = { grid: { 'method_settings.npo.lr': [3e-5, 1e-4, 1e-3] } };
  results.summary = summarise(results, [], { resamples: 0, seed: 0 });
  return results;
}

test('the best grid point is the one with the highest retained % at matched forgetting, among those that got there', () => {
  const results = gridResults();
  const series = seriesOf([{ label: 'sweep', dir: '', results }], 'fine_tuned');
  const npo = series.filter((s) => s.method.method.startsWith('npo@'));
  // matched forgetting runs straight from the start (0, 100) to the end: retained at level L = 100 + (L / forgotten)·(retained − 100)
  // D_retain at 25: lr 3e-5: 100 − 25/40·15 = 90.625; 1e-4: 100 − 25/50·10 = 95; 1e-3: 100 − 25/100·60 = 85
  const at25 = bestPoint(npo, 'retained_retain', 25)!;
  assert.equal(at25.series.method.method, 'npo@lr=0.0001');
  assert.equal(at25.cell.across_seeds!.estimate, 95);
  // at 75 only lr 1e-3 (forgotten 100) got there: 100 − 0.75·60 = 55
  assert.equal(bestPoint(npo, 'retained_retain', 75)!.series.method.method, 'npo@lr=0.001');
  assert.equal(bestPoint(npo, 'retained_retain', 75)!.cell.across_seeds!.estimate, 55);
  // general at 25: 3e-5: 100 − 25/40·4 = 97.5; 1e-4: 100 − 0.5·5 = 97.5 (a tie: the first in run order); 1e-3: 92.5
  assert.equal(bestPoint(npo, 'retained_general', 25)!.series.method.method, 'npo@lr=0.00003');
  assert.equal(bestPoint(npo.slice(0, 0), 'retained_general', 25), null);
  assert.deepEqual(bestPointTable(series), [
    // ga alone: D_retain at 25: 100 − 25/80·50 = 84.375; general: 100 − 25/80·40 = 87.5; at 50: 68.75, 75; at 75: 53.125, 62.5
    ['ga', '25', '1', 'ga', '84.4', 'ga', '87.5'],
    ['ga', '50', '1', 'ga', '68.8', 'ga', '75.0'],
    ['ga', '75', '1', 'ga', '53.1', 'ga', '62.5'],
    // at 50: 3e-5 never got there (40); 1e-4: 90 and 95; 1e-3: 70 and 85
    ['npo', '25', '3', 'npo@lr=0.0001', '95.0', 'npo@lr=0.00003', '97.5'],
    ['npo', '50', '3', 'npo@lr=0.0001', '90.0', 'npo@lr=0.0001', '95.0'],
    ['npo', '75', '3', 'npo@lr=0.001', '55.0', 'npo@lr=0.001', '77.5'],
  ]);
});

test('the Pareto table lists the points on either front, by forgotten %, and names the fronts', () => {
  const series = seriesOf([{ label: 'sweep', dir: '', results: gridResults() }], 'fine_tuned');
  // D_retain: (40, 85) is beaten by (50, 90); ga (80, 50) and npo 1e-3 (100, 40) are not beaten by anyone.
  // general: (40, 96) retains more than any other, so it is on that front.
  assert.deepEqual(paretoTable(series), [
    ['npo@lr=0.00003', '40.0', '85.0', '96.0', 'general'],
    ['npo@lr=0.0001', '50.0', '90.0', '95.0', 'D_retain, general'],
    ['ga', '80.0', '50.0', '60.0', 'D_retain'],
    ['npo@lr=0.001', '100.0', '40.0', '70.0', 'D_retain, general'],
  ]);
});

test('a sweep\'s report has the best-point and Pareto tables and the front\'s chart; a run without a grid has none of them', async () => {
  const files = await writeReport(writeRun(gridResults()));
  const md = readFileSync(files.markdown, 'utf8');
  assert.match(md, /### Best grid point at matched forgetting\n\n\| method \| at forgotten % \| grid points \| best for D_retain \| retained % \(D_retain\) \| best for general \| retained % \(general\) \|/);
  assert.match(md, /\| npo \| 25 \| 3 \| npo@lr=0\.0001 \| 95\.0 \| npo@lr=0\.00003 \| 97\.5 \|/);
  assert.match(md, /### Pareto front of the grid points\n\n\| grid point \| forgotten % \|/);
  assert.match(md, /\| npo@lr=0\.001 \| 100\.0 \| 40\.0 \| 70\.0 \| D_retain, general \|/);
  assert.ok(files.charts.some((f) => f.endsWith('fine_tuned-pareto.svg')));
  const svg = readFileSync(files.charts.find((f) => f.endsWith('fine_tuned-pareto.svg'))!, 'utf8');
  for (const label of ['npo', 'ga', 'retained % (D_retain)', 'retained % (general)']) assert.ok(svg.includes(`>${label}<`), `the chart shows ${label}`);
  const plain = readFileSync((await writeReport(writeRun(completeResults()))).markdown, 'utf8');
  assert.doesNotMatch(plain, /Best grid point|Pareto/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarise, towardOracle, tradeOffPath } from '../../src/protocol/summary.ts';
import type { SampleRow } from '../../src/protocol/samples-file.ts';
import type { RelativeScores } from '../../src/metrics/scores.ts';
import { completeResults, seededResults } from '../report/fixtures.ts';

const close = (a: number | null | undefined, b: number, tolerance = 1e-9) => assert.ok(a !== null && a !== undefined && Math.abs(a - b) <= tolerance, `${a} vs ${b}`);
const relative = (forgot: number, retain: number, general: number): RelativeScores => ({
  forgotten_unlearn: { overall: forgot, multimodal: null, text_only: null },
  retained_retain: { overall: retain, multimodal: null, text_only: null },
  retained_general: { overall: general, multimodal: null, text_only: null },
});

test('toward oracle = 100·(before − after)/(before − oracle), null where undefined', () => {
  close(towardOracle(80, 50, 20), 50); // 100·30/60
  close(towardOracle(80, 10, 20), 116.66666666666667); // past the oracle: 100·70/60
  assert.equal(towardOracle(80, 50, 80), null);
  assert.equal(towardOracle(null, 50, 20), null);
});

test('matched forgetting interpolates retained % along the trade-off path; "not reached" is null', () => {
  const results = completeResults();
  const ga = results.scenarios[0]!.methods[0]!;
  const request = ga.requests[0]!;
  request.trajectory = [{ step: 5, after: request.after, relative: relative(20, 90, 95), by_request: [] }];
  request.relative = relative(60, 70, 80);
  const path = tradeOffPath(ga, 'retained_retain');
  assert.deepEqual(path.map((p) => [p.x, p.y, p.step]), [[0, 100, 0], [20, 90, 5], [60, 70, request.steps]]);
  const summary = summarise(results, [], { resamples: 0, seed: 0 });
  const at = (metric: string, level: number) => summary.matched.find((m) => m.scenario === 'fine_tuned' && m.method === 'ga' && m.update_target === 'projector+llm'
    && m.metric === metric && m.level === level)!;
  close(at('retained_retain', 25).per_seed[0]!.value, 87.5); // 90 + (25 − 20)/(60 − 20)·(70 − 90)
  close(at('retained_retain', 50).per_seed[0]!.value, 75); // 90 + (30/40)·(−20)
  close(at('retained_general', 50).per_seed[0]!.value, 83.75); // 95 + (30/40)·(80 − 95)
  assert.equal(at('retained_retain', 75).per_seed[0]!.value, null, 'forgetting never reached 75%');
  assert.equal(at('retained_retain', 75).across_seeds, null);
});

test('paired differences: a constant gap across seeds is beyond the noise, a gap of either sign is not', () => {
  const summary = seededResults([0, 2, -1]).summary!;
  const pair = (a: string, b: string, scenario = 'fine_tuned') => summary.differences.find((d) => d.metric === 'forgotten_unlearn' && d.modality === 'overall'
    && d.a.scenario === scenario && d.b.scenario === scenario && d.a.method === a && d.b.method === b && d.b.update_target === 'projector+llm')!;
  // before 77.5 on D_unlearn; GA after 22.5 + s, GA+KLR after 31 + s in seed s: forgotten differ by 100·8.5/77.5 = 10.968 in every seed
  const d = pair('ga', 'ga_klr').difference;
  close(d.estimate, (100 * 8.5) / 77.5);
  close(d.low, d.estimate, 1e-9);
  assert.equal(d.n, 3);
  assert.equal(pair('ga', 'ga_klr').beyond_noise, true);
  // per-seed gaps of 1, −1 and 0.5 points of forgotten %, set by hand:
  const noisy = seededResults([0, 2, -1]);
  const klr = noisy.scenarios.filter((s) => s.scenario === 'fine_tuned').map((s) => s.methods.find((m) => m.method === 'ga_klr')!.requests[0]!);
  const ga = noisy.scenarios.filter((s) => s.scenario === 'fine_tuned').map((s) => s.methods.find((m) => m.method === 'ga')!.requests[0]!);
  [1, -1, 0.5].forEach((gap, i) => { klr[i]!.relative = relative(ga[i]!.relative.forgotten_unlearn.overall! - gap, 50, 50); });
  const again = summarise(noisy, [], { resamples: 0, seed: 0 }).differences.find((x) => x.metric === 'forgotten_unlearn' && x.modality === 'overall'
    && x.a.scenario === 'fine_tuned' && x.b.scenario === 'fine_tuned' && x.a.method === 'ga' && x.b.method === 'ga_klr')!;
  // mean 0.5/3 = 0.1667, s = √(((5/6)² + (7/6)² + (1/3)²)/2) = √1.08333 = 1.040833, half-width 4.3026527·1.040833/√3 = 2.585573
  close(again.difference.estimate, 0.5 / 3);
  close(again.difference.high - again.difference.estimate, 2.585573, 1e-5);
  assert.equal(again.beyond_noise, false);
});

test('the within-seed bootstrap resamples people with all their questions', () => {
  const results = completeResults();
  const scenario = results.scenarios[0]!;
  scenario.splits.unlearn = ['P1', 'P2'];
  const ga = scenario.methods[0]!;
  const row = (method: string, target: string, request: number, step: number, person: string, q: number, correct: boolean): SampleRow => ({
    seed: 0, scenario: 'fine_tuned', method, target, request, step, set: 'unlearn', person, question: `${person}/${q}`,
    modality: q === 0 ? 'multimodal' : 'text', correct, chosen: correct ? 'A' : 'B', scores: [0, -1],
  });
  const end = ga.requests[0]!;
  // P1: 2/2 right before, 0/2 after; P2: 2/2 before and after. forgotten = 100·(1 − 2/4) = 50 on the pair;
  // a draw of people gives 100 (P1 twice), 50 or 0 (P2 twice): P(0) = P(100) = 1/4, so the 95% interval is [0, 100].
  const samples = ['P1', 'P2'].flatMap((p) => [0, 1].flatMap((q) => [
    row('start', '', 0, 0, p, q, true), row('ga', 'projector+llm', 1, end.steps, p, q, p === 'P2'),
  ]));
  const summary = summarise(results, samples, { resamples: 2000, seed: 7 });
  const cell = summary.cells.find((c) => c.scenario === 'fine_tuned' && c.method === 'ga' && c.update_target === 'projector+llm'
    && c.metric === 'forgotten_unlearn' && c.modality === 'overall')!;
  assert.deepEqual(cell.per_seed[0]!.bootstrap, { estimate: 50, low: 0, high: 100, n: 2 });
  assert.deepEqual(summarise(results, samples, { resamples: 2000, seed: 7 }), summary, 'seeded: the same intervals again');
});

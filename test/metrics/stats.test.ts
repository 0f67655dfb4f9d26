import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mean, sampleSd, tInterval, pairedDifference, quantile, bootstrapInterval, valueAtLevel, normalisedArea, type Interval,
} from '../../src/metrics/stats.ts';

// Reference t quantiles (scipy.stats.t.ppf). jstat's inverse agrees to ~1e-10 relative (|Δt| ≈ 8e-10 at df = 2),
// so a t recovered from an interval is checked to 1e-9 and bounds scaled by s/√n > 1 to 1e-8.
const T_975_DF2 = 4.302652729911275;
const T_975_DF1 = 12.706204736174707;

const close = (actual: number | undefined, expected: number, tol: number) =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= tol, `${actual} is not within ${tol} of ${expected}`);

test('mean and sample sd', () => {
  assert.equal(mean([2, 4, 9]), 5); // (2 + 4 + 9) / 3 = 15 / 3
  // deviations -3, -1, 4 -> squares 9 + 1 + 16 = 26; / (n-1 = 2) = 13
  close(sampleSd([2, 4, 9]), Math.sqrt(13), 1e-12);
  assert.equal(sampleSd([7]), 0); // one value: no spread
  assert.throws(() => mean([]), RangeError);
  assert.throws(() => sampleSd([]), RangeError);
});

test('t interval: mean ± t_{0.975,n-1}·s/√n', () => {
  const iv = tInterval([2, 4, 9])!;
  const se = Math.sqrt(13) / Math.sqrt(3); // s/√n = √13/√3 ≈ 2.0817
  assert.equal(iv.estimate, 5);
  assert.equal(iv.n, 3);
  close((iv.high - iv.estimate) / se, T_975_DF2, 1e-9); // half-width / se recovers t_{0.975,2}
  close(iv.low, 5 - T_975_DF2 * se, 1e-8); // 5 - 4.3027·2.0817 ≈ -3.9567
  close(iv.high, 5 + T_975_DF2 * se, 1e-8); // 5 + 4.3027·2.0817 ≈ 13.9567
  // [1, 3]: mean 2, s = √((1 + 1)/1) = √2, s/√2 = 1, so the half-width is t_{0.975,1} itself
  const two = tInterval([1, 3])!;
  close(two.high - 2, T_975_DF1, 1e-9);
  close(2 - two.low, T_975_DF1, 1e-9);
});

test('t interval: one value has no width, none has no interval', () => {
  assert.deepEqual(tInterval([42]), { estimate: 42, low: 42, high: 42, n: 1 });
  assert.equal(tInterval([]), null);
  assert.throws(() => tInterval([1, 2], 1), RangeError);
});

test('paired difference is the t interval of a_i - b_i', () => {
  // d = [10-8, 12-11, 15-11] = [2, 1, 4]; mean 7/3; deviations -1/3, -4/3, 5/3 -> squares (1 + 16 + 25)/9 = 42/9
  // s² = (42/9)/2 = 7/3; s/√3 = √(7/9) = √7/3 ≈ 0.8819; half = 4.3027·0.8819 ≈ 3.7946
  const iv = pairedDifference([10, 12, 15], [8, 11, 11])!;
  const half = T_975_DF2 * (Math.sqrt(7) / 3);
  close(iv.estimate, 7 / 3, 1e-12);
  close(iv.low, 7 / 3 - half, 1e-9);
  close(iv.high, 7 / 3 + half, 1e-9);
  assert.equal(iv.n, 3);
  assert.equal(pairedDifference([], []), null);
  assert.throws(() => pairedDifference([1, 2], [1]), RangeError);
});

test('quantile follows numpy linear interpolation', () => {
  close(quantile([4, 1, 3, 2], 0.25), 1.75, 1e-12); // h = 3·0.25 = 0.75: 1 + 0.75·(2 - 1)
  close(quantile([1, 2, 3, 4], 0.975), 3.925, 1e-12); // h = 3·0.975 = 2.925: 3 + 0.925·(4 - 3)
  assert.equal(quantile([1, 2, 3, 4], 0), 1);
  assert.equal(quantile([1, 2, 3, 4], 1), 4);
  assert.equal(quantile([7], 0.3), 7); // h = 0: the only value
  assert.throws(() => quantile([], 0.5), RangeError);
  assert.throws(() => quantile([1], 1.5), RangeError);
});

const meanStat = (s: readonly number[]) => mean(s);

test('bootstrap: identical clusters give a zero-width interval', () => {
  // every draw is [3, 3, 3, 3] -> mean 3, so both quantiles are 3
  assert.deepEqual(bootstrapInterval([3, 3, 3, 3], meanStat, { resamples: 200, seed: 1 }), { estimate: 3, low: 3, high: 3, n: 4 });
});

test('bootstrap resamples whole clusters, never single questions', () => {
  interface Person { id: string; correct: number; n: number }
  const people: Person[] = [{ id: 'A', correct: 10, n: 10 }, { id: 'B', correct: 0, n: 10 }];
  const seen = new Set<number>();
  const stat = (s: readonly Person[]) => {
    // 100·Σcorrect/Σn over whole people: AA = 100, AB = 50, BB = 0; a question-level resample could give e.g. 45
    const v = (100 * s.reduce((a, p) => a + p.correct, 0)) / s.reduce((a, p) => a + p.n, 0);
    seen.add(v);
    return v;
  };
  const iv = bootstrapInterval(people, stat, { resamples: 500, seed: 7 })!;
  assert.equal(iv.estimate, 50); // 100·10/20
  assert.equal(iv.n, 2);
  assert.deepEqual([...seen].sort((a, b) => a - b), [0, 50, 100]);
});

test('bootstrap is reproducible from its seed', () => {
  const values = Array.from({ length: 20 }, (_, i) => (i * 37) % 11);
  const run = (seed: number): Interval => bootstrapInterval(values, meanStat, { resamples: 300, seed })!;
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5), run(6));
});

test('bootstrap quantiles of a known resample distribution', () => {
  // two clusters 0 and 1: draws 00, 01, 10, 11 -> mean 0 (1/4), 0.5 (1/2), 1 (1/4). With 4000 draws about 1000 are 0,
  // far more than the 101 that the 0.025 quantile needs (h = 3999·0.025 = 99.975 -> x[99], x[100]); 1 likewise.
  const iv = bootstrapInterval([0, 1], meanStat, { resamples: 4000, seed: 3 })!;
  assert.deepEqual(iv, { estimate: 0.5, low: 0, high: 1, n: 2 });
  // 90% level: 0.05 quantile, h = 199.95, still inside the ~1000 zeros
  assert.deepEqual(bootstrapInterval([0, 1], meanStat, { resamples: 4000, seed: 3, level: 0.9 }), iv);
});

test('bootstrap skips draws whose statistic is null', () => {
  interface Cell { correct: number; n: number }
  const cells: Cell[] = [{ correct: 0, n: 0 }, { correct: 5, n: 10 }];
  let nulls = 0;
  const ratio = (s: readonly Cell[]) => {
    const n = s.reduce((a, c) => a + c.n, 0);
    if (n === 0) nulls++;
    return n === 0 ? null : (100 * s.reduce((a, c) => a + c.correct, 0)) / n; // any draw holding the second cell: 50
  };
  // the empty-empty draw (p = 1/4) has no answer; were it counted as 0, low would drop to 0
  assert.deepEqual(bootstrapInterval(cells, ratio, { resamples: 400, seed: 2 }), { estimate: 50, low: 50, high: 50, n: 2 });
  assert.ok(nulls > 0, 'some draws should have been null');
  assert.equal(bootstrapInterval<number>([], meanStat, { resamples: 10, seed: 1 }), null);
  assert.equal(bootstrapInterval([1, 2], () => null, { resamples: 10, seed: 1 }), null);
  const onlyWhole = [1, 2];
  assert.equal(bootstrapInterval(onlyWhole, (s) => (s === onlyWhole ? 1 : null), { resamples: 10, seed: 1 }), null);
});

test('value at a forgetting level, interpolated at the first crossing', () => {
  const t = [{ x: 0, y: 100 }, { x: 20, y: 90 }, { x: 60, y: 70 }, { x: 80, y: 40 }];
  assert.equal(valueAtLevel(t, 25), 87.5); // 90 + (25-20)/(60-20)·(70-90) = 90 - 2.5
  assert.equal(valueAtLevel(t, 75), 47.5); // 70 + (75-60)/(80-60)·(40-70) = 70 + 0.75·(-30)
  assert.equal(valueAtLevel(t, 60), 70); // lands on a point: 70 + (0/40)·... = 70
  assert.equal(valueAtLevel(t, 90), null); // max x is 80: not reached
  assert.equal(valueAtLevel([{ x: 30, y: 55 }, { x: 50, y: 10 }], 20), 55); // first point already past: its y
  assert.equal(valueAtLevel([], 10), null);
  // x rises to 50, falls back to 10, rises to 60: level 40 is first crossed on segment (0,100)->(50,80)
  const wobble = [{ x: 0, y: 100 }, { x: 50, y: 80 }, { x: 10, y: 60 }, { x: 60, y: 20 }];
  assert.equal(valueAtLevel(wobble, 40), 84); // 100 + (40/50)·(80-100) = 100 - 16, not the later 10->60 segment
});

test('normalised area is the trapezoid mean over the sequence', () => {
  // trapezoids (80+60)/2 = 70, (60+40)/2 = 50, (40+40)/2 = 40, each of width 1; (70+50+40)/3 = 160/3
  close(normalisedArea([{ x: 0, y: 80 }, { x: 1, y: 60 }, { x: 2, y: 40 }, { x: 3, y: 40 }])!, 160 / 3, 1e-12);
  // uneven widths: 2·(80+60)/2 + 1·(60+30)/2 = 140 + 45 = 185, over 3 -> 61.666...
  close(normalisedArea([{ x: 0, y: 80 }, { x: 2, y: 60 }, { x: 3, y: 30 }])!, 185 / 3, 1e-12);
  assert.equal(normalisedArea([{ x: 4, y: 66 }]), 66);
  // the null at x = 1 is skipped: one trapezoid (80+40)/2 over width 2 -> 60
  assert.equal(normalisedArea([{ x: 0, y: 80 }, { x: 1, y: null }, { x: 2, y: 40 }]), 60);
  assert.equal(normalisedArea([{ x: 0, y: null }]), null);
  assert.equal(normalisedArea([]), null);
  assert.throws(() => normalisedArea([{ x: 1, y: 1 }, { x: 1, y: 2 }]), RangeError);
});

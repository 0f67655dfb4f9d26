import jStat from 'jstat';
import { rng, deriveSeed } from '../random.ts';

/** A point estimate with a two-sided interval. */
export interface Interval { estimate: number; low: number; high: number; n: number }

/** x̄ = Σx / n */
export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('mean of an empty list');
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** s = √(Σ(x - x̄)² / (n - 1)); one value has no spread to measure, so 0. */
export function sampleSd(values: readonly number[]): number {
  const m = mean(values);
  if (values.length === 1) return 0;
  return Math.sqrt(values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (values.length - 1));
}

function checkLevel(level: number): void {
  if (!(level > 0 && level < 1)) throw new RangeError(`interval level must be in (0, 1), got ${level}`);
}

/** mean ± t_{(1+level)/2, n-1} · s/√n ; n = 1 -> low = high = estimate (no spread to measure); [] -> null */
export function tInterval(values: readonly number[], level = 0.95): Interval | null {
  checkLevel(level);
  const n = values.length;
  if (n === 0) return null;
  const estimate = mean(values);
  if (n === 1) return { estimate, low: estimate, high: estimate, n };
  const half = jStat.studentt.inv((1 + level) / 2, n - 1) * (sampleSd(values) / Math.sqrt(n));
  return { estimate, low: estimate - half, high: estimate + half, n };
}

/** t interval of d_i = a_i - b_i: pairing by seed removes the between-seed variance both arms share. */
export function pairedDifference(a: readonly number[], b: readonly number[], level = 0.95): Interval | null {
  if (a.length !== b.length) throw new RangeError(`paired lists differ in length: ${a.length} vs ${b.length}`);
  return tInterval(a.map((v, i) => v - b[i]!), level);
}

/** numpy.quantile 'linear' rule on a sorted copy: h = (n-1)q, v = x[floor h] + (h - floor h)(x[ceil h] - x[floor h]) */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError('quantile of an empty list');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
  const x = [...values].sort((p, r) => p - r);
  const h = (x.length - 1) * q;
  const lo = x[Math.floor(h)]!;
  return lo + (h - Math.floor(h)) * (x[Math.ceil(h)]! - lo);
}

/** Draws n clusters with replacement: index = ⌊u·n⌋, u uniform in [0, 1). */
function resample<T>(clusters: readonly T[], random: () => number): T[] {
  return Array.from(clusters, () => clusters[Math.floor(random() * clusters.length)]!);
}

/**
 * Percentile bootstrap over clusters: draw clusters.length clusters with replacement (each cluster,
 * e.g. a person with all their questions, stays whole), compute statistic on the draw; the interval is the
 * (1-level)/2 and (1+level)/2 empirical quantiles (linear interpolation between order statistics, the
 * same rule as numpy.quantile's default 'linear') of the resampled statistics. Draws where statistic
 * returns null are skipped. estimate = statistic(clusters). Seeded: same seed, same interval.
 * Returns null when statistic(clusters) is null or clusters is empty (or when every draw is null).
 */
export function bootstrapInterval<T>(clusters: readonly T[], statistic: (sample: readonly T[]) => number | null,
  options: { resamples: number; seed: number; level?: number }): Interval | null {
  const level = options.level ?? 0.95;
  checkLevel(level);
  if (!(Number.isInteger(options.resamples) && options.resamples > 0)) throw new RangeError('resamples must be a positive integer');
  if (clusters.length === 0) return null;
  const estimate = statistic(clusters);
  if (estimate === null) return null;
  // A stream of its own, so a bootstrap never replays the draws another phase made from the same seed.
  const random = rng(deriveSeed(options.seed, 'bootstrap'));
  const stats: number[] = [];
  for (let r = 0; r < options.resamples; r++) {
    const s = statistic(resample(clusters, random));
    if (s !== null) stats.push(s);
  }
  if (stats.length === 0) return null;
  return { estimate, low: quantile(stats, (1 - level) / 2), high: quantile(stats, (1 + level) / 2), n: clusters.length };
}

/** One point of a trajectory: x = forgotten % on D_unlearn, y = retained % (D_retain or general), in step order. */
export interface TrajectoryPoint { x: number; y: number }

/**
 * y where the trajectory first reaches x >= level, linearly interpolated inside the segment that crosses it
 * (points are in step order; x need not be monotone: the FIRST crossing counts). If the first point already has
 * x >= level, its y. null when no point reaches the level ("not reached").
 * Inside segment (p, c): y = y_p + (level - x_p)/(x_c - x_p) · (y_c - y_p).
 */
export function valueAtLevel(points: readonly TrajectoryPoint[], level: number): number | null {
  const i = points.findIndex((p) => p.x >= level);
  if (i < 0) return null;
  const c = points[i]!;
  if (i === 0) return c.y;
  // Every point before i is below the level, so x_p < level <= x_c and the division is safe.
  const p = points[i - 1]!;
  return p.y + ((level - p.x) / (c.x - p.x)) * (c.y - p.y);
}

/**
 * Normalised area under a curve sampled at x_0 < x_1 < ... (e.g. accuracy after request 0..K):
 * trapezoid rule Σ (x_{i+1}-x_i)(y_i+y_{i+1})/2 divided by (x_last - x_0), so it is in the units of y
 * (a mean accuracy across the sequence). One point -> its y. [] -> null. Points with y null are skipped.
 */
export function normalisedArea(points: readonly { x: number; y: number | null }[]): number | null {
  const kept = points.filter((p): p is { x: number; y: number } => p.y !== null);
  if (kept.length === 0) return null;
  if (kept.length === 1) return kept[0]!.y;
  let area = 0;
  for (let i = 1; i < kept.length; i++) {
    const [p, c] = [kept[i - 1]!, kept[i]!];
    if (!(c.x > p.x)) throw new RangeError(`x must increase: ${p.x} then ${c.x}`);
    area += ((c.x - p.x) * (p.y + c.y)) / 2;
  }
  return area / (kept[kept.length - 1]!.x - kept[0]!.x);
}

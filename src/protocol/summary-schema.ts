import { z } from 'zod';

/**
 * The aggregate of a run across its seeds (results.json `summary`), computed from the per-seed
 * records and the per-question samples when the run finishes; `pulse export` recomputes it.
 */

/** An estimate with its two-sided interval at the summary's level. */
export const Stat = z.object({ estimate: z.number(), low: z.number(), high: z.number(), n: z.number().int().nonnegative() });
export type Stat = z.infer<typeof Stat>;

export const Modality = z.enum(['overall', 'multimodal', 'text_only']);
export type Modality = z.infer<typeof Modality>;

/** A method of a scenario: the unit the summary's rows are about. */
export const Arm = z.object({ scenario: z.string(), method: z.string(), update_target: z.string() });
export type Arm = z.infer<typeof Arm>;

/**
 * One metric of one arm after its last request. Per seed: the value and a bootstrap interval
 * that resamples people (a person's questions stay together); across seeds: mean and t interval.
 */
export const SummaryCell = Arm.extend({
  /** forgotten_unlearn, retained_retain, retained_general, toward_oracle, auc_unlearn, auc_request_<j>, ... */
  metric: z.string(),
  modality: Modality,
  per_seed: z.array(z.object({ seed: z.number().int(), value: z.number().nullable(), bootstrap: Stat.nullable() })),
  across_seeds: Stat.nullable(),
});
export type SummaryCell = z.infer<typeof SummaryCell>;

/** Retained % where forgotten % (D_unlearn, overall) first reaches `level`, read off the trajectory. */
export const MatchedCell = Arm.extend({
  level: z.number(),
  metric: z.enum(['retained_retain', 'retained_general']),
  /** null: the arm never reached the level in that seed */
  per_seed: z.array(z.object({ seed: z.number().int(), value: z.number().nullable() })),
  /** over the seeds that reached the level; null when none did */
  across_seeds: Stat.nullable(),
});
export type MatchedCell = z.infer<typeof MatchedCell>;

/** a − b on the same seeds (and so the same splits), with the t interval of the per-seed differences. */
export const Difference = z.object({
  metric: z.string(),
  modality: Modality,
  a: Arm,
  b: Arm,
  difference: Stat,
  /** the interval excludes 0 */
  beyond_noise: z.boolean(),
});
export type Difference = z.infer<typeof Difference>;

export const Summary = z.object({
  level: z.number(),
  bootstrap_resamples: z.number().int().nonnegative(),
  seeds: z.array(z.number().int()),
  cells: z.array(SummaryCell),
  matched: z.array(MatchedCell),
  differences: z.array(Difference),
});
export type Summary = z.infer<typeof Summary>;

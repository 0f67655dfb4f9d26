import { z } from 'zod';

/**
 * The score types of the protocol. All accuracies are percentages in [0, 100]; `null` where a
 * set has no question of that modality (the general benchmark has no text-only questions) or
 * where a ratio is undefined (a relative score whose "before" accuracy is 0).
 */
const percent = z.number().min(0).max(100).nullable();
/** Relative scores can exceed 100 (retained more than before) or go negative (forgot "more than all"). */
const ratio = z.number().nullable();

export const Accuracy = z.object({
  overall: percent,
  multimodal: percent,
  text_only: percent,
  /** number of questions scored (all modalities) */
  n: z.number().int().nonnegative(),
});
export type Accuracy = z.infer<typeof Accuracy>;

/** Accuracy on the three sets the protocol scores after every request. */
export const SetScores = z.object({
  unlearn: Accuracy,
  retain: Accuracy,
  general: Accuracy,
});
export type SetScores = z.infer<typeof SetScores>;

export const ByModality = z.object({ overall: ratio, multimodal: ratio, text_only: ratio });
export type ByModality = z.infer<typeof ByModality>;

/**
 * forgotten = 100 · (1 - acc_after / acc_before) on D_unlearn;
 * retained  = 100 · acc_after / acc_before on D_retain and on the general benchmark;
 * "before" is the model before the scenario's first request.
 */
export const RelativeScores = z.object({
  forgotten_unlearn: ByModality,
  retained_retain: ByModality,
  retained_general: ByModality,
});
export type RelativeScores = z.infer<typeof RelativeScores>;

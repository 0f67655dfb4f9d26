import { z } from 'zod';

/**
 * results.json: the machine-readable record of one `pulse run`. The report layer reads only this
 * file, so everything a chart or table shows must be here. Versioned: a reader refuses a
 * version it does not know instead of guessing.
 *
 * All accuracies are percentages in [0, 100]; `null` where a set has no question of that
 * modality (the general benchmark has no text-only questions) or where a ratio is undefined
 * (a relative score whose "before" accuracy is 0).
 */
export const RESULTS_SCHEMA_VERSION = 1;

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

export const RequestResult = z.object({
  /** 1-based position in the scenario's request sequence */
  request: z.number().int().positive(),
  /** person IDs unlearned by this request */
  people: z.array(z.string()),
  after: SetScores,
  relative: RelativeScores,
  /** mean training loss over the first and the last optimisation step of this request */
  loss: z.object({ first: z.number().nullable(), last: z.number().nullable() }),
  seconds: z.number().nonnegative(),
});
export type RequestResult = z.infer<typeof RequestResult>;

export const UpdateTarget = z.string().regex(/^(projector|llm|vision)(\+(projector|llm|vision))*$/);

export const MethodResult = z.object({
  /** registry name: ga, ga_klr, npo, ... */
  method: z.string(),
  /** which parts of the model the request updated, e.g. "projector+llm" */
  update_target: UpdateTarget,
  /** complete: every request ran; failed: stopped with `error` (e.g. a NaN loss); pending: not run yet */
  status: z.enum(['complete', 'failed', 'pending']),
  error: z.string().optional(),
  hyperparameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  /** one entry per finished request, in order */
  requests: z.array(RequestResult),
});
export type MethodResult = z.infer<typeof MethodResult>;

export const ScenarioName = z.enum(['fine_tuned', 'pre_trained', 'sustainability']);
export type ScenarioName = z.infer<typeof ScenarioName>;

export const SelectionRecord = z.object({
  /** minimum accuracy (percent, both modalities) for a celebrity to count as known */
  threshold: z.number(),
  candidates: z.number().int().nonnegative(),
  /** the kept people, best known first, with the base model's accuracy on them */
  kept: z.array(z.object({ id: z.string(), multimodal: z.number(), text_only: z.number() })),
});

export const ScenarioResult = z.object({
  scenario: ScenarioName,
  /** complete: every method finished; partial: some failed or are pending; skipped: not run (see note) */
  status: z.enum(['complete', 'partial', 'skipped']),
  note: z.string().optional(),
  /** the update target of the scenario's main comparison; entries in `methods` with another target are ablations */
  update_target: UpdateTarget,
  splits: z.object({
    unlearn: z.array(z.string()),
    retain: z.array(z.string()),
    /** the unlearning requests, in order; their union is `unlearn` */
    requests: z.array(z.array(z.string())),
  }),
  /** pre-trained scenario only: the behaviour-based selection */
  selection: SelectionRecord.optional(),
  /** scores of the model every method starts from, before its first request */
  before: SetScores.nullable(),
  methods: z.array(MethodResult),
});
export type ScenarioResult = z.infer<typeof ScenarioResult>;

export const Results = z.object({
  schema: z.literal('pulse.results'),
  version: z.literal(RESULTS_SCHEMA_VERSION),
  run: z.object({
    id: z.string(),
    created_at: z.string(),
    finished_at: z.string().nullable(),
    pulse_version: z.string(),
    preset: z.string().nullable(),
    /** multiple-choice scoring used for every accuracy in this file */
    scoring: z.enum(['letter', 'likelihood']),
    model: z.object({ name: z.string(), path: z.string(), sha256: z.string() }),
    seeds: z.record(z.string(), z.number().int()),
    /** the resolved configuration, as validated */
    config: z.record(z.string(), z.unknown()),
  }),
  scenarios: z.array(ScenarioResult),
});
export type Results = z.infer<typeof Results>;

/** Label of a series in charts and tables: the method, plus its target when it is an ablation. */
export function seriesLabel(method: MethodResult, scenario: ScenarioResult): string {
  return method.update_target === scenario.update_target ? method.method : `${method.method} [${method.update_target}]`;
}

import { z } from 'zod';
import { Accuracy, ByModality, RelativeScores, SetScores } from '../metrics/scores.ts';
import { Summary } from './summary-schema.ts';

/**
 * results.json: the machine-readable record of one `pulse run`. The report layer reads only this
 * file, so everything a chart or table shows must be here. Versioned: a reader refuses a
 * version it does not know instead of guessing.
 *
 * Scores (accuracy by modality, relative scores) are the metrics layer's types.
 */
export const RESULTS_SCHEMA_VERSION = 2;

/** A scoring point inside a request (eval.every): its step, and the scores there. */
export const TrajectoryPoint = z.object({
  /** optimisation steps into the request */
  step: z.number().int().nonnegative(),
  after: SetScores,
  relative: RelativeScores,
  by_request: z.array(Accuracy),
});
export type TrajectoryPoint = z.infer<typeof TrajectoryPoint>;

export const RequestResult = z.object({
  /** 1-based position in the scenario's request sequence */
  request: z.number().int().positive(),
  /** person IDs unlearned by this request */
  people: z.array(z.string()),
  after: SetScores,
  relative: RelativeScores,
  /** accuracy on each request's people of D_unlearn (index j = request j + 1), after this request */
  by_request: z.array(Accuracy),
  /** optimisation steps run, and whether unlearn.stop_at_forgotten ended the request before its last epoch */
  steps: z.number().int().nonnegative(),
  stopped_early: z.boolean(),
  /** scoring points inside the request (eval.every), in step order; the request's end is `after` */
  trajectory: z.array(TrajectoryPoint),
  /** the attacks' numbers after the request (config `attacks`), by attack, metric and modality */
  attacks: z.record(z.string(), z.record(z.string(), ByModality)).optional(),
  /** lists of person IDs the attacks found (e.g. cross_modal's image_only), by attack and list */
  attack_people: z.record(z.string(), z.record(z.string(), z.array(z.string()))).optional(),
  /** mean training loss over the first and the last optimisation step of this request */
  loss: z.object({ first: z.number().nullable(), last: z.number().nullable() }),
  seconds: z.number().nonnegative(),
});
export type RequestResult = z.infer<typeof RequestResult>;

export const UpdateTarget = z.string().regex(/^(projector|llm|vision)(\+(projector|llm|vision))*$/);

/** Where and when a cell ran (or one stretch of it, when a run was interrupted and resumed): not a number of the study. */
export const Placement = z.object({
  host: z.string(),
  /** the device its model was on: cpu, cuda:0, ... */
  device: z.string(),
  /** the process: "pulse run", "worker 2", or the Slurm array task */
  worker: z.string(),
  pid: z.number().int(),
  slurm_job: z.string().nullable(),
  started_at: z.string(),
  ended_at: z.string(),
  /** the requests this stretch ran */
  requests: z.array(z.number().int().positive()),
});
export type Placement = z.infer<typeof Placement>;

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
  /** where and when it ran, one entry per stretch (absent in runs of pulse <= 0.1.0) */
  placement: z.array(Placement).optional(),
});
export type MethodResult = z.infer<typeof MethodResult>;


export const SelectionRecord = z.object({
  /** minimum accuracy (percent, both modalities) for a celebrity to count as known */
  threshold: z.number(),
  candidates: z.number().int().nonnegative(),
  /** the kept people, best known first, with the base model's accuracy on them */
  kept: z.array(z.object({ id: z.string(), multimodal: z.number(), text_only: z.number() })),
});
export type SelectionRecord = z.infer<typeof SelectionRecord>;

export const ScenarioResult = z.object({
  /** a name from the scenario table (protocol/scenarios.ts) */
  scenario: z.string().min(1),
  /** the seed of this repetition: its split, request order, batch order and adapter initialisation */
  seed: z.number().int().nonnegative(),
  /** the table's title for it, so that a report needs no table (absent in runs of pulse <= 0.1.0) */
  title: z.string().optional(),
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
  /** the start model's accuracy on each request's people of D_unlearn */
  before_by_request: z.array(Accuracy),
  /** the retain oracle (the base model fine-tuned on D_retain's people only): complete forgetting, for reference */
  oracle: SetScores.nullable(),
  /** membership inference's AUC on the oracle (D_unlearn against unseen people), with the mia attack */
  oracle_mia: ByModality.optional(),
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
    model: z.object({ kind: z.string().optional(), name: z.string(), path: z.string(), sha256: z.string() }),
    seeds: z.record(z.string(), z.number().int()),
    /** the seeds the protocol ran with, in order (`scenarios` holds one entry per scenario and seed) */
    seed_list: z.array(z.number().int().nonnegative()).min(1),
    /** the resolved configuration, as validated */
    config: z.record(z.string(), z.unknown()),
    /** plug-in files (`pulse run --plugin`), their sha256 and the methods each registered */
    plugins: z.array(z.object({ path: z.string(), sha256: z.string(), methods: z.array(z.string()) })).optional(),
  }),
  scenarios: z.array(ScenarioResult),
  /** intervals, matched forgetting and paired differences across seeds; written when the run finishes */
  summary: Summary.nullable(),
});
export type Results = z.infer<typeof Results>;

/** Label of a series in charts and tables: the method, plus its target when it is an ablation. */
export function seriesLabel(method: MethodResult, scenario: ScenarioResult): string {
  return method.update_target === scenario.update_target ? method.method : `${method.method} [${method.update_target}]`;
}

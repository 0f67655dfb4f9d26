import { scope, type Tensor } from '../torch/index.ts';
import type { ModelBatch, PulseModel, ReferenceModel, StateDelta } from '../model/model.ts';
import type { Example } from '../data/records.ts';
import type { UnlearnSettings } from './unlearn.ts';

/** What a method's loss sees at one optimisation step. */
export interface StepInputs {
  model: PulseModel;
  /** the frozen model as it was before the current request; null when the method needs none */
  reference: ReferenceModel | null;
  forget: ModelBatch;
  /** retain-set examples; null when the method uses none */
  retain: ModelBatch | null;
  /**
   * The forget examples with a refusal as the answer, row for row with `forget` (same prompts and
   * images, so every model orders and splits both alike); set for methods with needsRefusals.
   */
  refusal?: ModelBatch | null;
  hyperparameters: Readonly<Record<string, number>>;
  /**
   * Set when forget/retain are one micro-batch of the step (a model that runs a batch in several
   * graphs): the whole step's counts, which every mean divides by, so that the micro-batches'
   * gradients add up to the whole batch's. Absent: the batches are the whole step.
   */
  totals?: StepTotals;
  /** what the method's `prepare` returned for this request; absent for a method without one */
  state?: RequestState;
}

export interface StepTotals {
  forgetItems: number; forgetTokens: number; retainTokens: number;
  /** the refusal batch's answer tokens (methods with needsRefusals) */
  refusalTokens?: number;
}

export interface UnlearningMethod {
  /** registry key, as written in configs and results: ga, ga_klr, npo */
  name: string;
  description: string;
  needsReference: boolean;
  needsRetain: boolean;
  /** trains on the forget examples with "I don't know"-style answers (StepInputs.refusal): IdkNLL, IdkDPO */
  needsRefusals?: boolean;
  /** set when the method only makes sense with LoRA adapters (one per request): a config that updates in full where it runs is refused */
  needsLora?: boolean;
  /** the method's own hyperparameters (λ, β, ...) with their defaults: the only names a config may set */
  defaults: Readonly<Record<string, number>>;
  /** the scalar to minimise; differentiable w.r.t. the model's trainable parameters */
  loss(inputs: StepInputs): Tensor;
  /**
   * Optional: run once per request, before its first step, for a method that needs state across the
   * request's steps (a gradient mask, the earlier requests' adapters). The state reaches `loss` as
   * `inputs.state` and is disposed when the request ends, however it ends.
   */
  prepare?(context: RequestContext): Promise<RequestState>;
  /**
   * Optional: what is wrong with these hyperparameters (the defaults with the config's over them) on
   * this model, or null. Checked before a run's folder exists, so a bad value never stops a run half way.
   */
  checkHyperparameters?(hyperparameters: Readonly<Record<string, number>>, model: Pick<PulseModel, 'llmLayers'>): string | null;
}

/** What `prepare` sees: the request as the optimiser will run it. */
export interface RequestContext {
  model: PulseModel;
  /** the tensors the optimiser updates: the request's adapters, or the target's parameters */
  params: readonly Tensor[];
  forget: readonly Example[];
  retain: readonly Example[];
  /** the request's settings: lr, batch size, LoRA (null: a full update), hyperparameters, seed */
  settings: UnlearnSettings;
  /**
   * The deltas of the earlier requests of the same sequence, oldest first, read on demand (a full
   * update's deltas are the size of the model); the caller disposes them. [] for the first request.
   */
  earlierDeltas(): Promise<StateDelta[]>;
}

/** A method's per-request state (see UnlearningMethod.prepare). */
export interface RequestState {
  /**
   * Called after each step's backward pass, before gradient clipping and the optimiser step: may
   * change the `.grad` of the trainable tensors (under noGrad).
   */
  adjustGradients?(): void;
  dispose(): void;
}

/** The deltas of a request that has no earlier ones (the first of its sequence, or outside a run). */
export const noEarlierDeltas = async (): Promise<StateDelta[]> => [];

/** NLL_θ = -Σ logπθ(answer tokens) / Σ answer tokens (token-averaged over all rows; over `totalTokens` when given). */
export function tokenAveragedNll(model: PulseModel, batch: ModelBatch, totalTokens?: number): Tensor {
  const { sum, tokens } = model.answerLogProbs(batch);
  return sum.sum().neg().div(totalTokens ?? tokens.sum());
}

/**
 * KL(ref ‖ θ) per answer token, averaged: mean_t Σ_v p_ref(v|t) (log p_ref(v|t) - log p_θ(v|t)).
 * The reference's distribution is computed without a graph: only θ is trained.
 */
export function klFromReference(model: PulseModel, reference: ReferenceModel, batch: ModelBatch, totalTokens?: number): Tensor {
  const logQ = model.answerLogits(batch).logSoftmax(-1);
  const logP = scope(() => reference.answerLogits(batch).logSoftmax(-1).detach());
  const perToken = logP.exp().mul(logP.sub(logQ)).sum(-1);
  return totalTokens === undefined ? perToken.mean() : perToken.sum().div(totalTokens);
}

/** The retain batch of a method that needs one. */
export function retainOf(inputs: StepInputs): ModelBatch {
  if (!inputs.retain) throw new Error('this method needs retain examples');
  return inputs.retain;
}

/** The reference model of a method that needs one. */
export function referenceOf(inputs: StepInputs, method: string): ReferenceModel {
  if (!inputs.reference) throw new Error(`${method} needs the reference model`);
  return inputs.reference;
}

/** The refusal batch of a method that needs one (needsRefusals). */
export function refusalOf(inputs: StepInputs, method: string): ModelBatch {
  if (!inputs.refusal) throw new Error(`${method} needs the forget examples with refusal answers`);
  return inputs.refusal;
}

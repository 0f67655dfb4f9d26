import { scope, type Tensor } from '../torch/index.ts';
import type { ModelBatch, PulseModel, ReferenceModel } from '../model/model.ts';

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
  /** the method's own hyperparameters (λ, β, ...) with their defaults: the only names a config may set */
  defaults: Readonly<Record<string, number>>;
  /** the scalar to minimise; differentiable w.r.t. the model's trainable parameters */
  loss(inputs: StepInputs): Tensor;
}

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

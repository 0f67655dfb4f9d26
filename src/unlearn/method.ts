import { cat, scope, type Tensor } from '../torch/index.ts';
import type { EncodedBatch } from '../model/batch.ts';
import type { MultimodalModel } from '../model/multimodal.ts';

/**
 * What a method's loss sees at one optimisation step. Batches come one per modality (a batch
 * never mixes image and text-only rows), so every quantity is gathered over all of them.
 */
export interface StepInputs {
  model: MultimodalModel;
  /** the frozen model as it was before the current request; null when the method needs none */
  reference: MultimodalModel | null;
  forget: EncodedBatch[];
  /** retain-set batches; empty when the method uses none */
  retain: EncodedBatch[];
  hyperparameters: Readonly<Record<string, number>>;
}

export interface UnlearningMethod {
  /** registry key, as written in configs and results: ga, ga_klr, npo */
  name: string;
  description: string;
  needsReference: boolean;
  needsRetain: boolean;
  /** the method's own hyperparameters (λ, β, ...) with their defaults */
  defaults: Readonly<Record<string, number>>;
  /** the scalar to minimise; differentiable w.r.t. the model's trainable parameters */
  loss(inputs: StepInputs): Tensor;
}

/** Summed answer log-probabilities logπ(y|x) and token counts of every row, over all batches. */
export function sequenceLogProbs(model: MultimodalModel, batches: readonly EncodedBatch[]): { sum: Tensor; tokens: Tensor } {
  const parts = batches.map((b) => model.answerLogProbs(b));
  return { sum: cat(parts.map((p) => p.sum)), tokens: cat(parts.map((p) => p.tokens)) };
}

/** NLL_θ = -Σ logπθ(answer tokens) / Σ answer tokens (token-averaged over all rows). */
export function tokenAveragedNll(model: MultimodalModel, batches: readonly EncodedBatch[]): Tensor {
  const { sum, tokens } = sequenceLogProbs(model, batches);
  return sum.sum().neg().div(tokens.sum());
}

/**
 * KL(ref ‖ θ) per answer token, averaged: mean_t Σ_v p_ref(v|t) (log p_ref(v|t) - log p_θ(v|t)).
 * The reference's distribution is computed without a graph: only θ is trained.
 */
export function klFromReference(model: MultimodalModel, reference: MultimodalModel, batches: readonly EncodedBatch[]): Tensor {
  const logQ = cat(batches.map((b) => model.answerLogits(b).logSoftmax(-1)));
  const logP = scope(() => cat(batches.map((b) => reference.answerLogits(b).logSoftmax(-1))).detach());
  return logP.exp().mul(logP.sub(logQ)).sum(-1).mean();
}

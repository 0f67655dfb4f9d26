import type { Tensor } from '../torch/index.ts';
import { PulseError } from '../errors.ts';
import type { Example, ScoredQuestion } from '../data/records.ts';
import type { Letter } from '../text/multiple-choice.ts';
import type { LoraFactors } from './lora.ts';

/**
 * The model seam: everything protocol/, unlearn/, train/, metrics/ and cli/ see of a model.
 * Implementations (model/embedded/, later model/llava/) decide everything model-specific: the
 * prompt format, the image size, how a batch is split into forward passes, where LoRA goes.
 */

/** The three parts of a LLaVA-shaped model; an update target is any non-empty union of them. */
export const PARTS = ['vision', 'projector', 'llm'] as const;
export type Part = (typeof PARTS)[number];
export type ScoringMode = 'letter' | 'likelihood';

/** "projector+llm" -> ['projector', 'llm'], in PARTS order; an unknown part is a RangeError naming it. */
export function parseTarget(text: string): Part[] {
  const parts = text.split('+').map((p) => p.trim());
  for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new RangeError(`unknown model part '${p}' in update target '${text}' (parts: ${PARTS.join(', ')})`);
  return PARTS.filter((p) => parts.includes(p));
}

/**
 * Examples encoded for one model. A batch may hold both modalities; `pieces` are the forward
 * passes the model runs for it (one per modality for the embedded model), in the order in which
 * answerLogProbs and answerLogits return their rows. Training accumulates gradients piece by piece.
 */
export interface ModelBatch {
  /** number of examples */
  readonly size: number;
  /** answer tokens (with the end-of-answer token) over all examples: the NLL's denominator */
  readonly answerTokens: number;
  readonly pieces: readonly ModelBatch[];
  /**
   * The pieces are micro-batches of a batch too large for one graph: training runs one graph per
   * piece and accumulates gradients (a LLaVA's micro_batch). Unset: one graph may span all pieces.
   */
  readonly accumulate?: boolean;
  dispose(): void;
}

/** The model as it was when the reference was taken, frozen: the "ref" of KL and NPO terms. */
export interface ReferenceModel {
  /** As PulseModel.answerLogProbs, without a graph. */
  answerLogProbs(batch: ModelBatch): { sum: Tensor; tokens: Tensor };
  /** As PulseModel.answerLogits, without a graph. */
  answerLogits(batch: ModelBatch): Tensor;
  /** As PulseModel.hiddenStates, without a graph. */
  hiddenStates(batch: ModelBatch, layer: number): Tensor;
  dispose(): void;
}

export interface LoraSpec {
  rank: number;
  alpha: number;
  dropout: number;
  /** the parts whose linear layers take adapters */
  parts: readonly Part[];
  /** layer names to adapt (the last component of a linear layer's name); [] = every linear layer */
  layers: readonly string[];
}

/**
 * What an update changed, small enough to checkpoint every request of a 13B model: LoRA
 * factors to fold into a weight (W += scale · B A), or new values of the parameters a full
 * update trained. Applying the deltas of a sequence in order rebuilds its state exactly.
 */
export type DeltaEntry =
  | { kind: 'lora'; layer: string; a: Tensor; b: Tensor; scale: number }
  | { kind: 'set'; name: string; value: Tensor };
export interface StateDelta { entries: DeltaEntry[] }

export interface ModelInfo {
  /** the registry kind ("embedded") */
  kind: string;
  /** a short display name (the weights file or folder name) */
  name: string;
  path: string;
  /** identifies the weights: results and caches record it */
  sha256: string;
  parameters: number;
  /** the multiple-choice scoring mode the model is evaluated with by default */
  defaultScoring: ScoringMode;
  /** the generated world the model belongs to, when it belongs to one */
  world: { seed: number; hash: string } | null;
}

/**
 * A multiple-choice answer and each option's score: with likelihood scoring, log p(option text |
 * question); with letter scoring, log p(the option's letter as the answer's first token), read
 * where the greedy answer starts (the choice itself may come from a later token).
 */
export interface Prediction { choice: Letter | null; scores: number[] }

/** A candidate next token: its id, its text, and log p(token | prompt). */
export interface NextToken { id: number; token: string; logProb: number }

/** The `count` largest entries of a log-probability vector, largest first (ties: lower id first). */
export function topTokens(logProbs: ArrayLike<number>, count: number, text: (id: number) => string): NextToken[] {
  const ids = Array.from({ length: logProbs.length }, (_, i) => i);
  ids.sort((a, b) => logProbs[b]! - logProbs[a]! || a - b);
  return ids.slice(0, count).map((id) => ({ id, token: text(id), logProb: logProbs[id]! }));
}

export interface PulseModel {
  readonly info: ModelInfo;
  readonly parts: readonly Part[];

  /** Tokenizes examples (and prepares their images) in the model's own prompt format. */
  encode(examples: readonly Example[]): Promise<ModelBatch>;
  /**
   * Per example, in the batch's row order: logπθ(y|x) = Σ_t log p(y_t | x, y_<t) over the answer
   * tokens (and the end-of-answer token), and the number of those tokens. Differentiable.
   */
  answerLogProbs(batch: ModelBatch): { sum: Tensor; tokens: Tensor };
  /** Logits at every answer position, [answer tokens, vocabulary]: the input of per-token KL terms. */
  answerLogits(batch: ModelBatch): Tensor;
  /** How many decoder layers the language model has: hiddenStates reads layers 0 .. llmLayers - 1. */
  readonly llmLayers: number;
  /**
   * The language model's residual stream after decoder layer `layer` (0-based, before any final norm) at the rows of
   * answerLogits, [answer tokens, width], float32: what representation-level losses (RMU) read. Differentiable; only
   * the layers up to `layer` run. A layer outside 0 .. llmLayers - 1 is a RangeError (assertLayer).
   */
  hiddenStates(batch: ModelBatch, layer: number): Tensor;
  /**
   * Every answer token's log p(y_t | x, y_<t) (the end-of-answer token's too), [answer tokens]: the rows' runs one
   * after another in the batch's row order, `tokens` [rows] long each. A row's run sums to answerLogProbs' sum.
   * The input of token-level scores such as Min-K% membership inference. Differentiable.
   */
  answerTokenLogProbs(batch: ModelBatch): { values: Tensor; tokens: Tensor };
  /**
   * Multiple-choice predictions. likelihood: the option whose text is the most probable answer.
   * letter: the greedy answer, right only if its first character is an offered letter; else null.
   */
  predict(questions: readonly ScoredQuestion[], mode: ScoringMode, batchSize?: number): Promise<Prediction[]>;

  /**
   * Backpropagates a loss computed from this model's outputs into its trainable tensors. A model
   * may do more than loss.backward() (a LLaVA with gradient checkpointing recomputes its layers).
   */
  backward(loss: Tensor): void;

  /**
   * The `count` most probable next tokens where letter scoring reads the answer (after the
   * question in the model's multiple-choice prompt), most probable first.
   */
  nextTokens(question: ScoredQuestion, count: number): Promise<NextToken[]>;

  /**
   * Greedy answers to prompts in the model's own chat format (each example's `answer` is
   * ignored): the most probable token at every step, until the end-of-answer token or
   * `maxTokens` tokens, in evaluation mode and without a graph. The decoded text, per prompt.
   */
  generate(prompts: readonly Example[], maxTokens: number, batchSize?: number): Promise<string[]>;

  /** Dropout and similar switch on (training) or off (evaluation). */
  setTraining(on: boolean): void;
  /**
   * The tensors an optimiser updates for a target: a part's adapters when it has any, else all of
   * its parameters. Every other tensor is frozen.
   */
  trainableParameters(target: readonly Part[]): Tensor[];
  /** Freezes everything (after an update). */
  freeze(): void;

  /** Attaches fresh adapters (B = 0: the outputs do not change); returns how many layers took one. */
  attachLora(spec: LoraSpec): number;
  /** Folds the adapters into the weights and removes them; returns them as the update's delta. */
  mergeLora(): StateDelta;
  /** Removes the adapters without folding them in, and returns them. */
  detachLora(): StateDelta;
  /**
   * The attached adapters by layer name (as a delta names them): the live tensors, not copies, so a
   * loss over them trains them (O3's orthogonality penalty). Empty when no adapter is attached.
   */
  loraFactors(): Map<string, LoraFactors>;
  /** Copies of the target's parameters: the delta of a full update. */
  parameterDelta(target: readonly Part[]): StateDelta;
  /** Applies a delta (a LoRA entry is folded in exactly as mergeLora folds it). */
  applyDelta(delta: StateDelta): void;
  /** Puts back the weights the model was loaded with, exactly. */
  reset(): Promise<void>;
  /**
   * The model as it is now, frozen, for the KL and NPO terms. Take it after attaching the
   * request's adapters and choosing its trainable parameters: when only adapters train, it is
   * the same weights with the adapters switched off, and costs no copy.
   */
  reference(): ReferenceModel;

  /** Saves a delta to a safetensors file, tagged so that only a model of this shape loads it. */
  saveDelta(path: string, delta: StateDelta, metadata?: Record<string, string>): Promise<void>;
  loadDelta(path: string): Promise<StateDelta>;

  dispose(): void;
}

/** A decoder layer index for hiddenStates: an integer in 0 .. layers - 1, else a RangeError naming the model. */
export function assertLayer(layer: number, layers: number, model: string): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= layers) {
    throw new RangeError(`hidden-state layer ${layer} is out of range for ${model}: its language model has layers 0 .. ${layers - 1}`);
  }
}

/** A model made for a generated world (the embedded one) only makes sense with that world. */
export function assertSameWorld(info: ModelInfo, world: { seed: number; hash: string }): void {
  const own = info.world;
  if (own && (own.seed !== world.seed || own.hash !== world.hash)) {
    throw new PulseError(`${info.path} was trained on world seed ${own.seed} (hash ${own.hash}), but this run uses world seed `
      + `${world.seed} (hash ${world.hash}); pretrain a model for this world (\`pulse pretrain\`) or use the matching world`);
  }
}

export function disposeDelta(delta: StateDelta): void {
  for (const e of delta.entries) {
    if (e.kind === 'lora') { e.a.dispose(); e.b.dispose(); } else e.value.dispose();
  }
}

/** Accuracy in [0, 1] and the per-question outcome of a model's predictions. */
export async function scoreAnswers(model: PulseModel, questions: readonly ScoredQuestion[], mode: ScoringMode, batchSize = 256): Promise<{ accuracy: number; correct: boolean[]; predictions: Prediction[] }> {
  const predictions = await model.predict(questions, mode, batchSize);
  const correct = predictions.map((p, i) => p.choice === questions[i]!.answer);
  return { accuracy: questions.length ? correct.filter(Boolean).length / questions.length : 0, correct, predictions };
}

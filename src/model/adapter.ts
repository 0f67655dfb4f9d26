import { basename } from 'node:path';
import { cat, noGrad, scope, tensor, type Dtype, type Tensor } from '../torch/index.ts';
import type { ImageInput } from '../data/images.ts';
import type { Example, ScoredQuestion } from '../data/records.ts';
import { LETTERS, type Letter } from '../text/multiple-choice.ts';
import { PulseError } from '../errors.ts';
import { applyStateDelta, readDelta, writeDelta } from './delta.ts';
import { adaptersOffReference, attachByName, liveFactors, takeAdapters, type LoraFactors } from './lora.ts';
import { chooseTrainable, copiesDelta, freezeAll } from './trainable.ts';
import {
  PARTS, assertLayer, topTokens, type LoraSpec, type ModelBatch, type ModelInfo, type NextToken, type Part, type Prediction, type PulseModel,
  type ReferenceModel, type ScoringMode, type StateDelta,
} from './model.ts';
import { DecoderNetwork } from './network.ts';
import { Piece, PieceBatch, type RowTokens } from './batch.ts';
import { outOfMemory } from './memory.ts';
import { firstVisibleCharacters, greedyTokens, withoutStop } from './greedy.ts';
import { WeightSource } from './hf/source.ts';
import type { CheckpointWeights } from './hf/weights.ts';

export interface Runtime {
  dtype: Dtype;
  device: string;
  /** rows per forward pass: a batch of more rows is run in pieces (gradient accumulation) */
  microBatch: number;
  defaultScoring: ScoringMode;
}

/** Where the weights came from: reset() reads changed tensors back from it. */
export interface Origin { folder: string; fingerprint: string; weights: CheckpointWeights | null }

/**
 * A network behind the model seam: scoring (answer log-probabilities, logits, hidden states,
 * letter and likelihood predictions), greedy generation, LoRA by layer name, full updates, state
 * deltas, an exact reset and a reference without a copy, the same for every family. A family
 * adds its network (DecoderNetwork) and how its prompts and images become rows and pieces:
 *
 * - `I` the network's inputs of one forward pass, `Img` a prepared image, `R` a row before batching.
 */
export abstract class NetworkModel<I extends object, Img, R extends RowTokens> extends DecoderNetwork<I> implements PulseModel {
  readonly parts = PARTS;
  /** the registry kind ("llava", "qwen2_5_vl") */
  abstract readonly kind: string;
  /** the family's name in messages ("LLaVA", "Qwen2.5-VL") */
  abstract readonly displayName: string;
  /** the end-of-answer token: training scores it, greedy decoding stops at it */
  abstract readonly stopId: number;
  readonly #images = new WeakMap<ImageInput, Img>();
  readonly #dirty = new Set<string>();
  #info: ModelInfo | null = null;
  #adaptersOnly = false;
  /** the base parameters the current update trains in full */
  #trainedInFull = new Set<string>();

  constructor(readonly origin: Origin, readonly runtime: Runtime) {
    super();
  }

  // --- what a family supplies ---

  /** An image as the network reads it (pixels, patches), computed once per image. */
  protected abstract prepareImage(image: ImageInput): Promise<Img>;
  /** The row of a prompt (in the model's own format) and an answer ('' for a prompt alone), with its image. */
  protected abstract tokenRow(prompt: string, answer: string, image: Img | null): R;
  /** The prompt of a multiple-choice question scored by its first letter. */
  protected abstract letterPrompt(question: ScoredQuestion): string;
  /** Positions the row takes in the language model, each image as many as it has features. */
  protected abstract positions(row: R): number;
  /** The language model's max_position_embeddings: longer rows are refused. */
  protected abstract get maxPositions(): number;
  /** One forward pass over rows. */
  protected abstract encodeRows(rows: readonly R[]): Piece<I>;
  /** The rows with their image features computed (no graph), for the steps of greedy decoding to share. */
  protected abstract withFeatures(rows: readonly R[]): R[];
  /** A model over these tensors, shared except where `source` copies them (the reference of a full update). */
  protected abstract sharedCopy(source: WeightSource): NetworkModel<I, Img, R>;
  abstract decode(ids: readonly number[]): string;

  get info(): ModelInfo {
    this.#info ??= {
      kind: this.kind, name: basename(this.origin.folder), path: this.origin.folder, sha256: this.origin.fingerprint,
      parameters: this.parameterCount(), defaultScoring: this.runtime.defaultScoring, world: null,
    };
    return this.#info;
  }

  // --- inputs ---

  async #prepareImages(items: readonly { image?: ImageInput | undefined }[]): Promise<void> {
    for (const { image } of items) if (image && !this.#images.has(image)) this.#images.set(image, await this.prepareImage(image));
  }

  /**
   * A row that fits the language model's max_position_embeddings. transformers would run a longer
   * one (RoPE has no table to run out of), but past the length a model was made for its scores mean
   * little and its memory grows with the square of the length: refused, as vLLM refuses prompts
   * longer than max_model_len.
   */
  #row(prompt: string, answer: string, image: ImageInput | undefined): R {
    const row = this.tokenRow(prompt, answer, image ? this.#images.get(image)! : null);
    const length = this.positions(row);
    if (length > this.maxPositions) {
      const what = `${answer === '' ? 'a prompt of' : 'a prompt and its answer of'} ${length} tokens${image ? ' (its image included)' : ''}`;
      throw new PulseError(`${what} ${answer === '' ? 'does' : 'do'} not fit ${this.displayName}, which takes ${this.maxPositions} `
        + `(max_position_embeddings in ${basename(this.origin.folder)}/config.json): the prompt begins ${JSON.stringify(prompt.slice(0, 40))}`);
    }
    return row;
  }

  #batch(rows: readonly R[]): ModelBatch {
    const pieces: Piece<I>[] = [];
    for (let s = 0; s < rows.length; s += this.runtime.microBatch) pieces.push(this.encodeRows(rows.slice(s, s + this.runtime.microBatch)));
    return pieces.length === 1 ? pieces[0]! : new PieceBatch(pieces);
  }

  async encode(examples: readonly Example[]): Promise<ModelBatch> {
    if (examples.length === 0) throw new RangeError('empty batch');
    await this.#prepareImages(examples);
    return this.#batch(examples.map((e) => this.#row(e.prompt, e.answer, e.image)));
  }

  #pieces(batch: ModelBatch): Piece<I>[] {
    return batch.pieces.map((p) => {
      if (!(p instanceof Piece) || p.family !== this.kind) throw new TypeError(`this batch was not encoded by a ${this.displayName} model`);
      return p as Piece<I>;
    });
  }

  // --- scores ---

  override hidden(inputs: I): Tensor {
    return this.#memoryGuard(() => super.hidden(inputs));
  }

  override backward(loss: Tensor): void {
    this.#memoryGuard(() => super.backward(loss));
  }

  #memoryGuard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw outOfMemory(e, { device: this.runtime.device, microBatch: this.runtime.microBatch, checkpointing: this.checkpointer !== null }) ?? e;
    }
  }

  /** Hidden states at the positions that predict answer tokens, [K, D]. */
  #answerHidden(piece: Piece<I>): Tensor {
    const hidden = this.hidden(piece.inputs);
    return hidden.view(-1, hidden.size(-1)).indexSelect(0, piece.answerIndex);
  }

  answerLogProbs(batch: ModelBatch): { sum: Tensor; tokens: Tensor } {
    const parts = this.#pieces(batch).map((p) => {
      const logProbs = this.logits(this.#answerHidden(p)).float().logSoftmax(-1).gather(1, p.targets.unsqueeze(1)).squeeze(1);
      return { sum: p.owner.matmul(logProbs), tokens: p.owner.sum(1) };
    });
    return { sum: cat(parts.map((p) => p.sum)), tokens: cat(parts.map((p) => p.tokens)) };
  }

  answerLogits(batch: ModelBatch): Tensor {
    return cat(this.#pieces(batch).map((p) => this.logits(this.#answerHidden(p)).float()));
  }

  hiddenStates(batch: ModelBatch, layer: number): Tensor {
    assertLayer(layer, this.llmLayers, `the ${this.displayName} model ${this.info.name}`);
    return cat(this.#pieces(batch).map((p) => {
      const residual = this.#memoryGuard(() => this.residualAfter(p.inputs, layer));
      return residual.view(-1, residual.size(-1)).indexSelect(0, p.answerIndex).float();
    }));
  }

  /** The log-probabilities answerLogProbs sums: `targets` (and so each piece's rows) are in row order. */
  answerTokenLogProbs(batch: ModelBatch): { values: Tensor; tokens: Tensor } {
    const parts = this.#pieces(batch).map((p) => ({
      values: this.logits(this.#answerHidden(p)).float().logSoftmax(-1).gather(1, p.targets.unsqueeze(1)).squeeze(1),
      tokens: p.owner.sum(1),
    }));
    return { values: cat(parts.map((p) => p.values)), tokens: cat(parts.map((p) => p.tokens)) };
  }

  async predict(questions: readonly ScoredQuestion[], mode: ScoringMode, batchSize = 8): Promise<Prediction[]> {
    await this.#prepareImages(questions);
    return this.#inEvalMode(() => (mode === 'likelihood' ? this.#byLikelihood(questions, batchSize) : this.#byLetter(questions, batchSize)));
  }

  #inEvalMode<T>(fn: () => T): T {
    const wasTraining = this.training;
    this.eval();
    try {
      return fn();
    } finally {
      this.train(wasTraining);
    }
  }

  /** The option whose text, as the answer, has the highest summed log-probability. */
  #byLikelihood(questions: readonly ScoredQuestion[], batchSize: number): Prediction[] {
    const rows = questions.flatMap((q) => q.options.map((o) => this.#row(q.question, o, q.image)));
    const scores: number[] = [];
    for (let s = 0; s < rows.length; s += batchSize) {
      const piece = this.encodeRows(rows.slice(s, s + batchSize));
      try {
        scores.push(...noGrad(() => scope(() => this.answerLogProbs(piece).sum.toArray())));
      } finally {
        piece.dispose();
      }
    }
    let at = 0;
    return questions.map((q) => {
      const own = scores.slice(at, (at += q.options.length));
      return { choice: LETTERS[own.indexOf(Math.max(...own))]!, scores: own };
    });
  }

  /** Next-token logits [B, V] at the end of each row's prompt. */
  #nextLogits(rows: readonly R[]): Tensor {
    const piece = this.encodeRows(rows);
    try {
      const hidden = this.hidden(piece.inputs);
      const last = tensor(piece.promptEnd, [piece.promptEnd.length], 'int64', this.runtime.device);
      return this.logits(hidden.view(-1, hidden.size(-1)).indexSelect(0, last)).float();
    } finally {
      piece.dispose();
    }
  }

  #letterRows(questions: readonly ScoredQuestion[]): R[] {
    return questions.map((q) => this.#row(this.letterPrompt(q), '', q.image));
  }

  /** MLLMU-Bench's rule: the greedy answer's first character (after whitespace), right only if it is an offered letter. */
  #byLetter(questions: readonly ScoredQuestion[], batchSize: number): Prediction[] {
    const out: Prediction[] = [];
    // the first token of each letter as an answer, as training on the answer "A" would score it
    const letterIds = LETTERS.map((l) => this.tokenRow('', l, null).answer[0]!);
    for (let s = 0; s < questions.length; s += batchSize) {
      const group = questions.slice(s, s + batchSize);
      let letterScores: number[] = [];
      const firsts = this.#decodingFrom(this.#letterRows(group), (next) => firstVisibleCharacters(group.length, (pending, generated) => noGrad(() => scope(() => {
        const logits = next(pending, generated);
        if (letterScores.length === 0) {
          const ids = tensor(letterIds, [letterIds.length], 'int64', this.runtime.device);
          letterScores = Array.from(logits.logSoftmax(-1).indexSelect(1, ids).toArray());
        }
        return logits.argmax(1).toArray();
      })), (ids) => this.decode(ids), this.stopId));
      group.forEach((q, k) => {
        const offered = LETTERS.slice(0, q.options.length) as readonly string[];
        const scores = letterScores.slice(k * LETTERS.length, k * LETTERS.length + offered.length);
        out.push({ choice: offered.includes(firsts[k]!) ? (firsts[k] as Letter) : null, scores });
      });
    }
    return out;
  }

  /**
   * A greedy decoding over prompt rows whose image features are computed once, here, for all its
   * steps (REVIEW.md: not once per generated token). `decode` gets a `next` that gives the
   * next-token logits [pending, V] of the listed rows, each continued by the tokens generated for
   * it so far.
   */
  #decodingFrom<T>(
    prompts: readonly R[],
    decode: (next: (pending: readonly number[], generated: readonly (readonly number[])[]) => Tensor) => T,
  ): T {
    const rows = noGrad(() => this.withFeatures(prompts));
    try {
      return decode((pending, generated) => this.#nextLogits(pending.map((k) => ({ ...rows[k]!, generated: generated[k]! }))));
    } finally {
      for (const r of rows) r.features?.dispose();
    }
  }

  async nextTokens(question: ScoredQuestion, count: number): Promise<NextToken[]> {
    await this.#prepareImages([question]);
    const row = this.#inEvalMode(() => noGrad(() => scope(() => this.#nextLogits(this.#letterRows([question])).logSoftmax(-1).toFloat32Array())));
    return topTokens(row, count, (id) => this.decode([id]));
  }

  /** Greedy answers, in batches of `batchSize` rows; each step is one forward pass over the rows still going. */
  async generate(prompts: readonly Example[], maxTokens: number, batchSize = 8): Promise<string[]> {
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError(`generate: maxTokens must be a positive integer, got ${maxTokens}`);
    await this.#prepareImages(prompts);
    return this.#inEvalMode(() => {
      const out: string[] = [];
      for (let s = 0; s < prompts.length; s += batchSize) {
        const rows = prompts.slice(s, s + batchSize).map((p) => this.#row(p.prompt, '', p.image));
        // a row stops where its next step would not fit max_position_embeddings
        const lengths = rows.map((r) => this.positions(r));
        const fits = (row: number, generated: readonly number[]) => lengths[row]! + generated.length <= this.maxPositions;
        const step = (next: (pending: readonly number[], generated: readonly (readonly number[])[]) => Tensor) => greedyTokens(rows.length,
          (pending, generated) => noGrad(() => scope(() => next(pending, generated).argmax(1).toArray())), this.stopId, maxTokens, fits);
        const tokens = this.#decodingFrom(rows, step);
        out.push(...tokens.map((ids) => this.decode(withoutStop(ids, this.stopId)).trim()));
      }
      return out;
    });
  }

  // --- LoRA and trainable parameters ---

  setTraining(on: boolean): void { this.train(on); }

  attachLora(spec: LoraSpec): number {
    if (this.checkpointer && spec.dropout > 0) {
      throw new PulseError(`lora.dropout ${spec.dropout} with model.gradient_checkpointing: the recomputed layers would draw other dropout masks; `
        + 'set the dropout to 0 or turn checkpointing off');
    }
    return attachByName(this.loraLayers(spec.parts), spec);
  }

  #changed(name: string): void { this.#dirty.add(name); }

  mergeLora(): StateDelta {
    const delta = takeAdapters(this.loraLayers(), true);
    for (const e of delta.entries) if (e.kind === 'lora') this.#changed(`${e.layer}.weight`);
    return delta;
  }

  detachLora(): StateDelta { return takeAdapters(this.loraLayers(), false); }
  loraFactors(): Map<string, LoraFactors> { return liveFactors(this.loraLayers()); }

  trainableParameters(target: readonly Part[]): Tensor[] {
    this.#trainedInFull = new Set();
    const chosen = chooseTrainable(this, target, (p) => this.part(p), (p) => this.loraLayers([p]), (name) => {
      this.#changed(name);
      this.#trainedInFull.add(name);
    });
    this.#adaptersOnly = chosen.adaptersOnly;
    return chosen.params;
  }

  freeze(): void { freezeAll(this, this.loraLayers()); }

  parameterDelta(target: readonly Part[]): StateDelta {
    return copiesDelta(target.flatMap((p) => this.part(p).module.namedParameters(this.part(p).prefix)));
  }

  applyDelta(delta: StateDelta): void {
    applyStateDelta(delta, new Map(this.loraLayers()), this.stateDict(), (name) => this.#changed(name));
  }

  async reset(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const weights = this.origin.weights;
    if (!weights) throw new Error('reset() needs a model loaded from a checkpoint');
    const params = this.stateDict();
    for (const name of this.#dirty) {
      const param = params.get(name)!;
      const fresh = weights.read(name, param.shape, this.runtime.dtype, this.runtime.device);
      noGrad(() => param.copy_(fresh));
      fresh.dispose();
    }
    this.#dirty.clear();
  }

  /**
   * While only adapters train: this model with its adapters off, no copy. When a part trains in
   * full: a frozen model that shares every other tensor with this one and owns copies of that
   * part's, without adapters (taken right after attaching, when B = 0, they change nothing).
   */
  reference(): ReferenceModel {
    const layers = this.loraLayers().filter(([, l]) => l.adapter !== null).map(([, l]) => l);
    if (this.#adaptersOnly && layers.length > 0) return adaptersOffReference(this, layers);
    const copied = new Set(this.#trainedInFull);
    const copy = this.sharedCopy(WeightSource.sharing(this.stateDict(), copied));
    copy.freeze();
    return {
      answerLogProbs: (batch) => noGrad(() => copy.answerLogProbs(batch)),
      answerLogits: (batch) => noGrad(() => copy.answerLogits(batch)),
      hiddenStates: (batch, layer) => noGrad(() => copy.hiddenStates(batch, layer)),
      dispose: () => { for (const [name, t] of copy.stateDict()) if (copied.has(name)) t.dispose(); },
    };
  }

  /** What a saved delta must match: the architecture and the vocabulary. */
  get shapeTag(): string { return `${this.kind}/${this.origin.fingerprint.slice(0, 16)}`; }

  saveDelta(path: string, delta: StateDelta, metadata: Record<string, string> = {}): Promise<void> {
    return writeDelta(path, delta, this.shapeTag, metadata);
  }

  loadDelta(path: string): Promise<StateDelta> { return readDelta(path, this.shapeTag); }

  override dispose(): void {
    for (const [, l] of this.loraLayers()) l.detach();
    super.dispose();
    this.origin.weights?.close();
  }
}

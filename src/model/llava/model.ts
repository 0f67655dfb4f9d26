import { basename } from 'node:path';
import { cat, noGrad, scope, tensor, type Dtype, type Tensor } from '../../torch/index.ts';
import type { ImageInput } from '../../data/images.ts';
import type { Example, ScoredQuestion } from '../../data/records.ts';
import { LETTERS, type Letter } from '../../text/multiple-choice.ts';
import { PulseError } from '../../errors.ts';
import { applyStateDelta, readDelta, writeDelta } from '../delta.ts';
import { LoraLinear, adaptersOffReference, attachByName, liveFactors, takeAdapters, type LoraFactors } from '../lora.ts';
import { chooseTrainable, copiesDelta, freezeAll } from '../trainable.ts';
import {
  PARTS, assertLayer, topTokens, type LoraSpec, type NextToken, type ModelBatch, type ModelInfo, type Part, type Prediction, type PulseModel, type ReferenceModel, type ScoringMode, type StateDelta,
} from '../model.ts';
import type { Module } from '../../torch/index.ts';
import { LlavaNet, type LlavaInputs } from './llava.ts';
import { outOfMemory } from './memory.ts';
import { LlavaBatch, LlavaPiece, encodeRows, type BatchLayout, type TokenRow } from './batch.ts';
import { clipPixels, type ClipConfig } from './preprocess.ts';
import { letterQuestion, userTurn } from './prompt.ts';
import { firstVisibleCharacters } from './greedy.ts';
import { greedyTokens, withoutStop } from '../greedy.ts';
import { WeightSource } from './source.ts';
import type { LlavaConfig } from './config.ts';
import type { LlavaTokenizer } from './tokenizer.ts';
import type { CheckpointWeights } from './weights.ts';

export interface LlavaRuntime {
  dtype: Dtype;
  device: string;
  /** rows per forward pass: a batch of more rows is run in pieces (gradient accumulation) */
  microBatch: number;
  defaultScoring: ScoringMode;
}

/** Where the weights came from: reset() reads changed tensors back from it. */
export interface LlavaOrigin { folder: string; fingerprint: string; weights: CheckpointWeights | null }

function piecesOf(batch: ModelBatch): LlavaPiece[] {
  return batch.pieces.map((p) => {
    if (!(p instanceof LlavaPiece)) throw new TypeError('this batch was not encoded by a LLaVA model');
    return p;
  });
}

/** LLaVA-1.5 behind the model seam: MLLMU-Bench's prompts, LoRA on named layers, state deltas, exact reset. */
export class LlavaModel extends LlavaNet implements PulseModel {
  readonly parts = PARTS;
  readonly info: ModelInfo;
  readonly #pixels = new WeakMap<ImageInput, Float32Array>();
  readonly #dirty = new Set<string>();
  #adaptersOnly = false;
  /** the base parameters the current update trains in full */
  #trainedInFull = new Set<string>();

  constructor(
    w: WeightSource, config: LlavaConfig, readonly tokenizer: LlavaTokenizer, readonly preprocessor: ClipConfig,
    readonly origin: LlavaOrigin, readonly runtime: LlavaRuntime,
  ) {
    super(w, config);
    this.eval();
    this.info = {
      kind: 'llava', name: basename(origin.folder), path: origin.folder, sha256: origin.fingerprint, parameters: this.parameterCount(),
      defaultScoring: runtime.defaultScoring, world: null,
    };
  }

  get layout(): BatchLayout {
    const { imageTokenId, imageTokens, padTokenId } = this.config;
    return {
      imageTokenId, imageTokens, padId: padTokenId ?? this.tokenizer.eosId, imageSize: this.config.vision.imageSize,
      // transformers computes past max_position_embeddings too (RoPE has no table to run out of): no limit here
      maxLength: Number.MAX_SAFE_INTEGER, device: this.runtime.device,
    };
  }

  // --- inputs ---

  async #prepareImages(items: readonly { image?: ImageInput | undefined }[]): Promise<void> {
    for (const { image } of items) {
      if (!image || this.#pixels.has(image)) continue;
      const input = image.kind === 'encoded' ? image.bytes : image;
      this.#pixels.set(image, await clipPixels(input, this.preprocessor, image.kind === 'encoded' ? image.source : 'an image'));
    }
  }

  /** Prompt ids with <bos>, and the answer's ids (with </s>) as they follow the prompt in the tokenized whole. */
  #row(prompt: string, answer: string, image: ImageInput | undefined): TokenRow {
    const turn = userTurn(prompt, image !== undefined);
    const promptIds = this.tokenizer.encode(turn, true);
    const pixels = image ? this.#pixels.get(image)! : null;
    if (answer === '') return { prompt: promptIds, answer: [], pixels };
    const whole = this.tokenizer.encode(`${turn} ${answer}`, true);
    if (!promptIds.every((id, i) => whole[i] === id)) {
      throw new PulseError(`the tokenizer merges the prompt's end with the answer ${JSON.stringify(answer.slice(0, 40))}: cannot tell answer tokens apart`);
    }
    return { prompt: promptIds, answer: [...whole.slice(promptIds.length), this.tokenizer.eosId], pixels };
  }

  #encodeRows(rows: readonly TokenRow[]): ModelBatch {
    const pieces: LlavaPiece[] = [];
    for (let s = 0; s < rows.length; s += this.runtime.microBatch) pieces.push(encodeRows(rows.slice(s, s + this.runtime.microBatch), this.layout));
    return pieces.length === 1 ? pieces[0]! : new LlavaBatch(pieces);
  }

  async encode(examples: readonly Example[]): Promise<ModelBatch> {
    if (examples.length === 0) throw new RangeError('empty batch');
    await this.#prepareImages(examples);
    return this.#encodeRows(examples.map((e) => this.#row(e.prompt, e.answer, e.image)));
  }

  // --- scores ---

  override hidden(inputs: LlavaInputs): Tensor {
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
  #answerHidden(piece: LlavaPiece): Tensor {
    const hidden = this.hidden(piece.inputs);
    return hidden.view(-1, hidden.size(-1)).indexSelect(0, piece.answerIndex);
  }

  answerLogProbs(batch: ModelBatch): { sum: Tensor; tokens: Tensor } {
    const parts = piecesOf(batch).map((p) => {
      const logProbs = this.logits(this.#answerHidden(p)).float().logSoftmax(-1).gather(1, p.targets.unsqueeze(1)).squeeze(1);
      return { sum: p.owner.matmul(logProbs), tokens: p.owner.sum(1) };
    });
    return { sum: cat(parts.map((p) => p.sum)), tokens: cat(parts.map((p) => p.tokens)) };
  }

  answerLogits(batch: ModelBatch): Tensor {
    return cat(piecesOf(batch).map((p) => this.logits(this.#answerHidden(p)).float()));
  }

  // --- hidden states (representation-level losses: RMU) ---

  get llmLayers(): number { return this.language.layers.length; }

  hiddenStates(batch: ModelBatch, layer: number): Tensor {
    assertLayer(layer, this.llmLayers, `the LLaVA model ${this.info.name}`);
    return cat(piecesOf(batch).map((p) => {
      const residual = this.#memoryGuard(() => this.residualAfter(p.inputs, layer));
      return residual.view(-1, residual.size(-1)).indexSelect(0, p.answerIndex).float();
    }));
  }

  /** The log-probabilities answerLogProbs sums: `targets` (and so each piece's rows) are in row order. */
  answerTokenLogProbs(batch: ModelBatch): { values: Tensor; tokens: Tensor } {
    const parts = piecesOf(batch).map((p) => ({
      values: this.logits(this.#answerHidden(p)).float().logSoftmax(-1).gather(1, p.targets.unsqueeze(1)).squeeze(1),
      tokens: p.owner.sum(1),
    }));
    return { values: cat(parts.map((p) => p.values)), tokens: cat(parts.map((p) => p.tokens)) };
  }

  async predict(questions: readonly ScoredQuestion[], mode: ScoringMode, batchSize = 8): Promise<Prediction[]> {
    await this.#prepareImages(questions);
    const wasTraining = this.training;
    this.eval();
    try {
      return mode === 'likelihood' ? this.#byLikelihood(questions, batchSize) : this.#byLetter(questions, batchSize);
    } finally {
      this.train(wasTraining);
    }
  }

  /** The option whose text, as the answer, has the highest summed log-probability. */
  #byLikelihood(questions: readonly ScoredQuestion[], batchSize: number): Prediction[] {
    const rows = questions.flatMap((q) => q.options.map((o) => this.#row(q.question, o, q.image)));
    const scores: number[] = [];
    for (let s = 0; s < rows.length; s += batchSize) {
      const piece = encodeRows(rows.slice(s, s + batchSize), this.layout);
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
  #nextLogits(rows: readonly TokenRow[]): Tensor {
    const piece = encodeRows(rows, this.layout);
    try {
      const hidden = this.hidden(piece.inputs);
      const last = tensor(piece.promptEnd, [piece.promptEnd.length], 'int64', this.runtime.device);
      return this.logits(hidden.view(-1, hidden.size(-1)).indexSelect(0, last)).float();
    } finally {
      piece.dispose();
    }
  }

  #letterRows(questions: readonly ScoredQuestion[]): TokenRow[] {
    return questions.map((q) => this.#row(letterQuestion(q), '', q.image));
  }

  /** MLLMU-Bench's rule: the greedy answer's first character (after whitespace), right only if it is an offered letter. */
  #byLetter(questions: readonly ScoredQuestion[], batchSize: number): Prediction[] {
    const out: Prediction[] = [];
    // the first token of each letter as an answer, as training on the answer "A" would score it
    const letterIds = LETTERS.map((l) => this.#row('', l, undefined).answer[0]!);
    for (let s = 0; s < questions.length; s += batchSize) {
      const group = questions.slice(s, s + batchSize);
      const rows = this.#letterRows(group);
      let letterScores: number[] = [];
      const greedy = (pending: readonly number[], generated: readonly (readonly number[])[]) => noGrad(() => scope(() => {
        const logits = this.#continuedLogits(rows, pending, generated);
        if (letterScores.length === 0) {
          const ids = tensor(letterIds, [letterIds.length], 'int64', this.runtime.device);
          letterScores = Array.from(logits.logSoftmax(-1).indexSelect(1, ids).toArray());
        }
        return logits.argmax(1).toArray();
      }));
      const firsts = firstVisibleCharacters(group.length, greedy, (ids) => this.tokenizer.decode(ids), this.tokenizer.eosId);
      group.forEach((q, k) => {
        const offered = LETTERS.slice(0, q.options.length) as readonly string[];
        const scores = letterScores.slice(k * LETTERS.length, k * LETTERS.length + offered.length);
        out.push({ choice: offered.includes(firsts[k]!) ? (firsts[k] as Letter) : null, scores });
      });
    }
    return out;
  }

  async nextTokens(question: ScoredQuestion, count: number): Promise<NextToken[]> {
    await this.#prepareImages([question]);
    const wasTraining = this.training;
    this.eval();
    try {
      const row = noGrad(() => scope(() => this.#nextLogits(this.#letterRows([question])).logSoftmax(-1).toFloat32Array()));
      return topTokens(row, count, (id) => this.tokenizer.decode([id]));
    } finally {
      this.train(wasTraining);
    }
  }

  /** Greedy answers, in batches of `batchSize` rows; each step is one forward pass over the rows still going. */
  async generate(prompts: readonly Example[], maxTokens: number, batchSize = 8): Promise<string[]> {
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError(`generate: maxTokens must be a positive integer, got ${maxTokens}`);
    await this.#prepareImages(prompts);
    const eos = this.tokenizer.eosId;
    const wasTraining = this.training;
    this.eval();
    try {
      const out: string[] = [];
      for (let s = 0; s < prompts.length; s += batchSize) {
        const rows = prompts.slice(s, s + batchSize).map((p) => this.#row(p.prompt, '', p.image));
        const next = (pending: readonly number[], generated: readonly (readonly number[])[]) => noGrad(() => scope(() => this.#continuedLogits(rows, pending, generated).argmax(1).toArray()));
        out.push(...greedyTokens(rows.length, next, eos, maxTokens).map((ids) => this.tokenizer.decode(withoutStop(ids, eos)).trim()));
      }
      return out;
    } finally {
      this.train(wasTraining);
    }
  }

  /** Next-token logits [pending, V] of the listed rows, each continued by the tokens generated for it so far. */
  #continuedLogits(rows: readonly TokenRow[], pending: readonly number[], generated: readonly (readonly number[])[]): Tensor {
    return this.#nextLogits(pending.map((k) => ({ ...rows[k]!, generated: generated[k]! })));
  }

  // --- parts, LoRA, trainable parameters ---

  setTraining(on: boolean): void { this.train(on); }

  part(name: Part): { module: Module; prefix: string } {
    if (name === 'vision') return { module: this.vision, prefix: 'vision_tower.vision_model.' };
    if (name === 'projector') return { module: this.projector, prefix: 'multi_modal_projector.' };
    return { module: this.language, prefix: 'language_model.' };
  }

  /** Linear layers of the given parts that can take an adapter, by full name; the LM part includes lm_head. */
  loraLayers(parts: readonly Part[] = PARTS): [string, LoraLinear][] {
    return parts.flatMap((p) => {
      const { module, prefix } = this.part(p);
      const own = module.namedModules(prefix).filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
      return p === 'llm' ? [...own, ['lm_head', this.head] as [string, LoraLinear]] : own;
    });
  }

  attachLora(spec: LoraSpec): number {
    if (this.checkpointer && spec.dropout > 0) {
      throw new PulseError(`lora.dropout ${spec.dropout} with model.gradient_checkpointing: the recomputed layers would draw other dropout masks; `
        + 'set the dropout to 0 or turn checkpointing off');
    }
    return attachByName(this.loraLayers(spec.parts), spec);
  }

  mergeLora(): StateDelta {
    const delta = takeAdapters(this.loraLayers(), true);
    for (const e of delta.entries) if (e.kind === 'lora') this.#dirty.add(`${e.layer}.weight`);
    return delta;
  }

  detachLora(): StateDelta { return takeAdapters(this.loraLayers(), false); }
  loraFactors(): Map<string, LoraFactors> { return liveFactors(this.loraLayers()); }

  trainableParameters(target: readonly Part[]): Tensor[] {
    this.#trainedInFull = new Set();
    const chosen = chooseTrainable(this, target, (p) => this.part(p), (p) => this.loraLayers([p]), (name) => {
      this.#dirty.add(name);
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
    applyStateDelta(delta, new Map(this.loraLayers()), this.stateDict(), (name) => this.#dirty.add(name));
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
    const source = WeightSource.sharing(this.stateDict(), copied);
    const copy = new LlavaModel(source, this.config, this.tokenizer, this.preprocessor, { ...this.origin, weights: null }, this.runtime);
    copy.freeze();
    return {
      answerLogProbs: (batch) => noGrad(() => copy.answerLogProbs(batch)),
      answerLogits: (batch) => noGrad(() => copy.answerLogits(batch)),
      hiddenStates: (batch, layer) => noGrad(() => copy.hiddenStates(batch, layer)),
      dispose: () => { for (const [name, t] of copy.stateDict()) if (copied.has(name)) t.dispose(); },
    };
  }

  /** What a saved delta must match: the architecture and the vocabulary. */
  get shapeTag(): string { return `llava/${this.origin.fingerprint.slice(0, 16)}`; }

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



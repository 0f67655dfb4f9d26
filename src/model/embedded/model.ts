import { Module, Tensor, cat, crossEntropy, disposeAll, keep, noGrad, scope, tensor } from '../../torch/index.ts';
import { loadSafetensors } from '../../torch/safetensors.ts';
import { squareRgb, type ImageInput } from '../../data/images.ts';
import type { Example, ScoredQuestion } from '../../data/records.ts';
import { LETTERS, multipleChoiceText, type Letter } from '../../text/multiple-choice.ts';
import { fileSha256, shortJsonHash } from '../../hash.ts';
import { PulseError } from '../../errors.ts';
import { applyStateDelta, readDelta, writeDelta } from '../delta.ts';
import { LoraLinear, adaptersOffReference, attachByName, liveFactors, takeAdapters, type LoraFactors } from '../lora.ts';
import { chooseTrainable, copiesDelta, freezeAll } from '../trainable.ts';
import {
  PARTS, assertLayer, topTokens, type LoraSpec, type NextToken, type ModelBatch, type ModelInfo, type Part, type Prediction, type PulseModel, type ReferenceModel, type ScoringMode, type StateDelta,
} from '../model.ts';
import type { ModelConfig } from './config.ts';
import { Transformer } from './transformer.ts';
import { VisualCache } from './visual-cache.ts';
import { VisionEncoder, Projector } from './vision.ts';
import { encodeBatch, encodePackedOptions, IGNORE, type EncodedBatch, type PackedOptionsBatch, type PixelExample } from './batch.ts';
import { EOS, PAD, type Tokenizer } from './tokenizer.ts';
import { greedyTokens, withoutStop } from '../greedy.ts';

/** One forward pass of the embedded model: examples of one modality (its batches never mix). */
class Piece implements ModelBatch {
  constructor(readonly encoded: EncodedBatch) {}
  get size(): number { return this.encoded.size; }
  get answerTokens(): number { return this.encoded.answerTokens; }
  get pieces(): readonly Piece[] { return [this]; }
  dispose(): void { disposeAll([this.encoded.images, this.encoded.ids, this.encoded.targets, this.encoded.answerIndex]); }
}

/** Examples with images first, then text-only ones: one piece each. */
class SplitBatch implements ModelBatch {
  constructor(readonly pieces: readonly Piece[]) {}
  get size(): number { return this.pieces.reduce((n, p) => n + p.size, 0); }
  get answerTokens(): number { return this.pieces.reduce((n, p) => n + p.answerTokens, 0); }
  dispose(): void { for (const p of this.pieces) p.dispose(); }
}

function piecesOf(batch: ModelBatch): Piece[] {
  return batch.pieces.map((p) => {
    if (!(p instanceof Piece)) throw new TypeError('this batch was not encoded by the embedded model');
    return p;
  });
}

/** Where the weights came from: what reset() reads back. */
export interface WeightsSource { path: string; sha256: string; defaultScoring: ScoringMode; world: { seed: number; hash: string } | null }

/**
 * The embedded multimodal model: vision encoder -> projector -> decoder LM (LLaVA's shape), a
 * 1.1 M-parameter stand-in for a real LMM that trains on a laptop CPU.
 */
export class EmbeddedModel extends Module implements PulseModel {
  readonly vision: VisionEncoder;
  readonly projector: Projector;
  readonly lm: Transformer;
  readonly parts = PARTS;
  readonly info: ModelInfo;
  /** images at the model's input size, by the example's image object */
  readonly #pixels = new WeakMap<ImageInput, Uint8Array>();
  /** parameters changed since loading: what reset() puts back */
  readonly #dirty = new Set<string>();
  /** whether the last trainableParameters() chose adapters only (the base weights stay as they are) */
  #adaptersOnly = false;
  /** vision features reused across scoring points while the vision weights stay as they are */
  readonly #visual = new VisualCache();

  constructor(readonly config: ModelConfig, readonly tokenizer: Tokenizer, readonly source: WeightsSource | null = null) {
    super();
    this.vision = this.module('vision', new VisionEncoder(config));
    this.projector = this.module('projector', new Projector(this.vision.outDim, config.projectorHidden, config.lm.dModel));
    this.lm = this.module('llm', new Transformer({ ...config.lm, vocabSize: tokenizer.size }));
    const path = source?.path ?? '(not saved)';
    this.info = {
      kind: 'embedded', name: path.split('/').pop()!, path, sha256: source?.sha256 ?? '', parameters: this.parameterCount(),
      defaultScoring: source?.defaultScoring ?? 'likelihood', world: source?.world ?? null,
    };
  }

  get visualTokens(): number { return this.config.vision.grid ** 2; }
  /** The longest text (prompt + answer) that fits next to the visual tokens. */
  get maxTextLength(): number { return this.config.lm.maxSeq - this.visualTokens; }
  /** What a saved delta must match: the vocabulary and the shape. */
  get shapeTag(): string { return `embedded/${this.tokenizer.hash()}/${shortJsonHash(this.config)}`; }

  // --- images and batches ---

  async #prepareImages(items: readonly { image?: ImageInput | undefined }[]): Promise<void> {
    for (const { image } of items) {
      if (image && !this.#pixels.has(image)) this.#pixels.set(image, await squareRgb(image, this.config.imageSize));
    }
  }

  #withPixels<T extends { image?: ImageInput | undefined }>(item: T): Omit<T, 'image'> & { image: Uint8Array | undefined } {
    return { ...item, image: item.image ? this.#pixels.get(item.image)! : undefined };
  }

  async encode(examples: readonly Example[]): Promise<ModelBatch> {
    if (examples.length === 0) throw new RangeError('empty batch');
    await this.#prepareImages(examples);
    const prepared = examples.map((e) => this.#withPixels(e));
    const groups = byModality(prepared).filter((g) => g.length > 0);
    const pieces = groups.map((g) => new Piece(keepBatch(this.encodePixels(g.map((i) => prepared[i]!)))));
    return pieces.length === 1 ? pieces[0]! : new SplitBatch(pieces);
  }

  /** Encodes examples of one modality whose images are already at the input size. */
  encodePixels(examples: readonly PixelExample[]): EncodedBatch {
    return encodeBatch(examples, this.tokenizer, this.config.imageSize, this.maxTextLength);
  }

  /** Next-token logits over the text positions: [B, L, V]. Visual tokens come first (LLaVA). `images` lets scoring reuse vision features. */
  textLogits(batch: EncodedBatch, images?: readonly Uint8Array[]): Tensor {
    const text = this.lm.embed(batch.ids);
    if (!batch.images) return this.lm.forwardEmbeddings(text);
    const visual = this.projector.forward(this.#visionFeatures(batch.images, images));
    const logits = this.lm.forwardEmbeddings(cat([visual, text], 1));
    return logits.narrow(1, this.visualTokens, batch.ids.size(1));
  }

  answerLogProbs(batch: ModelBatch): { sum: Tensor; tokens: Tensor } {
    const parts = piecesOf(batch).map((p) => {
      const logits = this.textLogits(p.encoded);
      const vocab = logits.size(2);
      const nll = crossEntropy(logits.reshape(-1, vocab), p.encoded.targets.reshape(-1), IGNORE, 'none').reshape(p.size, -1);
      return { sum: nll.sum(1).neg(), tokens: p.encoded.targets.ne(IGNORE).sum(1).float() };
    });
    return { sum: cat(parts.map((p) => p.sum)), tokens: cat(parts.map((p) => p.tokens)) };
  }

  answerTokenLogProbs(batch: ModelBatch): { values: Tensor; tokens: Tensor } {
    const parts = piecesOf(batch).map((p) => {
      const logits = this.textLogits(p.encoded);
      const nll = crossEntropy(logits.reshape(-1, logits.size(2)), p.encoded.targets.reshape(-1), IGNORE, 'none');
      // answerIndex holds the answer positions in row-major order: each row's tokens, rows in order
      return { values: nll.indexSelect(0, p.encoded.answerIndex).neg(), tokens: p.encoded.targets.ne(IGNORE).sum(1).float() };
    });
    return { values: cat(parts.map((p) => p.values)), tokens: cat(parts.map((p) => p.tokens)) };
  }

  answerLogits(batch: ModelBatch): Tensor {
    return cat(piecesOf(batch).map((p) => {
      const logits = this.textLogits(p.encoded);
      return logits.reshape(-1, logits.size(2)).indexSelect(0, p.encoded.answerIndex);
    }));
  }

  // --- hidden states (representation-level losses: RMU) ---

  get llmLayers(): number { return this.config.lm.layers; }

  hiddenStates(batch: ModelBatch, layer: number): Tensor {
    assertLayer(layer, this.llmLayers, `the embedded model ${this.info.name}`);
    return cat(piecesOf(batch).map((p) => {
      const hidden = this.#textResidual(p.encoded, layer);
      return hidden.reshape(-1, hidden.size(2)).indexSelect(0, p.encoded.answerIndex);
    }));
  }

  /** The residual stream after block `layer` over the text positions, [B, L, D], as textLogits lays them out. */
  #textResidual(batch: EncodedBatch, layer: number): Tensor {
    const text = this.lm.embed(batch.ids);
    if (!batch.images) return this.lm.residualAfter(text, layer);
    const visual = this.projector.forward(this.#visionFeatures(batch.images, undefined));
    return this.lm.residualAfter(cat([visual, text], 1), layer).narrow(1, this.visualTokens, batch.ids.size(1));
  }

  // --- multiple-choice scoring ---

  async predict(questions: readonly ScoredQuestion[], mode: ScoringMode, batchSize = 256): Promise<Prediction[]> {
    await this.#prepareImages(questions);
    const prepared = questions.map((q) => this.#withPixels(q));
    const wasTraining = this.training;
    this.eval();
    try {
      return noGrad(() => (mode === 'likelihood' ? this.#predictByLikelihood(prepared, batchSize) : this.#predictByLetter(prepared, batchSize)));
    } finally {
      this.train(wasTraining);
    }
  }

  /**
   * Summed log-probability of every option of every row of a packed batch (see
   * encodePackedOptions), in row-then-option order. Same numbers as scoring each option as its
   * own sequence.
   */
  packedOptionLogProbs(batch: PackedOptionsBatch, images?: readonly Uint8Array[]): Float64Array {
    return scope(() => {
      const text = this.lm.embed(batch.ids);
      const layout = { positions: batch.positions, mask: batch.mask };
      let logits: Tensor;
      if (batch.images) {
        const visual = this.projector.forward(this.#visionFeatures(batch.images, images));
        logits = this.lm.forwardEmbeddings(cat([visual, text], 1), layout).narrow(1, this.visualTokens, batch.ids.size(1));
      } else {
        logits = this.lm.forwardEmbeddings(text, layout);
      }
      const vocab = logits.size(2);
      const scored = logits.reshape(-1, vocab).indexSelect(0, batch.source).logSoftmax(-1).gather(1, batch.target).toArray();
      const sums = new Float64Array(batch.optionCounts.reduce((a, b) => a + b, 0));
      batch.owner.forEach((o, k) => { sums[o]! += scored[k]!; });
      return sums;
    });
  }

  /**
   * The vision encoder's output for a batch of images; from the cache when scoring names the
   * batch's images and no vision weight trains (a trained one changes with every step).
   */
  #visionFeatures(pixels: Tensor, images: readonly Uint8Array[] | undefined): Tensor {
    const training = this.vision.parameters().some((p) => p.requiresGrad);
    if (training) this.#visual.clear();
    if (!images || training) return this.vision.forward(pixels);
    return this.#visual.get(this.#visual.key(images), () => this.vision.forward(pixels));
  }

  #forEachBatch(items: readonly { image?: Uint8Array | undefined }[], batchSize: number, run: (indices: number[]) => void): void {
    for (const group of byModality(items)) for (let s = 0; s < group.length; s += batchSize) run(group.slice(s, s + batchSize));
  }

  #predictByLikelihood(questions: readonly PixelQuestion[], batchSize: number): Prediction[] {
    const out: Prediction[] = new Array(questions.length);
    // a packed row holds about four sequences' worth of tokens
    this.#forEachBatch(questions, Math.max(1, Math.floor(batchSize / 4)), (indices) => {
      const items = indices.map((i) => ({ image: questions[i]!.image, prompt: questions[i]!.question, options: questions[i]!.options }));
      const batch = encodePackedOptions(items, this.tokenizer, this.config.imageSize, this.visualTokens, this.config.lm.maxSeq);
      try {
        const logProbs = this.packedOptionLogProbs(batch, imagesOf(questions, indices));
        let at = 0;
        indices.forEach((i) => {
          const scores = Array.from(logProbs.subarray(at, (at += questions[i]!.options.length)));
          out[i] = { choice: LETTERS[scores.indexOf(Math.max(...scores))]!, scores };
        });
      } finally {
        disposeAll([batch.images, batch.ids, batch.positions, batch.mask, batch.source, batch.target]);
      }
    });
    return out;
  }

  #predictByLetter(questions: readonly PixelQuestion[], batchSize: number): Prediction[] {
    const out: Prediction[] = new Array(questions.length);
    const letterIds = tensor(LETTERS.map((l) => this.tokenizer.id(l)), [LETTERS.length], 'int64');
    try {
      this.#forEachBatch(questions, batchSize, (indices) => scope(() => {
        const batch = this.encodePixels(indices.map((i) => ({ image: questions[i]!.image, prompt: multipleChoiceText(questions[i]!), answer: '' })));
        const logits = this.textLogits(batch, imagesOf(questions, indices));
        const length = batch.ids.size(1);
        const rows = batch.promptEnd.map((end, b) => b * length + end);
        const nextLogits = logits.reshape(-1, logits.size(2)).indexSelect(0, tensor(rows, [rows.length], 'int64'));
        const next = nextLogits.argmax(1).toArray();
        const letterScores = nextLogits.logSoftmax(-1).indexSelect(1, letterIds).toArray();
        indices.forEach((i, k) => {
          const first = (this.tokenizer.words[next[k]!] ?? '').charAt(0);
          const offered = LETTERS.slice(0, questions[i]!.options.length) as readonly string[];
          const scores = Array.from(letterScores.slice(k * LETTERS.length, k * LETTERS.length + offered.length));
          out[i] = { choice: offered.includes(first) ? (first as Letter) : null, scores };
        });
      }));
    } finally {
      letterIds.dispose();
    }
    return out;
  }

  async nextTokens(question: ScoredQuestion, count: number): Promise<NextToken[]> {
    await this.#prepareImages([question]);
    const q = this.#withPixels(question);
    const wasTraining = this.training;
    this.eval();
    try {
      return noGrad(() => scope(() => {
        const batch = this.encodePixels([{ image: q.image, prompt: multipleChoiceText(q), answer: '' }]);
        const logits = this.textLogits(batch);
        const row = logits.reshape(-1, logits.size(2)).narrow(0, batch.promptEnd[0]!, 1).logSoftmax(-1).toFloat32Array();
        return topTokens(row, count, (id) => this.tokenizer.words[id] ?? '');
      }));
    } finally {
      this.train(wasTraining);
    }
  }

  // --- greedy generation ---

  async generate(prompts: readonly Example[], maxTokens: number, batchSize = 256): Promise<string[]> {
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError(`generate: maxTokens must be a positive integer, got ${maxTokens}`);
    await this.#prepareImages(prompts);
    const prepared = prompts.map((p) => this.#withPixels(p));
    const out: string[] = new Array(prompts.length);
    const wasTraining = this.training;
    this.eval();
    try {
      noGrad(() => this.#forEachBatch(prepared, batchSize, (indices) => {
        const answers = this.#generateBatch(indices.map((i) => prepared[i]!), maxTokens);
        indices.forEach((i, k) => { out[i] = answers[k]!; });
      }));
    } finally {
      this.train(wasTraining);
    }
    return out;
  }

  /**
   * Greedy answers to prompts of one modality: the visual tokens are computed once, then each
   * step is one forward pass over the rows still going (right-padded: under the causal mask the
   * padding after a row's last token does not change its next-token logits).
   */
  #generateBatch(prompts: readonly PixelExample[], maxTokens: number): string[] {
    const encoded = this.encodePixels(prompts.map((p) => ({ ...p, answer: '' })));
    const [flat, width] = [encoded.ids.toArray(), encoded.ids.size(1)];
    const rows = encoded.promptEnd.map((end, b) => flat.slice(b * width, b * width + end + 1));
    const visualLength = encoded.images ? this.visualTokens : 0;
    const room = this.config.lm.maxSeq - visualLength - Math.max(...rows.map((r) => r.length));
    if (room < 1) throw new PulseError(`a prompt fills all ${this.config.lm.maxSeq} positions of the model, none is left for the answer`);
    let visual: Tensor | null = null;
    try {
      if (encoded.images) visual = keep(scope(() => this.projector.forward(this.#visionFeatures(encoded.images!, prompts.map((p) => p.image!)))));
      const next = (pending: readonly number[], generated: readonly (readonly number[])[]) => scope(() => {
        const sequences = pending.map((r) => [...rows[r]!, ...generated[r]!]);
        const length = Math.max(...sequences.map((q) => q.length));
        const ids = new BigInt64Array(pending.length * length).fill(BigInt(PAD));
        sequences.forEach((q, b) => q.forEach((id, t) => { ids[b * length + t] = BigInt(id); }));
        let x = this.lm.embed(tensor(ids, [pending.length, length]));
        if (visual) x = cat([visual.indexSelect(0, tensor([...pending], [pending.length], 'int64')), x], 1);
        const logits = this.lm.forwardEmbeddings(x);
        const last = sequences.map((q, b) => b * (visualLength + length) + visualLength + q.length - 1);
        return logits.reshape(-1, logits.size(2)).indexSelect(0, tensor(last, [last.length], 'int64')).argmax(1).toArray();
      });
      // a sequence stops where the model's positions run out
      return greedyTokens(rows.length, next, EOS, Math.min(maxTokens, room)).map((ids) => this.tokenizer.decode(withoutStop(ids, EOS)));
    } finally {
      visual?.dispose();
      disposeAll([encoded.images, encoded.ids, encoded.targets, encoded.answerIndex]);
    }
  }

  // --- parts, LoRA, trainable parameters ---

  backward(loss: Tensor): void { loss.backward(); }

  setTraining(on: boolean): void { this.train(on); }

  part(name: Part): Module {
    return name === 'vision' ? this.vision : name === 'projector' ? this.projector : this.lm;
  }

  /** Every linear layer of the given parts that can carry an adapter, by full name ("llm.blocks.0.attn.qkv"). */
  loraLayers(parts: readonly Part[] = PARTS): [string, LoraLinear][] {
    return parts.flatMap((p) => this.part(p).namedModules(`${p}.`).filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear));
  }

  attachLora(spec: LoraSpec): number {
    this.#visual.clear();
    return attachByName(this.loraLayers(spec.parts), spec);
  }
  get hasLora(): boolean { return this.loraLayers().some(([, l]) => l.adapter !== null); }

  mergeLora(): StateDelta {
    this.#visual.clear();
    const delta = takeAdapters(this.loraLayers(), true);
    for (const e of delta.entries) if (e.kind === 'lora') this.#dirty.add(`${e.layer}.weight`);
    return delta;
  }

  detachLora(): StateDelta {
    this.#visual.clear();
    return takeAdapters(this.loraLayers(), false);
  }

  loraFactors(): Map<string, LoraFactors> { return liveFactors(this.loraLayers()); }

  /** Adapter tensors by name ("llm.blocks.0.attn.qkv.lora_a"): the live ones, for inspection. */
  loraState(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, l] of this.loraLayers()) if (l.adapter) { out.set(`${name}.lora_a`, l.adapter.a); out.set(`${name}.lora_b`, l.adapter.b); }
    return out;
  }

  trainableParameters(target: readonly Part[]): Tensor[] {
    this.#visual.clear();
    const chosen = chooseTrainable(this, target, (p) => ({ module: this.part(p), prefix: `${p}.` }), (p) => this.loraLayers([p]), (name) => this.#dirty.add(name));
    this.#adaptersOnly = chosen.adaptersOnly;
    return chosen.params;
  }

  freeze(): void { freezeAll(this, this.loraLayers()); }

  parameterDelta(target: readonly Part[]): StateDelta {
    return copiesDelta(target.flatMap((p) => this.part(p).namedParameters(`${p}.`)));
  }

  applyDelta(delta: StateDelta): void {
    this.#visual.clear();
    applyStateDelta(delta, new Map(this.loraLayers()), this.stateDict(), (name) => this.#dirty.add(name));
  }

  async reset(): Promise<void> {
    this.#visual.clear();
    if (this.#dirty.size === 0) return;
    if (!this.source) throw new Error('reset() needs a model loaded from a file');
    const { path, sha256 } = this.source;
    if (fileSha256(path) !== sha256) throw new PulseError(`${path} changed on disk since the model was loaded from it`);
    const { tensors } = await loadSafetensors(path, { float32: true, only: this.#dirty });
    try {
      this.loadStateDict(tensors, { strict: false, source: path });
    } finally {
      disposeAll(tensors);
    }
    this.#dirty.clear();
  }

  /**
   * While only adapters train, the reference is this model with its adapters switched off (and
   * in evaluation mode, as a frozen copy would be): the weights before the request, no copy. A
   * full update changes the weights themselves, so it gets a frozen copy.
   */
  reference(): ReferenceModel {
    const layers = this.loraLayers().filter(([, l]) => l.adapter !== null).map(([, l]) => l);
    if (this.#adaptersOnly && layers.length > 0) return adaptersOffReference(this, layers);
    const copy = this.#frozenCopy();
    return {
      answerLogProbs: (batch) => noGrad(() => copy.answerLogProbs(batch)),
      answerLogits: (batch) => noGrad(() => copy.answerLogits(batch)),
      hiddenStates: (batch, layer) => noGrad(() => copy.hiddenStates(batch, layer)),
      dispose: () => copy.dispose(),
    };
  }

  /** A frozen deep copy, adapters included. */
  #frozenCopy(): EmbeddedModel {
    const copy = new EmbeddedModel(this.config, this.tokenizer);
    copy.loadStateDict(this.stateDict());
    const layers = new Map(copy.loraLayers());
    for (const [name, layer] of this.loraLayers()) {
      if (!layer.adapter) continue;
      const target = layers.get(name)!;
      target.attach({ rank: layer.adapter.a.size(0), alpha: layer.adapter.scale * layer.adapter.a.size(0), dropout: layer.adapter.dropout });
      noGrad(() => { target.adapter!.a.copy_(layer.adapter!.a); target.adapter!.b.copy_(layer.adapter!.b); });
    }
    copy.freeze();
    return copy.eval();
  }

  saveDelta(path: string, delta: StateDelta, metadata: Record<string, string> = {}): Promise<void> {
    return writeDelta(path, delta, this.shapeTag, metadata);
  }

  loadDelta(path: string): Promise<StateDelta> {
    return readDelta(path, this.shapeTag);
  }

  override dispose(): void {
    this.#visual.clear();
    for (const [, l] of this.loraLayers()) l.detach();
    super.dispose();
  }
}

type PixelQuestion = Omit<ScoredQuestion, 'image'> & { image: Uint8Array | undefined };

/** Indices of the items with an image, then of those without: the model's forward passes never mix them. */
function byModality(items: readonly { image?: unknown }[]): [number[], number[]] {
  const indices = items.map((_, i) => i);
  return [indices.filter((i) => items[i]!.image !== undefined), indices.filter((i) => items[i]!.image === undefined)];
}

/** The images of a scoring batch of multimodal questions, which name its vision features in the cache. */
function imagesOf(questions: readonly PixelQuestion[], indices: readonly number[]): Uint8Array[] | undefined {
  const images = indices.map((i) => questions[i]!.image);
  return images.every((image) => image !== undefined) ? images as Uint8Array[] : undefined;
}

/** Batch tensors outlive the scope they were made in: the batch owns them until dispose(). */
function keepBatch(batch: EncodedBatch): EncodedBatch {
  for (const t of [batch.images, batch.ids, batch.targets, batch.answerIndex]) if (t) keep(t);
  return batch;
}

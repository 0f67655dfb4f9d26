import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Embedding, Linear, Module, crossEntropy, disposeAll, keep, manualSeed, noGrad, scope, tensor, type Tensor } from '../../src/torch/index.ts';
import { LoraLinear, adaptersOffReference, liveFactors, takeAdapters, type LoraFactors } from '../../src/model/lora.ts';
import { readDelta, writeDelta } from '../../src/model/delta.ts';
import { PARTS, assertLayer, topTokens, type NextToken, type LoraSpec, type ModelBatch, type ModelInfo, type Part, type Prediction, type PulseModel, type ReferenceModel, type ScoringMode, type StateDelta } from '../../src/model/model.ts';
import type { ModelKind, ModelSpec } from '../../src/model/registry.ts';
import { greedyTokens, withoutStop } from '../../src/model/greedy.ts';
import { squareRgb, type ImageInput } from '../../src/data/images.ts';
import type { Example, ScoredQuestion } from '../../src/data/records.ts';
import { LETTERS, multipleChoiceText } from '../../src/text/multiple-choice.ts';

/**
 * A model that is not the embedded one, for tests of the model seam: a conditional bag-of-words
 * bigram model. Each answer token is predicted from the previous one plus the mean embedding of
 * the prompt plus the projected image (a 4x4 thumbnail), in one forward pass for both
 * modalities. Hashed word tokens, no file: reset() restores a copy of the initial weights.
 */
const VOCAB = 256;
const WIDTH = 24;
const SIDE = 4;
const IGNORE = -100;
const BOS = 1;
const EOS = 2;

/** Every word tokenized so far, by its hashed id: what generate() decodes with (an id no word had reads `#id`). */
const WORDS = new Map<number, string>();

export function tokenId(word: string): number {
  const h = createHash('sha1').update(word).digest().readUInt32LE(0);
  const id = 3 + (h % (VOCAB - 3));
  WORDS.set(id, word);
  return id;
}
const tokens = (text: string): number[] => (text.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? []).map(tokenId);

interface BatchTensors { prompt: Tensor; promptWeight: Tensor; image: Tensor; hasImage: Tensor; previous: Tensor; targets: Tensor; answerIndex: Tensor }

class StandInBatch implements ModelBatch {
  constructor(readonly size: number, readonly answerTokens: number, readonly t: BatchTensors) {}
  get pieces(): readonly ModelBatch[] { return [this]; }
  dispose(): void { disposeAll(this.t); }
}

class Vision extends Module {
  readonly proj = this.module('proj', new Linear(3 * SIDE * SIDE, 16));
}
class Projector extends Module {
  readonly fc = this.module('fc', new LoraLinear(16, WIDTH));
}
class Llm extends Module {
  readonly tokens = this.module('tokens', new Embedding(VOCAB, WIDTH, { std: 0.1 }));
  readonly mix = this.module('mix', new LoraLinear(WIDTH, WIDTH));
  readonly head = this.module('head', new LoraLinear(WIDTH, VOCAB));
}

export class StandInModel extends Module implements PulseModel {
  readonly vision: Vision;
  readonly projector: Projector;
  readonly llm: Llm;
  readonly parts = PARTS;
  readonly info: ModelInfo;
  readonly #initial: Map<string, Tensor>;
  readonly #thumbnails = new WeakMap<ImageInput, Float32Array>();
  #adaptersOnly = false;

  constructor(readonly seed: number) {
    super();
    this.vision = this.module('vision', new Vision());
    this.projector = this.module('projector', new Projector());
    this.llm = this.module('llm', new Llm());
    this.#initial = noGrad(() => new Map([...this.stateDict()].map(([k, v]) => [k, keep(v.clone())])));
    const sha256 = createHash('sha256').update(`stand-in ${seed}`).digest('hex');
    this.info = { kind: 'stand_in', name: `stand-in-${seed}`, path: '(memory)', sha256, parameters: this.parameterCount(), defaultScoring: 'likelihood', world: null };
  }

  async #prepareThumbnails(examples: readonly { image?: ImageInput | undefined }[]): Promise<void> {
    for (const { image } of examples) {
      if (image && !this.#thumbnails.has(image)) this.#thumbnails.set(image, Float32Array.from(await squareRgb(image, SIDE), (v) => v / 255));
    }
  }

  async encode(examples: readonly Example[]): Promise<ModelBatch> {
    await this.#prepareThumbnails(examples);
    return this.#encodeRows(examples.map((e) => ({ prompt: tokens(e.prompt), answer: tokens(e.answer), image: e.image ? this.#thumbnails.get(e.image)! : null })));
  }

  #encodeRows(rows: readonly { prompt: number[]; answer: number[]; image: Float32Array | null }[]): ModelBatch {
    const P = Math.max(1, ...rows.map((r) => r.prompt.length));
    const A = Math.max(...rows.map((r) => r.answer.length + 1));
    const B = rows.length;
    const prompt = new Array<number>(B * P).fill(0);
    const weight = new Array<number>(B * P).fill(0);
    const image = new Float32Array(B * 3 * SIDE * SIDE);
    const previous = new Array<number>(B * A).fill(0);
    const targets = new Array<number>(B * A).fill(IGNORE);
    const answerIndex: number[] = [];
    rows.forEach((r, b) => {
      r.prompt.forEach((id, t) => { prompt[b * P + t] = id; weight[b * P + t] = 1 / r.prompt.length; });
      if (r.image) image.set(r.image, b * 3 * SIDE * SIDE);
      [...r.answer, EOS].forEach((id, t) => {
        previous[b * A + t] = t === 0 ? BOS : r.answer[t - 1]!;
        targets[b * A + t] = id;
        answerIndex.push(b * A + t);
      });
    });
    return new StandInBatch(B, answerIndex.length, {
      prompt: keep(tensor(prompt, [B, P], 'int64')), promptWeight: keep(tensor(weight, [B, P, 1])),
      image: keep(tensor(image, [B, 3 * SIDE * SIDE])), hasImage: keep(tensor(rows.map((r) => (r.image ? 1 : 0)), [B, 1])),
      previous: keep(tensor(previous, [B, A], 'int64')), targets: keep(tensor(targets, [B, A], 'int64')),
      answerIndex: keep(tensor(answerIndex, [answerIndex.length], 'int64')),
    });
  }

  /** Next-token logits at every answer position, [B, A, V]. */
  logits(batch: ModelBatch): Tensor {
    return this.llm.head.forward(this.#hidden(batch));
  }

  /** The state the head reads at every answer position, [B, A, WIDTH]: tanh(mix(previous token + prompt + image)). */
  #hidden(batch: ModelBatch): Tensor {
    const { t } = batch as StandInBatch;
    const context = this.llm.tokens.forward(t.prompt).mul(t.promptWeight).sum(1);
    const visual = this.projector.fc.forward(this.vision.proj.forward(t.image).tanh()).mul(t.hasImage);
    const hidden = this.llm.tokens.forward(t.previous).add(context.add(visual).unsqueeze(1));
    return this.llm.mix.forward(hidden).tanh();
  }

  /** No decoder layers: its one "layer" is #hidden, what the head reads (answerLogits = head(hiddenStates(batch, 0))). */
  readonly llmLayers = 1;

  hiddenStates(batch: ModelBatch, layer: number): Tensor {
    assertLayer(layer, this.llmLayers, 'the stand-in model');
    return this.#hidden(batch).reshape(-1, WIDTH).indexSelect(0, (batch as StandInBatch).t.answerIndex);
  }

  answerLogProbs(batch: ModelBatch): { sum: Tensor; tokens: Tensor } {
    const { t } = batch as StandInBatch;
    const logits = this.logits(batch);
    const nll = crossEntropy(logits.reshape(-1, VOCAB), t.targets.reshape(-1), IGNORE, 'none').reshape(batch.size, -1);
    return { sum: nll.sum(1).neg(), tokens: t.targets.ne(IGNORE).sum(1).float() };
  }

  answerLogits(batch: ModelBatch): Tensor {
    return this.logits(batch).reshape(-1, VOCAB).indexSelect(0, (batch as StandInBatch).t.answerIndex);
  }

  answerTokenLogProbs(batch: ModelBatch): { values: Tensor; tokens: Tensor } {
    const { t } = batch as StandInBatch;
    const nll = crossEntropy(this.logits(batch).reshape(-1, VOCAB), t.targets.reshape(-1), IGNORE, 'none');
    return { values: nll.indexSelect(0, t.answerIndex).neg(), tokens: t.targets.ne(IGNORE).sum(1).float() };
  }

  async predict(questions: readonly ScoredQuestion[], mode: ScoringMode): Promise<Prediction[]> {
    const out: Prediction[] = [];
    const wasTraining = this.training;
    this.eval();
    try {
      for (const q of questions) {
        const examples = mode === 'likelihood'
          ? q.options.map((o) => ({ image: q.image, prompt: q.question, answer: o }))
          : [{ image: q.image, prompt: multipleChoiceText(q), answer: '' }];
        const batch = await this.encode(examples);
        out.push(noGrad(() => scope(() => (mode === 'likelihood' ? this.#bestOption(batch) : this.#letter(batch, q.options.length)))));
        batch.dispose();
      }
    } finally {
      this.train(wasTraining);
    }
    return out;
  }

  async nextTokens(question: ScoredQuestion, count: number): Promise<NextToken[]> {
    const batch = await this.encode([{ image: question.image, prompt: multipleChoiceText(question), answer: '' }]);
    try {
      return noGrad(() => scope(() => topTokens(this.answerLogits(batch).narrow(0, 0, 1).logSoftmax(-1).toFloat32Array(), count, (id) => `#${id}`)));
    } finally {
      batch.dispose();
    }
  }

  /** Greedy answers: each step scores the rows still going with their answers so far and takes the next token's argmax. */
  async generate(prompts: readonly Example[], maxTokens: number): Promise<string[]> {
    await this.#prepareThumbnails(prompts);
    const rows = prompts.map((e) => ({ prompt: tokens(e.prompt), image: e.image ? this.#thumbnails.get(e.image)! : null }));
    const next = (pending: readonly number[], generated: readonly (readonly number[])[]) => {
      const batch = this.#encodeRows(pending.map((k) => ({ ...rows[k]!, answer: [...generated[k]!] })));
      try {
        // the answer position after a row's last generated token predicts its next one
        const at = pending.map((k, b) => b * (batch as StandInBatch).t.previous.size(1) + generated[k]!.length);
        return noGrad(() => scope(() => this.logits(batch).reshape(-1, VOCAB).indexSelect(0, tensor(at, [at.length], 'int64')).argmax(1).toArray()));
      } finally {
        batch.dispose();
      }
    };
    const wasTraining = this.training;
    this.eval();
    try {
      return greedyTokens(prompts.length, next, EOS, maxTokens).map((ids) => withoutStop(ids, EOS).map((id) => WORDS.get(id) ?? `#${id}`).join(' '));
    } finally {
      this.train(wasTraining);
    }
  }

  #bestOption(batch: ModelBatch): Prediction {
    const sums = Array.from(this.answerLogProbs(batch).sum.toArray());
    return { choice: LETTERS[sums.indexOf(Math.max(...sums))]!, scores: sums };
  }

  #letter(batch: ModelBatch, offered: number): Prediction {
    const logits = this.answerLogits(batch);
    const next = logits.argmax(1).toArray()[0]!;
    const logProbs = logits.logSoftmax(-1).toArray();
    const letters = LETTERS.slice(0, offered);
    return { choice: letters.find((l) => tokenId(l) === next) ?? null, scores: letters.map((l) => logProbs[tokenId(l)]!) };
  }

  backward(loss: Tensor): void { loss.backward(); }
  setTraining(on: boolean): void { this.train(on); }

  #part(p: Part): Module { return p === 'vision' ? this.vision : p === 'projector' ? this.projector : this.llm; }

  #layers(parts: readonly Part[] = PARTS): [string, LoraLinear][] {
    return parts.flatMap((p) => this.#part(p).namedModules(`${p}.`).filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear));
  }

  trainableParameters(target: readonly Part[]): Tensor[] {
    this.freeze();
    const out: Tensor[] = [];
    this.#adaptersOnly = true;
    for (const p of target) {
      const adapters = this.#layers([p]).flatMap(([, l]) => (l.adapter ? [l.adapter.a, l.adapter.b] : []));
      if (adapters.length === 0) this.#adaptersOnly = false;
      out.push(...(adapters.length ? adapters : this.#part(p).parameters()).map((t) => t.setRequiresGrad(true)));
    }
    return out;
  }

  freeze(): void {
    this.requiresGrad(false);
    for (const [, l] of this.#layers()) if (l.adapter) { l.adapter.a.setRequiresGrad(false); l.adapter.b.setRequiresGrad(false); }
  }

  attachLora(spec: LoraSpec): number {
    const chosen = this.#layers(spec.parts).filter(([name]) => spec.layers.length === 0 || spec.layers.includes(name.split('.').pop()!));
    for (const [, layer] of chosen) layer.attach(spec);
    return chosen.length;
  }

  mergeLora(): StateDelta { return takeAdapters(this.#layers(), true); }
  detachLora(): StateDelta { return takeAdapters(this.#layers(), false); }
  loraFactors(): Map<string, LoraFactors> { return liveFactors(this.#layers()); }

  parameterDelta(target: readonly Part[]): StateDelta {
    return noGrad(() => ({ entries: target.flatMap((p) => this.#part(p).namedParameters(`${p}.`).map(([name, t]) => ({ kind: 'set' as const, name, value: keep(t.clone()) }))) }));
  }

  applyDelta(delta: StateDelta): void {
    const layers = new Map(this.#layers());
    const params = this.stateDict();
    for (const e of delta.entries) {
      if (e.kind === 'lora') layers.get(e.layer)!.foldIn(e);
      else noGrad(() => params.get(e.name)!.copy_(e.value));
    }
  }

  async reset(): Promise<void> { this.loadStateDict(this.#initial); }

  /** With only adapters training, the same weights with adapters off; otherwise a frozen copy. */
  reference(): ReferenceModel {
    const layers = this.#layers().map(([, l]) => l).filter((l) => l.adapter);
    if (this.#adaptersOnly && layers.length > 0) return adaptersOffReference(this, layers);
    const copy = new StandInModel(this.seed);
    copy.loadStateDict(this.stateDict());
    copy.freeze();
    copy.eval();
    return { answerLogProbs: (b) => noGrad(() => copy.answerLogProbs(b)), answerLogits: (b) => noGrad(() => copy.answerLogits(b)),
      hiddenStates: (b, layer) => noGrad(() => copy.hiddenStates(b, layer)), dispose: () => copy.dispose() };
  }

  saveDelta(path: string, delta: StateDelta, metadata?: Record<string, string>): Promise<void> { return writeDelta(path, delta, 'stand-in', metadata); }
  loadDelta(path: string): Promise<StateDelta> { return readDelta(path, 'stand-in'); }

  override dispose(): void {
    for (const [, l] of this.#layers()) l.detach();
    disposeAll(this.#initial);
    super.dispose();
  }
}

/** The stand-in as a registry kind: `model: { kind: stand_in, seed: 0 }`. */
export const standInKind: ModelKind = {
  kind: 'stand_in',
  description: 'a test model that is not the embedded one',
  spec: z.object({ kind: z.literal('stand_in'), seed: z.number().int() }).strict() as z.ZodType<ModelSpec>,
  load: async (spec) => {
    manualSeed(spec.seed as number);
    return new StandInModel(spec.seed as number);
  },
};

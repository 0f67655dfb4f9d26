import { Module, Tensor, cat, crossEntropy, noGrad, scope, tensor } from '../torch/index.ts';
import type { ModelConfig } from './config.ts';
import { Transformer } from './transformer.ts';
import { VisionEncoder, Projector } from './vision.ts';
import { LoraLinear, type LoraOptions } from './lora.ts';
import { encodeBatch, encodePackedOptions, IGNORE, type EncodedBatch, type Example, type PackedOptionsBatch } from './batch.ts';
import type { Tokenizer } from './tokenizer.ts';
import { LETTERS, multipleChoiceText, type Letter, type McQuestion } from './prompt.ts';

/** The three parts of a LLaVA-shaped model; an update target is any non-empty union of them. */
export const PARTS = ['vision', 'projector', 'llm'] as const;
export type Part = (typeof PARTS)[number];
export type ScoringMode = 'letter' | 'likelihood';

export function parseTarget(text: string): Part[] {
  const parts = text.split('+').map((p) => p.trim());
  for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new RangeError(`unknown model part '${p}' in update target '${text}' (parts: ${PARTS.join(', ')})`);
  return PARTS.filter((p) => parts.includes(p));
}

export interface ScoredQuestion extends McQuestion {
  image?: Uint8Array | undefined;
}

export interface LoraAttachOptions extends LoraOptions {
  /** which parts get adapters */
  parts: Part[];
  /** names of linear layers to adapt (qkv, proj, fc, head, fc1, fc2); empty = all */
  layers: string[];
}

/**
 * The embedded multimodal model: vision encoder -> projector -> decoder LM (LLaVA's shape).
 * Everything the protocol needs goes through the methods below, so another implementation (a
 * LLaVA over the same engine) can stand in without touching protocol/ or unlearn/.
 */
export class MultimodalModel extends Module {
  readonly vision: VisionEncoder;
  readonly projector: Projector;
  readonly lm: Transformer;

  constructor(readonly config: ModelConfig, readonly tokenizer: Tokenizer) {
    super();
    this.vision = this.module('vision', new VisionEncoder(config));
    this.projector = this.module('projector', new Projector(this.vision.outDim, config.projectorHidden, config.lm.dModel));
    this.lm = this.module('llm', new Transformer({ ...config.lm, vocabSize: tokenizer.size }));
  }

  get visualTokens(): number { return this.config.vision.grid ** 2; }
  /** The longest text (prompt + answer) that fits next to the visual tokens. */
  get maxTextLength(): number { return this.config.lm.maxSeq - this.visualTokens; }

  encode(examples: readonly Example[]): EncodedBatch {
    return encodeBatch(examples, this.tokenizer, this.config.imageSize, this.maxTextLength);
  }

  /** Next-token logits over the text positions: [B, L, V]. Visual tokens come first (LLaVA). */
  textLogits(batch: EncodedBatch): Tensor {
    const text = this.lm.embed(batch.ids);
    if (!batch.images) return this.lm.forwardEmbeddings(text);
    const visual = this.projector.forward(this.vision.forward(batch.images));
    const logits = this.lm.forwardEmbeddings(cat([visual, text], 1));
    return logits.narrow(1, this.visualTokens, batch.ids.size(1));
  }

  /**
   * Summed log-probability of every option of every row of a packed batch (see
   * encodePackedOptions), in row-then-option order. Same numbers as scoring each option as its
   * own sequence.
   */
  packedOptionLogProbs(batch: PackedOptionsBatch): Float64Array {
    return scope(() => {
      const text = this.lm.embed(batch.ids);
      const layout = { positions: batch.positions, mask: batch.mask };
      let logits: Tensor;
      if (batch.images) {
        const visual = this.projector.forward(this.vision.forward(batch.images));
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
   * Per sequence: logπθ(y|x) = Σ_t log p(y_t | x, y_<t) over the answer tokens (and <eos>), and
   * the number of those tokens. Differentiable.
   */
  answerLogProbs(batch: EncodedBatch): { sum: Tensor; tokens: Tensor } {
    const logits = this.textLogits(batch);
    const vocab = logits.size(2);
    const nll = crossEntropy(logits.reshape(-1, vocab), batch.targets.reshape(-1), IGNORE, 'none').reshape(batch.size, -1);
    return { sum: nll.sum(1).neg(), tokens: batch.targets.ne(IGNORE).sum(1).float() };
  }

  /** Logits at every answer position, [N_answer_tokens, V]: the input of per-token KL terms. */
  answerLogits(batch: EncodedBatch): Tensor {
    const logits = this.textLogits(batch);
    return logits.reshape(-1, logits.size(2)).indexSelect(0, batch.answerIndex);
  }

  /**
   * Multiple-choice predictions. likelihood: the option whose text has the highest summed
   * log-probability as the answer. letter: the greedy next token after ASSISTANT:, right only if
   * its first character is the correct letter (MLLMU-Bench's rule); otherwise null.
   */
  predict(questions: readonly ScoredQuestion[], mode: ScoringMode, batchSize = 256): (Letter | null)[] {
    const wasTraining = this.training;
    this.eval();
    try {
      return noGrad(() => (mode === 'likelihood' ? this.#predictByLikelihood(questions, batchSize) : this.#predictByLetter(questions, batchSize)));
    } finally {
      this.train(wasTraining);
    }
  }

  /** Accuracy in [0, 1] and the per-question outcome. */
  score(questions: readonly ScoredQuestion[], mode: ScoringMode, batchSize = 256): { accuracy: number; correct: boolean[] } {
    const predictions = this.predict(questions, mode, batchSize);
    const correct = predictions.map((p, i) => p === questions[i]!.answer);
    return { accuracy: questions.length ? correct.filter(Boolean).length / questions.length : 0, correct };
  }

  #forEachBatch<T extends { image?: Uint8Array | undefined }>(items: readonly T[], batchSize: number, run: (indices: number[]) => void): void {
    const groups = [items.map((_, i) => i).filter((i) => items[i]!.image !== undefined), items.map((_, i) => i).filter((i) => items[i]!.image === undefined)];
    for (const group of groups) for (let s = 0; s < group.length; s += batchSize) run(group.slice(s, s + batchSize));
  }

  #predictByLikelihood(questions: readonly ScoredQuestion[], batchSize: number): (Letter | null)[] {
    const out: (Letter | null)[] = new Array(questions.length).fill(null);
    // a packed row holds about four sequences' worth of tokens
    this.#forEachBatch(questions, Math.max(1, Math.floor(batchSize / 4)), (indices) => {
      const batch = encodePackedOptions(indices.map((i) => ({ image: questions[i]!.image, prompt: questions[i]!.question, options: questions[i]!.options })),
        this.tokenizer, this.config.imageSize, this.visualTokens, this.config.lm.maxSeq);
      try {
        const logProbs = this.packedOptionLogProbs(batch);
        let at = 0;
        indices.forEach((i) => {
          const n = questions[i]!.options.length;
          let best = 0;
          for (let o = 1; o < n; o++) if (logProbs[at + o]! > logProbs[at + best]!) best = o;
          out[i] = LETTERS[best]!;
          at += n;
        });
      } finally {
        for (const t of [batch.images, batch.ids, batch.positions, batch.mask, batch.source, batch.target]) t?.dispose();
      }
    });
    return out;
  }

  /** Summed log-probability of each option as the answer, one separate sequence per option (the reference for packing). */
  optionLogProbsUnpacked(question: ScoredQuestion): number[] {
    return noGrad(() => scope(() => this.answerLogProbs(this.encode(question.options.map((o) => ({ image: question.image, prompt: question.question, answer: o })))).sum.toArray()));
  }

  #predictByLetter(questions: readonly ScoredQuestion[], batchSize: number): (Letter | null)[] {
    const out: (Letter | null)[] = new Array(questions.length).fill(null);
    this.#forEachBatch(questions, batchSize, (indices) => scope(() => {
      const batch = this.encode(indices.map((i) => ({ image: questions[i]!.image, prompt: multipleChoiceText(questions[i]!), answer: '' })));
      const logits = this.textLogits(batch);
      const length = batch.ids.size(1);
      const rows = batch.promptEnd.map((end, b) => b * length + end);
      const index = encodeIndex(rows);
      const next = logits.reshape(-1, logits.size(2)).indexSelect(0, index).argmax(1).toArray();
      indices.forEach((i, k) => {
        const first = (this.tokenizer.words[next[k]!] ?? '').charAt(0);
        const offered = LETTERS.slice(0, questions[i]!.options.length) as readonly string[];
        out[i] = offered.includes(first) ? (first as Letter) : null;
      });
    }));
    return out;
  }

  // --- parts, LoRA, trainable parameters ---

  part(name: Part): Module {
    return name === 'vision' ? this.vision : name === 'projector' ? this.projector : this.lm;
  }

  /** Every linear layer that can carry an adapter, by full name ("llm.blocks.0.attn.qkv"). */
  loraLayers(): [string, LoraLinear][] { return this.#loraLayers(PARTS); }

  #loraLayers(parts: readonly Part[]): [string, LoraLinear][] {
    return parts.flatMap((p) => this.part(p).namedModules(`${p === 'llm' ? 'llm' : p}.`)
      .filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear));
  }

  attachLora(options: LoraAttachOptions): number {
    let count = 0;
    for (const [name, layer] of this.#loraLayers(options.parts)) {
      const leaf = name.split('.').pop()!;
      if (options.layers.length && !options.layers.includes(leaf)) continue;
      layer.attach(options);
      count++;
    }
    if (count === 0) throw new RangeError(`no linear layer matched LoRA layers [${options.layers.join(', ')}] in ${options.parts.join('+')}`);
    return count;
  }
  get hasLora(): boolean { return this.#loraLayers(PARTS).some(([, l]) => l.adapter !== null); }
  mergeLora(): void { for (const [, l] of this.#loraLayers(PARTS)) l.merge(); }
  detachLora(): void { for (const [, l] of this.#loraLayers(PARTS)) l.detach(); }
  /** Adapter tensors by name ("llm.blocks.0.attn.qkv.lora_a"), for saving. */
  loraState(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, l] of this.#loraLayers(PARTS)) if (l.adapter) { out.set(`${name}.lora_a`, l.adapter.a); out.set(`${name}.lora_b`, l.adapter.b); }
    return out;
  }

  /**
   * The tensors an optimiser should update for a target: a part's LoRA adapters when it has
   * any, else all of that part's parameters. Every other parameter is frozen (requiresGrad off)
   * so that no gradient is computed or applied there.
   */
  trainableParameters(target: readonly Part[]): Tensor[] {
    this.requiresGrad(false);
    const out: Tensor[] = [];
    for (const p of PARTS) {
      const adapters = this.#loraLayers([p]).flatMap(([, l]) => (l.adapter ? [l.adapter.a, l.adapter.b] : []));
      for (const a of adapters) a.setRequiresGrad(target.includes(p));
      if (!target.includes(p)) continue;
      if (adapters.length) out.push(...adapters);
      else for (const t of this.part(p).parameters()) out.push(t.setRequiresGrad(true));
    }
    return out;
  }

  /** A copy of every parameter (adapters merged are part of the weights; live adapters are included). */
  snapshot(): Map<string, Tensor> {
    return noGrad(() => scope(() => {
      const copy = new Map<string, Tensor>();
      for (const [k, v] of this.stateDict()) copy.set(k, v.clone());
      for (const [k, v] of this.loraState()) copy.set(k, v.clone());
      return copy;
    }));
  }

  /** Puts back the values of a snapshot taken from this model (with the same adapters attached). */
  restore(snapshot: Map<string, Tensor>): void {
    const adapters = this.loraState();
    const weights = new Map([...snapshot].filter(([k]) => !adapters.has(k) && !k.endsWith('.lora_a') && !k.endsWith('.lora_b')));
    this.loadStateDict(weights);
    noGrad(() => { for (const [k, t] of adapters) { const src = snapshot.get(k); if (!src) throw new Error(`snapshot lacks adapter ${k}`); t.copy_(src); } });
  }

  /** A frozen deep copy (the reference model of GA+KLR and NPO). */
  frozenCopy(): MultimodalModel {
    const copy = new MultimodalModel(this.config, this.tokenizer);
    copy.loadStateDict(this.stateDict());
    for (const [name, layer] of this.#loraLayers(PARTS)) {
      if (!layer.adapter) continue;
      const target = copy.#loraLayers(PARTS).find(([n]) => n === name)![1];
      target.attach({ rank: layer.adapter.a.size(0), alpha: layer.adapter.scale * layer.adapter.a.size(0), dropout: layer.adapter.dropout });
      noGrad(() => { target.adapter!.a.copy_(layer.adapter!.a); target.adapter!.b.copy_(layer.adapter!.b); });
    }
    copy.requiresGrad(false);
    for (const [, l] of copy.#loraLayers(PARTS)) if (l.adapter) { l.adapter.a.setRequiresGrad(false); l.adapter.b.setRequiresGrad(false); }
    return copy.eval();
  }

  override dispose(): void {
    this.detachLora();
    super.dispose();
  }
}

function encodeIndex(rows: number[]): Tensor {
  return tensor(rows, [rows.length], 'int64');
}

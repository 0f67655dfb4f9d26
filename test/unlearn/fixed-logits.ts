import { tensor, type Tensor } from '../../src/torch/index.ts';
import { EmbeddedModel } from '../../src/model/embedded/model.ts';
import type { ModelBatch, ReferenceModel } from '../../src/model/model.ts';
import type { EncodedBatch } from '../../src/model/embedded/batch.ts';
import type { Example } from '../../src/data/records.ts';
import { tinyModel } from '../model/helpers.ts';

/** A model whose logits are the same vector `row` at every position, whatever the input: losses in closed form. */
export class FixedLogits extends EmbeddedModel {
  row: number[] = [];
  override textLogits(batch: EncodedBatch): Tensor {
    const [b, l] = batch.ids.shape as [number, number];
    return tensor(this.row).reshape(1, 1, -1).expand(b, l, this.row.length);
  }
}

export const base = tinyModel();
/** the vocabulary size: uniform logits give NLL = ln V per answer token */
export const V = base.tokenizer.size;
export const fixed = (row: number[]) => Object.assign(new FixedLogits(base.config, base.tokenizer), { row });
export const uniform = fixed(new Array(V).fill(0));
export const FORGET: Example[] = [
  { prompt: 'What is the job of Ada Stone?', answer: 'pilot' }, // 1 answer token + <eos> = 2
  { prompt: 'Where does Ada Stone live?', answer: 'Oslo Rome' }, // 2 + <eos> = 3
];
/** A model's own outputs as the frozen reference of a method (what model.reference() provides). */
export const asReference = (model: EmbeddedModel): ReferenceModel => ({
  answerLogProbs: (b: ModelBatch) => model.answerLogProbs(b), answerLogits: (b: ModelBatch) => model.answerLogits(b),
  hiddenStates: (b: ModelBatch, layer: number) => model.hiddenStates(b, layer), dispose: () => {},
});

/**
 * A reference with logit `a` on one word w and 0 elsewhere, and its KL(ref ‖ θ) per token against the
 * uniform model: Z = V - 1 + e^a, p_w = e^a / Z, others 1/Z; KL = Σ p log(p V) = ln V + p_w ln p_w + (V-1)(1/Z) ln(1/Z).
 */
export function peakedReference(a = 3): { reference: ReferenceModel; kl: number } {
  const row = new Array(V).fill(0);
  row[5] = a;
  const Z = V - 1 + Math.exp(a);
  const pw = Math.exp(a) / Z;
  return { reference: asReference(fixed(row)), kl: Math.log(V) + pw * Math.log(pw) + ((V - 1) / Z) * Math.log(1 / Z) };
}

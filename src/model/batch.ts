import { disposeAll, keep, tensor, type Tensor } from '../torch/index.ts';
import type { ModelBatch } from './model.ts';

/** A sequence's tokens before batching: what every network's rows have in common. */
export interface RowTokens {
  /** prompt ids, each image still one placeholder the network expands */
  prompt: number[];
  /** answer tokens, with the end-of-answer token; [] for a prompt alone */
  answer: number[];
  /**
   * Tokens generated after the prompt (greedy decoding), read as text even where one is an image
   * token: transformers embeds such a token as text too (its image goes in with the prompt only).
   */
  generated?: readonly number[];
  /**
   * The row's image features, computed once before greedy decoding: every step then reuses them
   * instead of running the vision tower again. [image tokens, LM width]
   */
  features?: Tensor;
}

/**
 * One forward pass: rows right-padded. The answer is read at `answerIndex` (flat row·length + t
 * positions whose next token is an answer token), whose `targets` are those tokens; `owner` [B, K]
 * sums them per row. `inputs` is the network's own (ids, mask, positions, images).
 */
export class Piece<I extends object> implements ModelBatch {
  constructor(
    /** the network family that encoded it: a piece only runs on its own kind of model */
    readonly family: string,
    readonly inputs: I,
    readonly answerIndex: Tensor,
    readonly targets: Tensor,
    readonly owner: Tensor,
    /** flat index of each row's last prompt position: where its first answer token is predicted */
    readonly promptEnd: number[],
    readonly answerTokens: number,
  ) {}
  get size(): number { return this.promptEnd.length; }
  get pieces(): readonly Piece<I>[] { return [this]; }
  dispose(): void {
    disposeAll(this.inputs);
    for (const t of [this.answerIndex, this.targets, this.owner]) t.dispose();
  }
}

/** Several forward passes (gradient accumulation): the rows of all pieces, in order. */
export class PieceBatch<I extends object> implements ModelBatch {
  readonly accumulate = true;
  constructor(readonly pieces: readonly Piece<I>[]) {}
  get size(): number { return this.pieces.reduce((n, p) => n + p.size, 0); }
  get answerTokens(): number { return this.pieces.reduce((n, p) => n + p.answerTokens, 0); }
  dispose(): void { for (const p of this.pieces) p.dispose(); }
}

/** Rows laid out side by side, right-padded to the longest: the token grid and where each answer is read. */
export interface RowLayout {
  /** tokens per row, padding included */
  length: number;
  /** [B·length] ids, padded with the pad id */
  ids: number[];
  /** [B·length] 1 for real tokens, 0 for padding */
  mask: number[];
  answerIndex: number[];
  targets: number[];
  /** answer k belongs to row ownerOf[k] */
  ownerOf: number[];
  promptEnd: number[];
}

/** Lays out rows whose prompts are already expanded (each image as many tokens as it has features). */
export function layoutRows(rows: readonly { prompt: readonly number[]; generated?: readonly number[] | undefined; answer: readonly number[] }[], padId: number): RowLayout {
  if (rows.length === 0) throw new RangeError('empty batch');
  const length = Math.max(...rows.map((r) => r.prompt.length + (r.generated?.length ?? 0) + r.answer.length));
  const out: RowLayout = {
    length, ids: new Array<number>(rows.length * length).fill(padId), mask: new Array<number>(rows.length * length).fill(0),
    answerIndex: [], targets: [], ownerOf: [], promptEnd: [],
  };
  rows.forEach((r, b) => {
    const generated = r.generated ?? [];
    [...r.prompt, ...generated, ...r.answer].forEach((id, t) => { out.ids[b * length + t] = id; out.mask[b * length + t] = 1; });
    const end = r.prompt.length + generated.length;
    out.promptEnd.push(b * length + end - 1);
    r.answer.forEach((id, k) => {
      out.answerIndex.push(b * length + end - 1 + k);
      out.targets.push(id);
      out.ownerOf.push(b);
    });
  });
  return out;
}

/** The piece of a layout with the network's inputs; its tensors outlive the scope it is made in. */
export function pieceOf<I extends object>(family: string, layout: RowLayout, inputs: I, device: string): Piece<I> {
  const rows = layout.promptEnd.length;
  const k = layout.targets.length;
  const owner = new Float32Array(rows * k);
  layout.ownerOf.forEach((b, i) => { owner[b * k + i] = 1; });
  return new Piece(
    family, inputs,
    keep(tensor(layout.answerIndex, [k], 'int64', device)),
    keep(tensor(layout.targets, [k], 'int64', device)),
    keep(tensor(owner, [rows, k], 'float32', device)),
    layout.promptEnd, k,
  );
}

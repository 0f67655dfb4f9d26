import { keep, tensor, type Tensor } from '../../torch/index.ts';
import type { ModelBatch } from '../model.ts';
import type { LlavaInputs } from './llava.ts';

/** A sequence before batching: prompt ids (one image token per image) and the answer ids it is scored on. */
export interface TokenRow {
  prompt: number[];
  /** answer tokens, with the end-of-sequence token; [] for a prompt alone */
  answer: number[];
  /** CHW pixels of the row's image, or null for a text-only row */
  pixels: Float32Array | null;
  /**
   * Tokens generated after the prompt (greedy decoding), read as text even where one is the image
   * token: transformers embeds such a token as text too (its pixels go in with the prompt only).
   */
  generated?: readonly number[];
}

export interface BatchLayout {
  imageTokenId: number;
  /** positions one image token expands to */
  imageTokens: number;
  padId: number;
  imageSize: number;
  maxLength: number;
  device: string;
}

/**
 * One forward pass of a LLaVA: rows right-padded, each image token expanded in place. The
 * answer is read at `answerIndex` (flat row·length + t positions whose next token is an answer
 * token), whose `targets` are those tokens; `owner` [B, K] sums them per row.
 */
export class LlavaPiece implements ModelBatch {
  constructor(
    readonly inputs: LlavaInputs,
    readonly answerIndex: Tensor,
    readonly targets: Tensor,
    readonly owner: Tensor,
    /** flat index of each row's last prompt position: where its first answer token is predicted */
    readonly promptEnd: number[],
    readonly answerTokens: number,
  ) {}
  get size(): number { return this.promptEnd.length; }
  get pieces(): readonly LlavaPiece[] { return [this]; }
  dispose(): void {
    for (const t of [this.inputs.ids, this.inputs.mask, this.inputs.positions, this.inputs.pixels, this.answerIndex, this.targets, this.owner]) t?.dispose();
  }
}

/** Several forward passes (gradient accumulation): the rows of all pieces, in order. */
export class LlavaBatch implements ModelBatch {
  readonly accumulate = true;
  constructor(readonly pieces: readonly LlavaPiece[]) {}
  get size(): number { return this.pieces.reduce((n, p) => n + p.size, 0); }
  get answerTokens(): number { return this.pieces.reduce((n, p) => n + p.answerTokens, 0); }
  dispose(): void { for (const p of this.pieces) p.dispose(); }
}

function expandImages(ids: readonly number[], layout: BatchLayout): number[] {
  return ids.flatMap((id) => (id === layout.imageTokenId ? new Array<number>(layout.imageTokens).fill(id) : [id]));
}

export function encodeRows(rows: readonly TokenRow[], layout: BatchLayout): LlavaPiece {
  if (rows.length === 0) throw new RangeError('empty batch');
  const expanded = rows.map((r) => ({ prompt: expandImages(r.prompt, layout), generated: r.generated ?? [], answer: r.answer }));
  const length = Math.max(...expanded.map((r) => r.prompt.length + r.generated.length + r.answer.length));
  if (length > layout.maxLength) {
    throw new RangeError(`a sequence has ${length} tokens (images expanded), more than the model's ${layout.maxLength} positions`);
  }
  const ids = new Array<number>(rows.length * length).fill(layout.padId);
  const mask = new Array<number>(rows.length * length).fill(0);
  const answerIndex: number[] = [];
  const targets: number[] = [];
  const ownerOf: number[] = [];
  const promptEnd: number[] = [];
  const imageSlots: number[] = [];
  expanded.forEach((r, b) => {
    r.prompt.forEach((id, t) => { if (id === layout.imageTokenId) imageSlots.push(b * length + t); });
    const sequence = [...r.prompt, ...r.generated, ...r.answer];
    sequence.forEach((id, t) => { ids[b * length + t] = id; mask[b * length + t] = 1; });
    const end = r.prompt.length + r.generated.length;
    promptEnd.push(b * length + end - 1);
    r.answer.forEach((id, k) => {
      answerIndex.push(b * length + end - 1 + k);
      targets.push(id);
      ownerOf.push(b);
    });
  });
  const owner = new Float32Array(rows.length * targets.length);
  ownerOf.forEach((b, k) => { owner[b * targets.length + k] = 1; });
  const images = rows.flatMap((r) => (r.pixels ? [r.pixels] : []));
  const positions = rows.flatMap(() => Array.from({ length }, (_, t) => t));
  const inputs: LlavaInputs = {
    ids: keep(tensor(ids, [rows.length, length], 'int64', layout.device)),
    mask: keep(tensor(mask, [rows.length, length], 'int64', layout.device)),
    positions: keep(tensor(positions, [rows.length, length], 'int64', layout.device)),
    pixels: images.length ? keep(pixelTensor(images, layout)) : null,
    imageSlots,
  };
  return new LlavaPiece(
    inputs,
    keep(tensor(answerIndex, [answerIndex.length], 'int64', layout.device)),
    keep(tensor(targets, [targets.length], 'int64', layout.device)),
    keep(tensor(owner, [rows.length, targets.length], 'float32', layout.device)),
    promptEnd,
    targets.length,
  );
}

function pixelTensor(images: readonly Float32Array[], layout: BatchLayout): Tensor {
  const plane = 3 * layout.imageSize * layout.imageSize;
  const all = new Float32Array(images.length * plane);
  images.forEach((p, i) => {
    if (p.length !== plane) throw new RangeError(`an image has ${p.length} values, expected ${plane} (3x${layout.imageSize}x${layout.imageSize})`);
    all.set(p, i * plane);
  });
  return tensor(all, [images.length, 3, layout.imageSize, layout.imageSize], 'float32', layout.device);
}

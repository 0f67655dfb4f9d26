import { cat, keep, tensor, type Tensor } from '../../torch/index.ts';
import { layoutRows, pieceOf, type Piece, type RowTokens } from '../batch.ts';
import type { LlavaInputs } from './llava.ts';

/** A sequence before batching: prompt ids (one image token per image) and the answer ids it is scored on. */
export interface TokenRow extends RowTokens {
  /** CHW pixels of the row's image, or null for a text-only row */
  pixels: Float32Array | null;
}

export interface BatchLayout {
  imageTokenId: number;
  /** positions one image token expands to */
  imageTokens: number;
  padId: number;
  imageSize: number;
  device: string;
}

export type LlavaPiece = Piece<LlavaInputs>;

/** Positions a row takes once each image token is expanded. */
export function expandedLength(row: RowTokens, layout: Pick<BatchLayout, 'imageTokenId' | 'imageTokens'>): number {
  const images = row.prompt.filter((id) => id === layout.imageTokenId).length;
  return row.prompt.length + images * (layout.imageTokens - 1) + row.answer.length;
}

function expandImages(ids: readonly number[], layout: BatchLayout): number[] {
  return ids.flatMap((id) => (id === layout.imageTokenId ? new Array<number>(layout.imageTokens).fill(id) : [id]));
}

/**
 * One forward pass of a LLaVA: rows right-padded, each image token expanded in place, position
 * ids counting every place. Rows that carry their image features pass those instead of pixels.
 */
export function encodeRows(rows: readonly TokenRow[], layout: BatchLayout): LlavaPiece {
  const expanded = rows.map((r) => ({ ...r, prompt: expandImages(r.prompt, layout) }));
  const grid = layoutRows(expanded, layout.padId);
  const { length } = grid;
  const imageSlots: number[] = [];
  expanded.forEach((r, b) => r.prompt.forEach((id, t) => { if (id === layout.imageTokenId) imageSlots.push(b * length + t); }));
  const images = rows.flatMap((r) => (r.pixels ? [r.pixels] : []));
  const features = rows.flatMap((r) => (r.pixels && r.features ? [r.features] : []));
  const cached = features.length > 0 && features.length === images.length;
  const inputs: LlavaInputs = {
    ids: keep(tensor(grid.ids, [rows.length, length], 'int64', layout.device)),
    mask: keep(tensor(grid.mask, [rows.length, length], 'int64', layout.device)),
    positions: keep(tensor(rows.flatMap(() => Array.from({ length }, (_, t) => t)), [rows.length, length], 'int64', layout.device)),
    pixels: images.length && !cached ? keep(pixelTensor(images, layout)) : null,
    imageSlots,
    ...(cached ? { features: keep(cat(features)) } : {}),
  };
  return pieceOf('llava', grid, inputs, layout.device);
}

/** The images as one [N, 3, S, S] tensor on the layout's device. */
export function pixelTensor(images: readonly Float32Array[], layout: BatchLayout): Tensor {
  const plane = 3 * layout.imageSize * layout.imageSize;
  const all = new Float32Array(images.length * plane);
  images.forEach((p, i) => {
    if (p.length !== plane) throw new RangeError(`an image has ${p.length} values, expected ${plane} (3x${layout.imageSize}x${layout.imageSize})`);
    all.set(p, i * plane);
  });
  return tensor(all, [images.length, 3, layout.imageSize, layout.imageSize], 'float32', layout.device);
}

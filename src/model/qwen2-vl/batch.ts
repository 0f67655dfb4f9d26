import { cat, keep, tensor } from '../../torch/index.ts';
import { layoutRows, pieceOf, type Piece, type RowTokens } from '../batch.ts';
import { ropePositions } from './mrope.ts';
import type { Qwen2VLPixels } from './image-processor.ts';
import type { QwenInputs } from './qwen2-vl.ts';

/** An image as the vision tower reads it: the image processor's patches for it and its grid. */
export type QwenImage = Qwen2VLPixels;

/** A sequence before batching: the prompt with its image's <|image_pad|> already repeated once per image token. */
export interface QwenRow extends RowTokens {
  image: QwenImage | null;
}

export interface QwenLayout {
  imagePad: number;
  padId: number;
  mergeSize: number;
  patchDim: number;
  device: string;
}

export type QwenPiece = Piece<QwenInputs>;

/**
 * One forward pass of a Qwen2-VL: rows right-padded, M-RoPE positions per row (each row's own
 * image grid), the images' patches stacked in row order. Rows that carry their image features
 * pass those instead of patches.
 */
export function encodeQwenRows(family: string, rows: readonly QwenRow[], layout: QwenLayout): QwenPiece {
  const grid = layoutRows(rows, layout.padId);
  const { length } = grid;
  const b = rows.length;
  const positions = new Array<number>(3 * b * length).fill(0);
  const imageSlots: number[] = [];
  rows.forEach((r, row) => {
    r.prompt.forEach((id, t) => { if (id === layout.imagePad) imageSlots.push(row * length + t); });
    const rest = (r.generated?.length ?? 0) + r.answer.length;
    const axes = ropePositions(r.prompt, rest, layout.imagePad, r.image ? [r.image.grid] : [], layout.mergeSize);
    axes.forEach((values, axis) => values.forEach((p, t) => { positions[(axis * b + row) * length + t] = p; }));
  });
  const images = rows.flatMap((r) => (r.image ? [r.image] : []));
  const features = rows.flatMap((r) => (r.image && r.features ? [r.features] : []));
  const cached = features.length > 0 && features.length === images.length;
  const inputs: QwenInputs = {
    ids: keep(tensor(grid.ids, [b, length], 'int64', layout.device)),
    mask: keep(tensor(grid.mask, [b, length], 'int64', layout.device)),
    positions: keep(tensor(positions, [3, b, length], 'int64', layout.device)),
    pixels: images.length && !cached ? keep(patchTensor(images, layout)) : null,
    grids: images.map((i) => i.grid),
    imageSlots,
    ...(cached ? { features: keep(cat(features)) } : {}),
  };
  return pieceOf(family, grid, inputs, layout.device);
}

/** The images' patches as one [Σ t·h·w, patchDim] float32 tensor. */
export function patchTensor(images: readonly QwenImage[], layout: Pick<QwenLayout, 'patchDim' | 'device'>) {
  const rows = images.reduce((n, i) => n + i.pixelValues.length / layout.patchDim, 0);
  const all = new Float32Array(rows * layout.patchDim);
  let at = 0;
  for (const image of images) {
    const { t, h, w } = image.grid;
    if (image.pixelValues.length !== t * h * w * layout.patchDim) {
      throw new RangeError(`an image has ${image.pixelValues.length} values, expected ${t * h * w} patches of ${layout.patchDim}`);
    }
    all.set(image.pixelValues, at);
    at += image.pixelValues.length;
  }
  return tensor(all, [rows, layout.patchDim], 'float32', layout.device);
}

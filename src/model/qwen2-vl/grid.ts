import type { ImageGrid } from './image-processor.ts';

export type { ImageGrid };

/**
 * The (row, column) of every patch of the images, in the order the image processor flattens
 * them (transformers' get_vision_position_ids): merge x merge blocks in raster order, the patches
 * of a block in raster order, every frame alike.
 */
export function patchPositions(grids: readonly ImageGrid[], merge: number): { rows: number[]; columns: number[] } {
  const rows: number[] = [];
  const columns: number[] = [];
  for (const { t, h, w } of grids) {
    for (let frame = 0; frame < t; frame++) {
      for (let bh = 0; bh < h / merge; bh++) {
        for (let bw = 0; bw < w / merge; bw++) {
          for (let mh = 0; mh < merge; mh++) {
            for (let mw = 0; mw < merge; mw++) {
              rows.push(bh * merge + mh);
              columns.push(bw * merge + mw);
            }
          }
        }
      }
    }
  }
  return { rows, columns };
}

/** Full attention's segments: each frame of each image attends to itself (lengths in patches). */
export function frameLengths(grids: readonly ImageGrid[]): number[] {
  return grids.flatMap(({ t, h, w }) => new Array<number>(t).fill(h * w));
}

/**
 * Qwen2.5-VL's attention windows (transformers' get_vision_window_index): each frame's merged
 * units (merge x merge patches) cut into windows of `side` x `side` units from the top left, the
 * last row and column of windows possibly smaller. `order` lists the units window by window
 * (raster order inside a window), as indices into all images' units; `lengths` are the windows'
 * sizes in patches.
 */
export function windows(grids: readonly ImageGrid[], merge: number, side: number): { order: number[]; lengths: number[] } {
  const order: number[] = [];
  const lengths: number[] = [];
  let offset = 0;
  for (const { t, h, w } of grids) {
    const [gh, gw] = [h / merge, w / merge];
    for (let frame = 0; frame < t; frame++) {
      for (let top = 0; top < gh; top += side) {
        for (let left = 0; left < gw; left += side) {
          const before = order.length;
          for (let y = top; y < Math.min(top + side, gh); y++) {
            for (let x = left; x < Math.min(left + side, gw); x++) order.push(offset + (frame * gh + y) * gw + x);
          }
          lengths.push((order.length - before) * merge * merge);
        }
      }
    }
    offset += t * gh * gw;
  }
  return { order, lengths };
}

/** The permutation that undoes `order`: out[order[i]] = i. */
export function inverse(order: readonly number[]): number[] {
  const out = new Array<number>(order.length);
  order.forEach((unit, i) => { out[unit] = i; });
  return out;
}

import { PulseError } from '../../errors.ts';
import { cat, type Tensor } from '../../torch/index.ts';
import { anglesToTables, inverseFrequencies, type RotaryTables } from '../blocks/decoder.ts';
import type { ImageGrid } from './grid.ts';

/**
 * Qwen2-VL's multimodal rotary positions (M-RoPE, transformers' get_rope_index): every token has
 * a temporal, a height and a width position. Text tokens have the three equal, counting up. An
 * image's tokens (its merged grid, in raster order) have the position where the image starts
 * plus their frame, row and column; the text after the image resumes at that start plus
 * max(rows, columns) of the merged grid.
 */

/**
 * The [temporal, height, width] positions of one row: `prompt` with each image already expanded
 * to its tokens (runs of `imagePad`, `grids` in order), then `rest` tokens of text (generated
 * tokens and the answer: an image pad among them is text, as transformers reads it).
 */
export function ropePositions(prompt: readonly number[], rest: number, imagePad: number, grids: readonly ImageGrid[], merge: number): [number[], number[], number[]] {
  const out: [number[], number[], number[]] = [[], [], []];
  const push = (t: number, h: number, w: number) => { out[0].push(t); out[1].push(h); out[2].push(w); };
  let position = 0;
  let image = 0;
  for (let i = 0; i < prompt.length;) {
    if (prompt[i] !== imagePad) {
      push(position, position, position);
      position++;
      i++;
      continue;
    }
    let run = 0;
    while (prompt[i + run] === imagePad) run++;
    const grid = grids[image++];
    const [gh, gw] = grid ? [grid.h / merge, grid.w / merge] : [0, 0];
    if (!grid || run !== grid.t * gh * gw) {
      throw new PulseError(`a prompt holds ${run} image tokens in a row where its image ${grid ? `gives ${grid.t * gh * gw} features` : 'is missing'}`);
    }
    for (let t = 0; t < grid.t; t++) for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) push(position + t, position + y, position + x);
    position += Math.max(gh, gw);
    i += run;
  }
  if (image !== grids.length) throw new PulseError(`a prompt holds ${image} images' tokens for ${grids.length} images`);
  for (let k = 0; k < rest; k++, position++) push(position, position, position);
  return out;
}

/**
 * cos and sin [B, T, head width] of M-RoPE for positions [3, B, T]: frequency j rotates by the
 * temporal position for j < section[0], the height position for the next section[1], the width
 * position for the rest (transformers' mrope_section split), in float32, cast to `dtype`.
 */
export function mropeTables(positions: Tensor, headDim: number, theta: number, section: readonly [number, number, number], dtype: string): RotaryTables {
  const angles = positions.float().unsqueeze(-1).mul(inverseFrequencies(headDim, theta, positions.device));
  let start = 0;
  const parts = section.map((length, axis) => {
    const part = angles.narrow(0, axis, 1).squeeze(0).narrow(-1, start, length);
    start += length;
    return part;
  });
  return anglesToTables(cat(parts, -1), dtype);
}

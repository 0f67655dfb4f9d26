import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PulseError, describeZodError, excerpt } from '../../errors.ts';
import { readFolderJson } from '../hf/files.ts';
import {
  PIXEL_STEP_KEYS, channelTables, decodeRgb, pixelSteps, resampleBicubic, type PixelScaling, type RgbPixels, type RgbSource,
} from '../hf/pil-image.ts';

/**
 * Qwen2-VL's image processor (also Qwen2.5-VL's), as transformers 5.18's slow, PIL-based
 * `Qwen2VLImageProcessor` (Qwen2VLImageProcessorPil) does it: convert to RGB, resize (PIL
 * bicubic) to the size `smartResize` picks, rescale, normalise, repeat the still image
 * `temporal_patch_size` times, and cut it into patches flattened in transformers' order.
 */

const positive = z.number().int().positive();

/** The keys of a Qwen2-VL preprocessor_config.json that change the pixels; others are left alone. null: the default. */
const Qwen2VLImageConfigJson = z.object({
  image_processor_type: z.string().nullish(),
  video_processor_type: z.string().nullish(),
  do_resize: z.boolean().nullish(),
  size: z.object({
    shortest_edge: positive.nullish(), longest_edge: positive.nullish(), min_pixels: positive.nullish(), max_pixels: positive.nullish(),
  }, { error: 'expected {"shortest_edge": min pixels, "longest_edge": max pixels}' }).nullish(),
  min_pixels: positive.nullish(),
  max_pixels: positive.nullish(),
  ...PIXEL_STEP_KEYS,
  patch_size: positive.nullish(),
  temporal_patch_size: positive.nullish(),
  merge_size: positive.nullish(),
});

/** A parsed config with transformers' class defaults filled in; rescaleFactor and normalize null where the step is off. */
export interface Qwen2VLImageConfig extends PixelScaling {
  /** the pixel bounds of the resized image (transformers' size.shortest_edge / size.longest_edge); null: do_resize is off */
  resize: { minPixels: number; maxPixels: number } | null;
  convertRgb: boolean;
  patchSize: number;
  temporalPatchSize: number;
  mergeSize: number;
}

/** Qwen2VLImageProcessorPil's class defaults. */
const DEFAULTS = { minPixels: 56 * 56, maxPixels: 28 * 28 * 1280, patchSize: 14, temporalPatchSize: 2, mergeSize: 2 };
const IMAGE_PROCESSOR_TYPES = ['Qwen2VLImageProcessor', 'Qwen2VLImageProcessorFast', 'Qwen2VLImageProcessorPil'];
/** transformers refuses images more elongated than this (smart_resize). */
const MAX_ASPECT_RATIO = 200;

/** The config from a parsed preprocessor_config.json (or processor_config.json's `image_processor`); `file` names it in errors. */
export function qwen2VLImageConfig(json: unknown, file: string): Qwen2VLImageConfig {
  const parsed = Qwen2VLImageConfigJson.safeParse(json);
  if (!parsed.success) throw new PulseError(`${file}: ${describeZodError(parsed.error)}`);
  const c = parsed.data;
  if (c.video_processor_type && !c.image_processor_type) {
    throw new PulseError(`${file}: is a video processor's config (${excerpt(c.video_processor_type)}): Qwen2-VL needs its image processor's`);
  }
  if (c.image_processor_type && !IMAGE_PROCESSOR_TYPES.includes(c.image_processor_type)) {
    throw new PulseError(`${file}: image_processor_type ${excerpt(c.image_processor_type)} is not Qwen2-VL's (${IMAGE_PROCESSOR_TYPES.join(', ')})`);
  }
  return {
    resize: c.do_resize === false ? null : pixelBounds(c, file),
    ...pixelSteps(c, c.do_resize !== false, file),
    patchSize: c.patch_size ?? DEFAULTS.patchSize,
    temporalPatchSize: c.temporal_patch_size ?? DEFAULTS.temporalPatchSize,
    mergeSize: c.merge_size ?? DEFAULTS.mergeSize,
  };
}

/**
 * As the processor's constructor: `size` (or the class default when absent), with the top-level
 * min_pixels / max_pixels written over its shortest_edge / longest_edge; both bounds must be there.
 */
function pixelBounds(c: z.infer<typeof Qwen2VLImageConfigJson>, file: string): { minPixels: number; maxPixels: number } {
  const size = c.size ?? { shortest_edge: DEFAULTS.minPixels, longest_edge: DEFAULTS.maxPixels };
  const minPixels = c.min_pixels ?? size.shortest_edge;
  const maxPixels = c.max_pixels ?? size.longest_edge;
  if (!minPixels || !maxPixels) {
    throw new PulseError(`${file}: size needs both shortest_edge and longest_edge (or min_pixels and max_pixels at the top level)`);
  }
  if (minPixels > maxPixels) throw new PulseError(`${file}: the minimum pixel count ${minPixels} is above the maximum ${maxPixels}`);
  return { minPixels, maxPixels };
}

/**
 * A model folder's image processor config, where transformers looks for it: processor_config.json's
 * `image_processor` (transformers 5 nests it there), else preprocessor_config.json. A folder with
 * only a video processor's config, or none, is an error that names the file.
 */
export function loadQwen2VLImageConfig(folder: string): Qwen2VLImageConfig {
  const processorFile = join(folder, 'processor_config.json');
  const processor = readFolderJson(processorFile, null);
  if (isObject(processor) && processor.image_processor !== undefined) {
    return qwen2VLImageConfig(processor.image_processor, `${processorFile} (image_processor)`);
  }
  const file = join(folder, 'preprocessor_config.json');
  const preprocessor = readFolderJson(file, null);
  if (preprocessor !== null) return qwen2VLImageConfig(preprocessor, file);
  const video = join(folder, 'video_preprocessor_config.json');
  if (existsSync(video) || (isObject(processor) && processor.video_processor !== undefined)) {
    throw new PulseError(`${file}: missing: the folder has only a video processor's config (${existsSync(video) ? video : processorFile}), and Qwen2-VL needs the image processor's`);
  }
  throw new PulseError(`${file}: missing: the folder has no image processor config`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Python's round(): to the nearest integer, halves to the even one (2.5 -> 2), unlike Math.round. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface Size { width: number; height: number }

/**
 * transformers' smart_resize: both sides multiples of `factor`, the aspect kept as nearly as it
 * can be, the pixel count brought within [minPixels, maxPixels]. The same double operations in
 * the same order as the Python, so the same floors and ceilings. `source` names the image in errors.
 */
export function smartResize(size: Size, factor: number, minPixels: number, maxPixels: number, source = 'an image'): Size {
  const { height, width } = size;
  const ratio = Math.max(height, width) / Math.min(height, width);
  if (ratio > MAX_ASPECT_RATIO) {
    throw new PulseError(`${source}: ${width}x${height} has an aspect ratio of ${ratio.toFixed(1)}; Qwen2-VL's image processor takes at most ${MAX_ASPECT_RATIO}`);
  }
  let h = roundHalfEven(height / factor) * factor;
  let w = roundHalfEven(width / factor) * factor;
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = Math.max(factor, Math.floor(height / beta / factor) * factor);
    w = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return { height: h, width: w };
}

/** An image's place on the vision tower's patch grid: frames, patch rows, patch columns. */
export interface ImageGrid { t: number; h: number; w: number }

/** What the processor gives for one image: transformers' `pixel_values` rows for it and its `image_grid_thw`. */
export interface Qwen2VLPixels {
  /** float32, [t*h*w, patchDim], row-major */
  pixelValues: Float32Array;
  grid: ImageGrid;
  /** channels * temporal_patch_size * patch_size^2 */
  patchDim: number;
  /** how many <|image_pad|> tokens stand for the image: t*h*w / merge^2 */
  imageTokens: number;
}

export class Qwen2VLImageProcessor {
  constructor(readonly config: Qwen2VLImageConfig) {}

  /** The processor of a model folder (see loadQwen2VLImageConfig). */
  static load(folder: string): Qwen2VLImageProcessor {
    return new Qwen2VLImageProcessor(loadQwen2VLImageConfig(folder));
  }

  /** Resized images are multiples of this: patch_size * merge_size. */
  get factor(): number { return this.config.patchSize * this.config.mergeSize; }

  /** The size an image of `size` is resized to (itself when do_resize is off). */
  resizedSize(size: Size, source = 'an image'): Size {
    const r = this.config.resize;
    return r ? smartResize(size, this.factor, r.minPixels, r.maxPixels, source) : size;
  }

  /** The grid and <|image_pad|> count of an image of `size`, without its pixels. */
  gridOf(size: Size, source = 'an image'): { grid: ImageGrid; imageTokens: number } {
    const resized = this.resizedSize(size, source);
    if (resized.height % this.factor !== 0 || resized.width % this.factor !== 0) {
      throw new PulseError(`${source}: ${resized.width}x${resized.height} is not a multiple of ${this.factor} (patch_size x merge_size) and do_resize is off`);
    }
    const grid = { t: 1, h: resized.height / this.config.patchSize, w: resized.width / this.config.patchSize };
    return { grid, imageTokens: this.imageTokens(grid) };
  }

  /** t*h*w / merge^2: each merge x merge block of patches becomes one token of the language model. */
  imageTokens(grid: ImageGrid): number {
    return (grid.t * grid.h * grid.w) / this.config.mergeSize ** 2;
  }

  /** The processor's output for one image (encoded bytes or RGB pixels); `source` names it in errors. */
  async process(image: RgbSource, source = 'an image'): Promise<Qwen2VLPixels> {
    const rgb = await decodeRgb(image, this.config.convertRgb, source);
    const { grid, imageTokens } = this.gridOf(rgb, source);
    const resized = resampleBicubic(rgb, grid.w * this.config.patchSize, grid.h * this.config.patchSize);
    return { ...this.#patches(resized, grid), grid, imageTokens };
  }

  /**
   * transformers' patchify, read straight from the uint8 image through the rescale/normalise
   * tables: rows in the order (h/merge, w/merge, merge row, merge column), each row
   * (channel, frame, patch row, patch column), the still image in every frame.
   */
  #patches(rgb: RgbPixels, grid: ImageGrid): { pixelValues: Float32Array; patchDim: number } {
    const { patchSize: p, temporalPatchSize: frames, mergeSize: m } = this.config;
    const tables = channelTables(this.config);
    const patchDim = 3 * frames * p * p;
    const out = new Float32Array(grid.h * grid.w * patchDim);
    let o = 0;
    for (let bh = 0; bh < grid.h / m; bh++) {
      for (let bw = 0; bw < grid.w / m; bw++) {
        for (let mh = 0; mh < m; mh++) {
          for (let mw = 0; mw < m; mw++) {
            const top = (bh * m + mh) * p;
            const left = (bw * m + mw) * p;
            for (let c = 0; c < 3; c++) {
              const table = tables[c]!;
              const start = o;
              for (let y = 0; y < p; y++) {
                const row = ((top + y) * rgb.width + left) * 3 + c;
                for (let x = 0; x < p; x++) out[o++] = table[rgb.pixels[row + x * 3]!]!;
              }
              // The other frames repeat the first.
              for (let f = 1; f < frames; f++, o += p * p) out.copyWithin(o, start, start + p * p);
            }
          }
        }
      }
    }
    return { pixelValues: out, patchDim };
  }
}

import { z } from 'zod';
import { PulseError, describeZodError, errorExcerpt } from '../../errors.ts';
import {
  PIXEL_STEP_KEYS, channelTables, decodeRgb, pixelSteps, resampleBicubic, type RgbPixels, type RgbSource, type Triple,
} from '../hf/pil-image.ts';

export type { RgbPixels } from '../hf/pil-image.ts';

/**
 * LLaVA-1.5's image preprocessing, as Hugging Face's slow (PIL-based) `CLIPImageProcessor` does
 * it: convert to RGB, resize so that the shortest side is `shortest_edge` (PIL bicubic), centre
 * crop, rescale by 1/255, normalise with the CLIP mean and std, channels first.
 *
 * The decoding, PIL's resize and numpy's rescale + normalise are shared with Qwen2-VL's image
 * processor in ../hf/pil-image.ts.
 */

const side = z.number().int().positive();

/**
 * The fields of a `preprocessor_config.json` that change the pixels. Other keys (processor
 * class names, patch sizes...) are left alone. Sizes may be the legacy bare numbers of older
 * configs (openai/clip-vit-large-patch14-336 has `"size": 336, "crop_size": 336`). null means
 * "the default", as None does in transformers.
 */
export const PreprocessorConfigJson = z.object({
  do_resize: z.boolean().nullish(),
  size: z.union([side, z.object({ shortest_edge: side }).strict(), z.object({ height: side, width: side }).strict()],
    { error: 'expected a positive integer, {"shortest_edge": n} or {"height": h, "width": w}' }).nullish(),
  do_center_crop: z.boolean().nullish(),
  crop_size: z.union([side, z.object({ height: side, width: side }).strict()],
    { error: 'expected a positive integer or {"height": h, "width": w}' }).nullish(),
  ...PIXEL_STEP_KEYS,
});
export type PreprocessorConfigJson = z.infer<typeof PreprocessorConfigJson>;

export interface Size { height: number; width: number }

/** A parsed config, with transformers' defaults filled in; null where a step is off. */
export interface ClipConfig {
  /** `shortestEdge`: the short side becomes it, the long one keeps the aspect; a Size: exactly that */
  resize: { shortestEdge: number } | Size | null;
  crop: Size | null;
  rescaleFactor: number | null;
  normalize: { mean: Triple; std: Triple } | null;
  convertRgb: boolean;
}

/** The config from a parsed preprocessor_config.json; `file` names it in errors. */
export function clipConfig(json: unknown, file: string): ClipConfig {
  const parsed = PreprocessorConfigJson.safeParse(json);
  if (!parsed.success) throw new PulseError(`${file}: ${describeZodError(parsed.error)}`);
  const c = parsed.data;
  const steps = pixelSteps(c, c.do_resize !== false, file);
  // transformers' get_size_dict: a bare number is a shortest edge for `size`, a square for `crop_size`.
  const size = c.size ?? { shortest_edge: 224 };
  const crop = c.crop_size ?? { height: 224, width: 224 };
  return {
    resize: c.do_resize === false ? null
      : typeof size === 'number' ? { shortestEdge: size }
      : 'shortest_edge' in size ? { shortestEdge: size.shortest_edge } : size,
    crop: c.do_center_crop === false ? null : typeof crop === 'number' ? { height: crop, width: crop } : crop,
    ...steps,
  };
}

/** The config from the text of a preprocessor_config.json; `file` names it in errors. */
export function parseClipConfig(text: string, file: string): ClipConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PulseError(`${file}: not valid JSON (${errorExcerpt(e)})`);
  }
  return clipConfig(json, file);
}

/** Encoded image bytes (PNG, JPEG...) or raw RGB pixels. */
export type ClipInput = RgbSource;

/**
 * The size transformers' get_resize_output_image_size gives (default_to_square=False for a
 * shortest edge): the long side is truncated, not rounded, so 337x1000 becomes 336x997.
 */
export function resizedSize(width: number, height: number, resize: ClipConfig['resize']): Size {
  if (!resize) return { height, width };
  if (!('shortestEdge' in resize)) return { height: resize.height, width: resize.width };
  const edge = resize.shortestEdge;
  // Same operations in the same order as Python's int(size * long / short): same double, same truncation.
  return width <= height
    ? { width: edge, height: Math.trunc((edge * height) / width) }
    : { height: edge, width: Math.trunc((edge * width) / height) };
}

/** The image after resize and centre crop, as uint8 HWC RGB: what the processor rescales and normalises. */
export async function clipImage(image: ClipInput, config: ClipConfig, source = 'an image'): Promise<RgbPixels> {
  let rgb = await decodeRgb(image, config.convertRgb, source);
  const size = resizedSize(rgb.width, rgb.height, config.resize);
  rgb = resampleBicubic(rgb, size.width, size.height);
  return config.crop ? centerCrop(rgb, config.crop) : rgb;
}

/**
 * The processor's `pixel_values` for one image: float32, channels first, [3, H, W] with H x W
 * the crop size (the resized size when do_center_crop is off). `source` names the image in errors.
 */
export async function clipPixels(image: ClipInput, config: ClipConfig, source = 'an image'): Promise<Float32Array> {
  return normalisedChw(await clipImage(image, config, source), config);
}

/** Rescale then normalise, rounding where numpy does (see channelTables). */
export function normalisedChw(rgb: RgbPixels, config: ClipConfig): Float32Array {
  const { width, height, pixels } = rgb;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const tables = channelTables(config);
  for (let c = 0; c < 3; c++) {
    const table = tables[c]!;
    for (let i = 0; i < plane; i++) out[c * plane + i] = table[pixels[i * 3 + c]!]!;
  }
  return out;
}

/** transformers' center_crop: top-left at floor((size - crop) / 2), zeros where the image is smaller than the crop. */
export function centerCrop(rgb: RgbPixels, crop: Size): RgbPixels {
  const top = Math.floor((rgb.height - crop.height) / 2);
  const left = Math.floor((rgb.width - crop.width) / 2);
  const out = new Uint8Array(crop.width * crop.height * 3);
  for (let y = 0; y < crop.height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= rgb.height) continue;
    const x0 = Math.max(0, -left);
    const x1 = Math.min(crop.width, rgb.width - left);
    if (x1 <= x0) continue;
    out.set(rgb.pixels.subarray((sy * rgb.width + x0 + left) * 3, (sy * rgb.width + x1 + left) * 3), (y * crop.width + x0) * 3);
  }
  return { width: crop.width, height: crop.height, pixels: out };
}

import sharp, { type Sharp } from 'sharp';
import { z } from 'zod';
import { PulseError, describeZodError, errorExcerpt } from '../../errors.ts';

// Each image is decoded once: libvips's operation cache would only hold memory.
sharp.cache(false);

/**
 * LLaVA-1.5's image preprocessing, as Hugging Face's slow (PIL-based) `CLIPImageProcessor` does
 * it: convert to RGB, resize so that the shortest side is `shortest_edge` (PIL bicubic), centre
 * crop, rescale by 1/255, normalise with the CLIP mean and std, channels first.
 *
 * sharp only decodes. The resize is PIL's `ImagingResample` rewritten below, because libvips's
 * resize cannot match PIL: measured on test/fixtures/clip-preprocess with sharp 0.35.5 (libvips
 * 8.18.7), `kernel: 'cubic'` was up to 3-11 levels off on the downscales and 58-190 off on the
 * three upscales (libvips places upsampled pixels differently), with `fastShrinkOnLoad: false`
 * and with the resize run on raw RGB; lanczos3 and mitchell were further off. The rewrite
 * matches PIL exactly there (max diff 0), and costs ~20 ms for 640x480, ~0.2 s for 4032x3024.
 */

const OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
const OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;
const BICUBIC = 3;
const RESAMPLE_NAMES: Record<number, string> = { 0: 'nearest', 1: 'lanczos', 2: 'bilinear', 3: 'bicubic', 4: 'box', 5: 'hamming' };

const side = z.number().int().positive();
const triple = z.union([z.number(), z.tuple([z.number(), z.number(), z.number()])], { error: 'expected a number or a list of 3 numbers (R, G, B)' });

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
  resample: z.number().int().nullish(),
  do_center_crop: z.boolean().nullish(),
  crop_size: z.union([side, z.object({ height: side, width: side }).strict()],
    { error: 'expected a positive integer or {"height": h, "width": w}' }).nullish(),
  do_rescale: z.boolean().nullish(),
  rescale_factor: z.number().positive().nullish(),
  do_normalize: z.boolean().nullish(),
  image_mean: triple.nullish(),
  image_std: triple.nullish(),
  do_convert_rgb: z.boolean().nullish(),
});
export type PreprocessorConfigJson = z.infer<typeof PreprocessorConfigJson>;

export interface Size { height: number; width: number }
type Triple = readonly [number, number, number];

/** A parsed config, with transformers' defaults filled in; null where a step is off. */
export interface ClipConfig {
  /** `shortestEdge`: the short side becomes it, the long one keeps the aspect; a Size: exactly that */
  resize: { shortestEdge: number } | Size | null;
  crop: Size | null;
  rescaleFactor: number | null;
  normalize: { mean: Triple; std: Triple } | null;
  convertRgb: boolean;
}

const asTriple = (v: number | Triple): Triple => (typeof v === 'number' ? [v, v, v] : v);

/** The config from a parsed preprocessor_config.json; `file` names it in errors. */
export function clipConfig(json: unknown, file: string): ClipConfig {
  const parsed = PreprocessorConfigJson.safeParse(json);
  if (!parsed.success) throw new PulseError(`${file}: ${describeZodError(parsed.error)}`);
  const c = parsed.data;
  const resample = c.resample ?? BICUBIC;
  if (c.do_resize !== false && resample !== BICUBIC) {
    const name = RESAMPLE_NAMES[resample] ?? 'unknown';
    throw new PulseError(`${file}: resample: only ${BICUBIC} (bicubic) is supported, got ${resample} (${name})`);
  }
  if (c.do_normalize !== false && asTriple(c.image_std ?? OPENAI_CLIP_STD).includes(0)) {
    throw new PulseError(`${file}: image_std: a standard deviation of 0 divides by zero`);
  }
  // transformers' get_size_dict: a bare number is a shortest edge for `size`, a square for `crop_size`.
  const size = c.size ?? { shortest_edge: 224 };
  const crop = c.crop_size ?? { height: 224, width: 224 };
  return {
    resize: c.do_resize === false ? null
      : typeof size === 'number' ? { shortestEdge: size }
      : 'shortest_edge' in size ? { shortestEdge: size.shortest_edge } : size,
    crop: c.do_center_crop === false ? null : typeof crop === 'number' ? { height: crop, width: crop } : crop,
    rescaleFactor: c.do_rescale === false ? null : c.rescale_factor ?? 1 / 255,
    normalize: c.do_normalize === false ? null
      : { mean: asTriple(c.image_mean ?? OPENAI_CLIP_MEAN), std: asTriple(c.image_std ?? OPENAI_CLIP_STD) },
    convertRgb: c.do_convert_rgb ?? true,
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

/** Raw RGB pixels, row-major HWC, 3 bytes a pixel. */
export interface RgbPixels { width: number; height: number; pixels: Uint8Array }
/** Encoded image bytes (PNG, JPEG...) or raw RGB pixels. */
export type ClipInput = Uint8Array | RgbPixels;

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

/**
 * Rescale then normalise, rounding where numpy does: rescale multiplies in float64 and stores
 * float32; normalise subtracts and divides in float32 with the mean and std cast to float32.
 * (A float32 difference or quotient computed in double and rounded once is the same float32.)
 */
export function normalisedChw(rgb: RgbPixels, config: ClipConfig): Float32Array {
  const { width, height, pixels } = rgb;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = channelValue(v, c, config);
    for (let i = 0; i < plane; i++) out[c * plane + i] = table[pixels[i * 3 + c]!]!;
  }
  return out;
}

function channelValue(v: number, channel: number, config: ClipConfig): number {
  const f = Math.fround;
  const x = config.rescaleFactor === null ? v : f(v * config.rescaleFactor);
  if (!config.normalize) return x;
  return f(f(x - f(config.normalize.mean[channel]!)) / f(config.normalize.std[channel]!));
}

async function decodeRgb(image: ClipInput, convertRgb: boolean, source: string): Promise<RgbPixels> {
  if (!(image instanceof Uint8Array)) return checkedRgb(image, source);
  try {
    // ignoreIcc: PIL neither applies an embedded colour profile nor honours EXIF orientation, so
    // neither is done here (sharp does the first by default; it rotates only when asked).
    const input = sharp(image, { ignoreIcc: true });
    if (!convertRgb) await requireRgb(input, source);
    // removeAlpha and greyscale -> sRGB are PIL's convert("RGB") for L, LA, RGBA and P images.
    const { data, info } = await input.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    if (e instanceof PulseError) throw e;
    throw new PulseError(`${source}: the image bytes cannot be decoded (${errorExcerpt(e)})`);
  }
}

/** With do_convert_rgb off transformers keeps 1 or 4 channels and then fails on a 3-value mean. */
async function requireRgb(input: Sharp, source: string): Promise<void> {
  const { channels, space } = await input.metadata();
  if (channels !== 3 || space !== 'srgb') {
    throw new PulseError(`${source}: has ${channels} channels (${space}) and do_convert_rgb is false: only RGB images can be used as they are`);
  }
}

function checkedRgb(image: RgbPixels, source: string): RgbPixels {
  const { width, height, pixels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || pixels.length !== width * height * 3) {
    throw new PulseError(`${source}: RGB pixels of ${pixels.length} bytes do not make a ${width}x${height} RGB image`);
  }
  return image;
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

// ---- PIL's bicubic resample (Pillow's libImaging/Resample.c, 8 bits a channel) ----

/** PIL's 8-bit resample keeps coefficients as fixed point with this many fraction bits. */
const PRECISION_BITS = 22;

/** Keys' cubic convolution with a = -0.5, PIL's BICUBIC; its support is 2. */
function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

interface Coefficients { ksize: number; first: Int32Array; count: Int32Array; k: Int32Array }

/**
 * Per output pixel, the first input pixel used, how many, and their fixed-point weights. On a
 * downscale the kernel is stretched by the scale (PIL's antialiasing); the weights are
 * normalised to sum 1 before they are rounded, as PIL does, so its rounding is the same.
 */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  // PIL multiplies by the reciprocal rather than dividing: the same double only that way.
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero, hence trunc and not floor.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) sum += (w[x] = bicubic((x + xmin - center + 0.5) * ss));
    for (let x = 0; x < n; x++) {
      const v = sum !== 0 ? w[x]! / sum : w[x]!;
      k[xx * ksize + x] = Math.trunc(v < 0 ? v * 2 ** PRECISION_BITS - 0.5 : v * 2 ** PRECISION_BITS + 0.5);
    }
    first[xx] = xmin;
    count[xx] = n;
  }
  return { ksize, first, count, k };
}

/** Rounds half up from the fixed-point sum and clamps to 0..255, as PIL's clip8 does. */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * One resample pass over one axis of an RGB image. `stride` steps along the resampled axis,
 * `step` along the other, both in pixels; the output is laid out the same way.
 */
function pass(src: Uint8Array, dst: Uint8Array, c: Coefficients, lines: number, inStride: number, inStep: number, outStride: number, outStep: number, outSize: number): void {
  const half = 1 << (PRECISION_BITS - 1);
  for (let line = 0; line < lines; line++) {
    for (let o = 0; o < outSize; o++) {
      let r = half, g = half, b = half;
      const base = o * c.ksize;
      let p = (line * inStep + c.first[o]! * inStride) * 3;
      for (let i = 0; i < c.count[o]!; i++, p += inStride * 3) {
        const w = c.k[base + i]!;
        r += src[p]! * w;
        g += src[p + 1]! * w;
        b += src[p + 2]! * w;
      }
      const q = (line * outStep + o * outStride) * 3;
      dst[q] = clip8(r);
      dst[q + 1] = clip8(g);
      dst[q + 2] = clip8(b);
    }
  }
}

/**
 * PIL's Image.resize(..., BICUBIC) on an RGB image: a horizontal pass, then a vertical one on
 * its uint8 result; an axis that keeps its size is not resampled (PIL skips it too).
 */
export function resampleBicubic(rgb: RgbPixels, width: number, height: number): RgbPixels {
  let { pixels } = rgb;
  if (width !== rgb.width) {
    const out = new Uint8Array(width * rgb.height * 3);
    pass(pixels, out, coefficients(rgb.width, width), rgb.height, 1, rgb.width, 1, width, width);
    pixels = out;
  }
  if (height !== rgb.height) {
    const out = new Uint8Array(width * height * 3);
    pass(pixels, out, coefficients(rgb.height, height), width, width, 1, width, 1, height);
    pixels = out;
  }
  return { width, height, pixels };
}

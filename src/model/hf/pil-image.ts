import sharp, { type Sharp } from 'sharp';
import { z } from 'zod';
import { PulseError, errorExcerpt } from '../../errors.ts';

// Each image is decoded once: libvips's operation cache would only hold memory.
sharp.cache(false);

/**
 * The image steps Hugging Face's slow (PIL-based) image processors share, exact to the bit:
 * decoding to RGB as PIL's convert("RGB") does, PIL's bicubic resize, and numpy's rescale and
 * normalise. LLaVA's CLIP preprocessing and Qwen2-VL's image processor are built on them.
 *
 * sharp only decodes. The resize is PIL's `ImagingResample` rewritten below, because libvips's
 * resize cannot match PIL: measured on test/fixtures/clip-preprocess with sharp 0.35.5 (libvips
 * 8.18.7), `kernel: 'cubic'` was up to 3-11 levels off on the downscales and 58-190 off on the
 * three upscales (libvips places upsampled pixels differently), with `fastShrinkOnLoad: false`
 * and with the resize run on raw RGB; lanczos3 and mitchell were further off. The rewrite
 * matches PIL exactly there (max diff 0), and costs ~20 ms for 640x480, ~0.2 s for 4032x3024.
 */

/** Raw RGB pixels, row-major HWC, 3 bytes a pixel. */
export interface RgbPixels { width: number; height: number; pixels: Uint8Array }
/** Encoded image bytes (PNG, JPEG...) or raw RGB pixels. */
export type RgbSource = Uint8Array | RgbPixels;
export type Triple = readonly [number, number, number];

const OPENAI_CLIP_MEAN: Triple = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_CLIP_STD: Triple = [0.26862954, 0.26130258, 0.27577711];
/** PIL's resample filter numbers, as preprocessor_config.json's `resample` holds them. */
const PIL_BICUBIC = 3;
const PIL_RESAMPLE_NAMES: Record<number, string> = { 0: 'nearest', 1: 'lanczos', 2: 'bilinear', 3: 'bicubic', 4: 'box', 5: 'hamming' };

const asTriple = (v: number | Triple): Triple => (typeof v === 'number' ? [v, v, v] : v);

/**
 * The image as RGB pixels. Encoded bytes are decoded as PIL does; with `convertRgb` off only an
 * RGB image is accepted (transformers keeps other channel counts and then fails on a 3-value mean).
 * `source` names the image in errors.
 */
export async function decodeRgb(image: RgbSource, convertRgb: boolean, source: string): Promise<RgbPixels> {
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

// ---- the config keys of these steps ----

const triple = z.union([z.number(), z.tuple([z.number(), z.number(), z.number()])], { error: 'expected a number or a list of 3 numbers (R, G, B)' });

/** The keys of a preprocessor_config.json for the steps above, in zod; null means "the default", as None does in transformers. */
export const PIXEL_STEP_KEYS = {
  resample: z.number().int().nullish(),
  do_rescale: z.boolean().nullish(),
  rescale_factor: z.number().positive().nullish(),
  do_normalize: z.boolean().nullish(),
  image_mean: triple.nullish(),
  image_std: triple.nullish(),
  do_convert_rgb: z.boolean().nullish(),
};
const PixelStepsJson = z.object(PIXEL_STEP_KEYS);

/** null where the processor's step is off. */
export interface PixelScaling {
  rescaleFactor: number | null;
  normalize: { mean: Triple; std: Triple } | null;
}

/**
 * The steps as a parsed config sets them, with transformers' defaults (1/255, CLIP's mean and
 * std); a resample other than bicubic (when the processor resizes) or a zero std is refused.
 */
export function pixelSteps(c: z.infer<typeof PixelStepsJson>, resizes: boolean, file: string): PixelScaling & { convertRgb: boolean } {
  const resample = c.resample ?? PIL_BICUBIC;
  if (resizes && resample !== PIL_BICUBIC) {
    throw new PulseError(`${file}: resample: only ${PIL_BICUBIC} (bicubic) is supported, got ${resample} (${PIL_RESAMPLE_NAMES[resample] ?? 'unknown'})`);
  }
  const std = asTriple(c.image_std ?? OPENAI_CLIP_STD);
  if (c.do_normalize !== false && std.includes(0)) throw new PulseError(`${file}: image_std: a standard deviation of 0 divides by zero`);
  return {
    rescaleFactor: c.do_rescale === false ? null : c.rescale_factor ?? 1 / 255,
    normalize: c.do_normalize === false ? null : { mean: asTriple(c.image_mean ?? OPENAI_CLIP_MEAN), std },
    convertRgb: c.do_convert_rgb ?? true,
  };
}

// ---- rescale and normalise, as numpy rounds them ----

/**
 * Per channel, the float32 value each byte becomes: what transformers' rescale then normalise
 * give. Rescale multiplies in float64 and stores float32; normalise subtracts and divides in
 * float32 with the mean and std cast to float32. (A float32 difference or quotient computed in
 * double and rounded once is the same float32.)
 */
export function channelTables(scaling: PixelScaling): [Float32Array, Float32Array, Float32Array] {
  const f = Math.fround;
  const table = (channel: number): Float32Array => {
    const out = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      const x = scaling.rescaleFactor === null ? v : f(v * scaling.rescaleFactor);
      const n = scaling.normalize;
      out[v] = n ? f(f(x - f(n.mean[channel]!)) / f(n.std[channel]!)) : x;
    }
    return out;
  };
  return [table(0), table(1), table(2)];
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

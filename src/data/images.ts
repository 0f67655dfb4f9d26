import sharp from 'sharp';
import { PulseError } from '../errors.ts';

// Every image is decoded once or twice, never by the same operation again: libvips's operation
// cache would only hold memory.
sharp.cache(false);

/** An image as a dataset stores it (PNG, JPEG, ...), with where it came from for error messages. */
export interface EncodedImage { kind: 'encoded'; bytes: Uint8Array; source: string }
/** Raw RGB pixels, row-major HWC, as the world's generators draw them. */
export interface RgbImage { kind: 'rgb'; width: number; height: number; pixels: Uint8Array }
/** What an example carries; each model turns it into its own input size and normalisation. */
export type ImageInput = EncodedImage | RgbImage;

export function rgbImage(pixels: Uint8Array, size: number): RgbImage {
  return { kind: 'rgb', width: size, height: size, pixels };
}

/** PNG bytes of an RGB image (HWC). */
export async function encodePng(rgb: Uint8Array, size: number): Promise<Uint8Array> {
  // compressionLevel and no metadata keep the bytes the same from run to run.
  return new Uint8Array(await sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer());
}

/** Photos of people and benchmark scenes are a few megapixels; beyond this an image is taken as hostile (150 MB as RGB). */
export const MAX_IMAGE_PIXELS = 50_000_000;

function decodeFailure(where: string, e: unknown): PulseError {
  return new PulseError(`${where}: the image bytes cannot be decoded (${(e as Error).message.split('\n')[0]})`);
}

/**
 * Checks that dataset image bytes decode, so that a broken image is reported with its file,
 * row and field when the data is loaded, not in the middle of a run.
 */
export async function checkedImage(bytes: Uint8Array, where: string): Promise<EncodedImage> {
  try {
    // the size in its header is checked before a pixel is decoded: a small file can claim gigapixels
    await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS }).raw().toBuffer();
  } catch (e) {
    throw decodeFailure(where, e);
  }
  return { kind: 'encoded', bytes, source: where };
}

/**
 * An image as size x size RGB (HWC): resized to cover the square and centred, as a model with a
 * square input takes it. An image that is already that size comes back as it is.
 */
export async function squareRgb(image: ImageInput, size: number): Promise<Uint8Array> {
  if (image.kind === 'rgb' && image.width === size && image.height === size) return image.pixels;
  const input = image.kind === 'rgb'
    ? sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    : sharp(image.bytes, { limitInputPixels: MAX_IMAGE_PIXELS });
  try {
    const { data, info } = await input.removeAlpha().resize(size, size, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels`);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (e) {
    throw decodeFailure(image.kind === 'encoded' ? image.source : 'an RGB image', e);
  }
}

import sharp from 'sharp';
import { PulseError } from '../errors.ts';

/** PNG bytes of an RGB image (HWC). */
export async function encodePng(rgb: Uint8Array, size: number): Promise<Uint8Array> {
  // compressionLevel and no metadata keep the bytes the same from run to run.
  return new Uint8Array(await sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer());
}

/**
 * Decodes image bytes (PNG, JPEG, ...) to RGB HWC at size x size. Real datasets ship larger
 * photos: they are resized (cover, centred) to the model's input size.
 */
export async function decodeImage(bytes: Uint8Array, size: number, where: string): Promise<Uint8Array> {
  try {
    const { data, info } = await sharp(bytes).removeAlpha().resize(size, size, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels`);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (e) {
    throw new PulseError(`${where}: the image bytes cannot be decoded (${(e as Error).message})`);
  }
}

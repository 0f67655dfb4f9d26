import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.ts';

/**
 * The safetensors file format (Hugging Face), at the byte level: 8-byte little-endian header
 * length N, N bytes of UTF-8 JSON header, then the data buffer. Every malformed input is
 * rejected with a SafetensorsError naming the source; no read goes past the buffer.
 */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'BOOL';
export const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 };

export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** little-endian bytes; a view into the file's buffer when read */
  data: Uint8Array;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

const MAX_HEADER = 100 * 1024 * 1024;

export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): { metadata: Record<string, string>; tensors: Map<string, RawTensor> } {
  const fail = (why: string): never => { throw new SafetensorsError(`${source}: not a valid safetensors file: ${why}`); };
  if (bytes.length < 8) fail(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER)) fail(`header length ${headerLength} exceeds ${MAX_HEADER} bytes`);
  const n = Number(headerLength);
  if (8 + n > bytes.length) fail(`header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const entries: [string, RawTensor, number, number][] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata value '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) fail(`tensor '${name}' has no description`);
    if (typeof info.dtype !== 'string' || !(info.dtype in DTYPE_BYTES)) fail(`tensor '${name}' has unknown dtype ${JSON.stringify(info.dtype)}`);
    const dtype = info.dtype as SafetensorsDtype;
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(info.shape)}`);
    const shape = info.shape as number[];
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) fail(`tensor '${name}' spans ${end - begin} bytes but its shape [${shape.join(', ')}] of ${dtype} needs ${expected}`);
    if (end > data.length) fail(`tensor '${name}' ends at byte ${end}, past the data buffer (${data.length} bytes): the file is truncated`);
    entries.push([name, { dtype, shape, data: data.subarray(begin, end) }, begin, end]);
  }
  // The reference implementation requires the tensors to tile the buffer exactly: no overlap, no hole.
  const byOffset = [...entries].sort((a, b) => a[2] - b[2] || a[3] - b[3]);
  let cursor = 0;
  for (const [name, , begin, end] of byOffset) {
    if (begin !== cursor) fail(begin < cursor ? `tensor '${name}' overlaps another tensor` : `a hole of ${begin - cursor} bytes precedes tensor '${name}'`);
    cursor = end;
  }
  if (cursor !== data.length) fail(`${data.length - cursor} bytes after the last tensor are not described by the header`);
  return { metadata, tensors: new Map(entries.map(([name, t]) => [name, t])) };
}

export function serializeSafetensors(tensors: Map<string, RawTensor> | Record<string, RawTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const list = [...(tensors instanceof Map ? tensors : new Map(Object.entries(tensors)))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (t.data.length !== expected) throw new SafetensorsError(`tensor '${name}': ${t.data.length} bytes do not match shape [${t.shape.join(', ')}] of ${t.dtype} (${expected} bytes)`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = JSON.stringify(header);
  const encoded = () => new TextEncoder().encode(json);
  // Pad with spaces so the data starts 8-byte aligned.
  while ((8 + encoded().length) % 8 !== 0) json += ' ';
  const head = encoded();
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const [, t] of list) { out.set(t.data, at); at += t.data.length; }
  return out;
}

export async function readSafetensorsFile(path: string): Promise<{ metadata: Record<string, string>; tensors: Map<string, RawTensor> }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseSafetensors(bytes, path);
}

/** Writes atomically (see writeFileAtomic): a crash never leaves a half-written model. */
export async function writeSafetensorsFile(path: string, tensors: Map<string, RawTensor> | Record<string, RawTensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

// --- half-precision conversions (for callers that want floats without libtorch) ---

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

export function f16ToF32(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.length / 2 }, (_, i) => halfToFloat(view.getUint16(2 * i, true)));
}

export function bf16ToF32(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 2);
  const wide = new DataView(out.buffer);
  for (let i = 0; i < out.length; i++) wide.setUint32(4 * i, view.getUint16(2 * i, true) << 16, true);
  return out;
}

export function f32ToBf16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const b = bits[i]!;
    // NaN stays NaN; otherwise round to nearest, ties to even.
    const rounded = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    view.setUint16(2 * i, rounded & 0xffff, true);
  }
  return out;
}

export function f32ToF16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i]!;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) h = sign | 0x7c00 | (mant ? 0x200 : 0);
    else {
      const e = exp - 127 + 15;
      if (e >= 0x1f) h = sign | 0x7c00; // overflow to infinity
      else if (e <= 0) {
        if (e < -10) h = sign; // underflow to zero
        else {
          mant |= 0x800000;
          const shift = 14 - e;
          let half = mant >>> shift;
          const rest = mant & ((1 << shift) - 1);
          const mid = 1 << (shift - 1);
          if (rest > mid || (rest === mid && half & 1)) half++;
          h = sign | half;
        }
      } else {
        let half = (e << 10) | (mant >>> 13);
        const rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
        h = sign | half; // a carry into the exponent is the correct rounding
      }
    }
    view.setUint16(2 * i, h, true);
  }
  return out;
}

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { writeFileAtomic } from '../atomic-file.ts';
import { PulseError } from '../errors.ts';
import { describeJsonError } from '../input-file.ts';

/**
 * The safetensors file format (Hugging Face), at the byte level and without any tensor library:
 * an 8-byte little-endian header length N, N bytes of UTF-8 JSON header, then the data buffer.
 * Files come from outside (downloaded checkpoints), so every malformed input is rejected with a
 * SafetensorsError naming the source, before any read could leave the buffer.
 */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({ F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 });

export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** little-endian, C-order bytes; when read, a view into the file's buffer (no copy) */
  data: Uint8Array;
}

export interface SafetensorsContents {
  metadata: Record<string, string>;
  /** in file order (by data offset) */
  tensors: Map<string, RawTensor>;
}

/** A PulseError, so that the CLI prints a bad checkpoint as its one-line message, without a stack trace. */
export class SafetensorsError extends PulseError {
  override name = 'SafetensorsError';
  /** the file path (or '<buffer>') the problem was found in, for callers that report it apart */
  readonly source: string | undefined;
  constructor(message: string, source?: string, options?: ErrorOptions) {
    super(message, options);
    this.source = source;
  }
}

/** The reference implementation's limit (100 MB, decimal): a larger header is taken as corrupt. */
const MAX_HEADER_BYTES = 100_000_000;

/**
 * The reference sorts tensors by this rank (its Dtype enum order, increasing alignment), largest
 * first: each tensor then starts at a multiple of its element size, so typed-array views work.
 */
const ALIGNMENT_RANK: Readonly<Record<SafetensorsDtype, number>> = { BOOL: 0, U8: 1, F16: 7, BF16: 8, I32: 9, F32: 11, I64: 13 };

const DTYPES = Object.keys(DTYPE_BYTES).join(', ');

// `in` would accept inherited names such as "toString" as dtypes.
const isDtype = (x: unknown): x is SafetensorsDtype => typeof x === 'string' && Object.hasOwn(DTYPE_BYTES, x);
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
// The reference (Rust strings) cannot hold a lone UTF-16 surrogate, which JSON \u escapes can name.
const hasLoneSurrogate = (s: string) => /\p{Cs}/u.test(s);

/** Names and values from a hostile header can be megabytes long or deeply nested: keep messages short. */
function quote(s: string): string {
  return `'${s.length > 80 ? `${s.slice(0, 80)}...` : s}'`;
}
function describe(x: unknown): string {
  if (x === undefined) return 'missing';
  if (Array.isArray(x)) {
    if (x.length <= 8 && x.every((v) => v === null || typeof v !== 'object')) return `[${x.map(describe).join(',')}]`;
    return `an array of ${x.length} items`;
  }
  if (typeof x === 'object' && x !== null) return 'an object';
  // String() rather than JSON so that an out-of-range number shows as Infinity, not null.
  const text = typeof x === 'string' ? JSON.stringify(x) : String(x);
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
function shapeText(shape: readonly number[]): string {
  return shape.length <= 8 ? `[${shape.join(', ')}]` : `[${shape.slice(0, 8).join(', ')}, ... (${shape.length} dims)]`;
}

// BigInt so that a hostile shape such as [2^40, 2^40] cannot round to a plausible byte count.
function byteSize(shape: readonly number[], dtype: SafetensorsDtype): bigint {
  let n = BigInt(DTYPE_BYTES[dtype]);
  for (const d of shape) n *= BigInt(d);
  return n;
}

/**
 * JSON.parse silently keeps the last of repeated keys, so a header naming a tensor twice would
 * be read as something its writer did not mean. The text is known to be valid JSON here, which
 * keeps this scan simple: a string is a key when it opens an object member.
 */
function findDuplicateKey(text: string): string | undefined {
  const objects: (Set<string> | null)[] = []; // null marks an array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      for (let d = text.charCodeAt(j); d !== 0x22; d = text.charCodeAt(j)) {
        if (d === 0x5c) { escaped = true; j += 2; } else j += 1;
      }
      const keys = objects[objects.length - 1];
      if (expectKey && keys) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) { objects.push(new Set()); expectKey = true; }
    else if (c === 0x5b) { objects.push(null); expectKey = false; }
    else if (c === 0x7d || c === 0x5d) { objects.pop(); expectKey = false; }
    else if (c === 0x2c) expectKey = Boolean(objects[objects.length - 1]);
  }
  return undefined;
}

/** A tensor's place in a file: [begin, end) bytes within the data buffer, which starts at `dataStart`. */
export interface TensorEntry { dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** in file order (by data offset) */
  entries: Map<string, TensorEntry>;
  /** the file offset of the data buffer */
  dataStart: number;
}

/** How many bytes of a file hold its header (8 + the declared length), from its first 8 bytes. */
export function headerSize(first8: Uint8Array, source: string): number {
  if (first8.length < 8) throw new SafetensorsError(`${source}: not a valid safetensors file: ${first8.length} bytes, shorter than the 8-byte header length`, source);
  const declared = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`${source}: not a valid safetensors file: header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`, source);
  }
  return 8 + Number(declared);
}

/**
 * The header of a safetensors file of `fileLength` bytes, from a prefix of it (at least
 * headerSize bytes): what a reader needs to fetch single tensors from a file too large to hold.
 */
export function parseSafetensorsHeader(prefix: Uint8Array, fileLength: number, source = '<buffer>'): SafetensorsHeader {
  const fail: (why: string) => never = (why) => {
    throw new SafetensorsError(`${source}: not a valid safetensors file: ${why}`, source);
  };
  if (!(prefix instanceof Uint8Array)) fail(`expected bytes (a Uint8Array), got ${describe(prefix)}`);
  if (fileLength < 8) fail(`${fileLength} bytes, shorter than the 8-byte header length`);
  const n = headerSize(prefix, source) - 8;
  if (n > fileLength - 8) fail(`header length ${n} runs past the end of the file (${fileLength} bytes): the file is truncated`);
  if (prefix.length < 8 + n) throw new RangeError(`the prefix holds ${prefix.length} bytes; the header needs ${8 + n}`);

  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so JSON.parse rejects it as the reference does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(prefix.subarray(8, 8 + n));
  } catch {
    fail('header is not UTF-8 JSON: it is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not UTF-8 JSON: ${describeJsonError(e as Error, text)}`);
  }
  if (!isPlainObject(header)) fail(`header is not a JSON object but ${header === null ? 'null' : describe(header)}`);
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) fail(`header has the key ${quote(duplicate)} more than once`);

  const dataLength = fileLength - 8 - n;
  const metadata: [string, string][] = [];
  const found: { name: string; entry: TensorEntry }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (value === null) continue; // the reference reads null as "no metadata"
      if (!isPlainObject(value)) fail(`__metadata__ is ${describe(value)}, not an object of strings`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') fail(`metadata value ${quote(k)} is not a string but ${v === null ? 'null' : describe(v)}`);
        if (hasLoneSurrogate(k) || hasLoneSurrogate(v)) fail(`metadata entry ${quote(k)} is not valid Unicode (a lone surrogate)`);
        metadata.push([k, v]);
      }
      continue;
    }
    const what = `tensor ${quote(name)}`;
    if (hasLoneSurrogate(name)) fail(`${what} has a name that is not valid Unicode (a lone surrogate)`);
    if (!isPlainObject(value)) fail(`${what} is described by ${value === null ? 'null' : describe(value)}, not an object`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (!isDtype(dtype)) fail(`${what} has unknown dtype ${describe(dtype)} (known: ${DTYPES})`);
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${what} has an invalid shape ${describe(shape)}: expected an array of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`${what} has invalid data_offsets ${describe(offsets)}: expected [begin, end], two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`${what} has invalid data_offsets [${begin}, ${end}]: begin is after end`);
    const needed = byteSize(shape, dtype);
    if (BigInt(end - begin) !== needed) fail(`${what} spans ${end - begin} bytes but its shape ${shapeText(shape)} of ${dtype} needs ${needed}`);
    if (end > dataLength) fail(`${what} ends at byte ${end}, past the data buffer (${dataLength} bytes): the file is truncated`);
    found.push({ name, entry: { dtype, shape, begin, end } });
  }

  // The reference requires the tensors to tile the data buffer exactly: no overlap, no hole, no tail.
  found.sort((a, b) => a.entry.begin - b.entry.begin || a.entry.end - b.entry.end);
  let cursor = 0;
  let previous: (typeof found)[number] | undefined;
  for (const { name, entry } of found) {
    if (entry.begin < cursor && previous) {
      fail(`tensor ${quote(name)} (bytes ${entry.begin}..${entry.end}) overlaps tensor ${quote(previous.name)} (bytes ${previous.entry.begin}..${previous.entry.end})`);
    }
    if (entry.begin > cursor) fail(`a hole of ${entry.begin - cursor} bytes (bytes ${cursor}..${entry.begin}) precedes tensor ${quote(name)}`);
    cursor = entry.end;
    previous = { name, entry };
  }
  if (cursor !== dataLength) fail(`${dataLength - cursor} bytes after the last tensor are not described by the header`);
  // fromEntries defines own properties, so a key such as "__proto__" is kept rather than swallowed.
  return { metadata: Object.fromEntries(metadata), entries: new Map(found.map((t) => [t.name, t.entry])), dataStart: 8 + n };
}

export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsContents {
  if (!(bytes instanceof Uint8Array)) {
    throw new SafetensorsError(`${source}: not a valid safetensors file: expected bytes (a Uint8Array), got ${describe(bytes)}`, source);
  }
  const { metadata, entries, dataStart } = parseSafetensorsHeader(bytes, bytes.length, source);
  const tensors = new Map<string, RawTensor>();
  // A plain Uint8Array view even when given a Node Buffer, so callers see one type.
  for (const [name, e] of entries) {
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset + dataStart + e.begin, e.end - e.begin) });
  }
  return { metadata, tensors };
}

/** Rust compares names as UTF-8 bytes; JS `<` compares UTF-16 units, which differs above U+FFFF. */
function compareUtf8(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function encode(source: string, tensors: Map<string, RawTensor> | Record<string, RawTensor>, metadata: Record<string, string> | undefined): Uint8Array {
  const fail: (why: string) => never = (why) => {
    throw new SafetensorsError(`${source}: cannot write safetensors: ${why}`, source);
  };
  const utf8 = new TextEncoder();
  const entries = tensors instanceof Map ? [...tensors] : isPlainObject(tensors) ? Object.entries(tensors) : fail(`tensors must be a Map or an object, got ${describe(tensors)}`);
  const list = entries.map(([name, t]) => {
    if (typeof name !== 'string') fail(`tensor names must be strings, got ${describe(name)}`);
    const what = `tensor ${quote(name)}`;
    if (name === '__metadata__') fail(`a tensor cannot be named '__metadata__' (the header reserves it)`);
    if (hasLoneSurrogate(name)) fail(`${what} has a name that is not valid Unicode (a lone surrogate)`);
    if (!isPlainObject(t)) fail(`${what} is ${describe(t)}, not a RawTensor`);
    if (!isDtype(t.dtype)) fail(`${what} has unknown dtype ${describe(t.dtype)} (known: ${DTYPES})`);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) fail(`${what} has an invalid shape ${describe(t.shape)}: expected an array of non-negative integers`);
    if (!(t.data instanceof Uint8Array)) fail(`${what} has data ${describe(t.data)}, not a Uint8Array`);
    const needed = byteSize(t.shape, t.dtype);
    if (BigInt(t.data.length) !== needed) fail(`${what}: ${t.data.length} bytes do not match shape ${shapeText(t.shape)} of ${t.dtype} (${needed} bytes)`);
    return { name, key: utf8.encode(name), tensor: t };
  });
  list.sort((a, b) => ALIGNMENT_RANK[b.tensor.dtype] - ALIGNMENT_RANK[a.tensor.dtype] || compareUtf8(a.key, b.key));

  const members: string[] = [];
  if (metadata !== undefined && metadata !== null) {
    if (!isPlainObject(metadata)) fail(`metadata must be an object of strings, got ${describe(metadata)}`);
    // The reference writes its metadata map in hash order; sorted keys make the bytes reproducible.
    const pairs = Object.entries(metadata).map(([k, v]) => {
      if (typeof v !== 'string') fail(`metadata value ${quote(k)} is not a string but ${v === null ? 'null' : describe(v)}`);
      if (hasLoneSurrogate(k) || hasLoneSurrogate(v)) fail(`metadata entry ${quote(k)} is not valid Unicode (a lone surrogate)`);
      return { k, key: utf8.encode(k), v };
    });
    pairs.sort((a, b) => compareUtf8(a.key, b.key));
    if (pairs.length) members.push(`"__metadata__":{${pairs.map(({ k, v }) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let offset = 0;
  for (const { name, tensor } of list) {
    const end = offset + tensor.data.length;
    members.push(`${JSON.stringify(name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const head = utf8.encode(`{${members.join(',')}}`);
  // Spaces up to a multiple of 8 so that the data buffer starts 8-byte aligned.
  const padded = head.length + ((8 - (head.length % 8)) % 8);
  if (padded > MAX_HEADER_BYTES) fail(`the header would be ${padded} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers enforce`);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(head, 8);
  out.fill(0x20, 8 + head.length, 8 + padded);
  let at = 8 + padded;
  for (const { tensor } of list) {
    out.set(tensor.data, at);
    at += tensor.data.length;
  }
  return out;
}

/**
 * Deterministic bytes, identical to the reference implementation's `serialize`: tensors ordered by
 * descending dtype alignment, then by name; compact JSON; metadata (omitted when empty) first,
 * its keys sorted.
 */
export function serializeSafetensors(tensors: Map<string, RawTensor> | Record<string, RawTensor>, metadata: Record<string, string> = {}): Uint8Array {
  return encode('<buffer>', tensors, metadata);
}

/** Node 20 caps one buffer at 4 GiB and one read at 2 GiB: reads go in chunks. */
const READ_CHUNK = 1 << 28;

/**
 * A safetensors file opened for reading tensor by tensor: its header is read first (at most
 * MAX_HEADER_BYTES, all of it checked against the file's size: dtypes, shapes, offsets, tiling), so
 * that a caller can refuse the file on what the header says (its metadata, names, shapes) before a
 * byte of tensor data is read, and hold one tensor's bytes at a time.
 */
export interface SafetensorsFile extends SafetensorsHeader {
  path: string;
  /** the file's size in bytes */
  size: number;
  /** A tensor's bytes, read into `into` (a scratch buffer, reused when large enough) or a new buffer. */
  read(name: string, into?: Uint8Array): Uint8Array;
  close(): void;
}

export function openSafetensorsFile(path: string): SafetensorsFile {
  const cannot = (why: string, cause?: unknown): never => {
    throw new SafetensorsError(`${path}: cannot read safetensors file: ${why}`, path, cause === undefined ? undefined : { cause });
  };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return cannot(ioReason(e), e);
  }
  const readAt = (into: Uint8Array, position: number) => {
    for (let filled = 0; filled < into.length;) {
      let read: number;
      try {
        read = readSync(fd, into, filled, Math.min(READ_CHUNK, into.length - filled), position + filled);
      } catch (e) {
        return cannot(ioReason(e), e);
      }
      // Without this a file truncated by another process would spin here forever.
      if (read === 0) cannot(`the file ended at byte ${position + filled} while being read (was it truncated or changed?)`);
      filled += read;
    }
    return into;
  };
  try {
    let size = 0;
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) cannot('not a regular file');
      size = stat.size;
    } catch (e) {
      if (e instanceof SafetensorsError) throw e;
      cannot(ioReason(e), e);
    }
    const first8 = readAt(new Uint8Array(Math.min(8, size)), 0);
    const prefix = readAt(new Uint8Array(Math.min(headerSize(first8, path), size)), 0);
    const header = parseSafetensorsHeader(prefix, size, path);
    return {
      ...header, path, size,
      read: (name, into) => {
        const entry = header.entries.get(name);
        if (!entry) throw new SafetensorsError(`${path}: no tensor named ${quote(name)}`, path);
        const length = entry.end - entry.begin;
        return readAt(into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length), header.dataStart + entry.begin);
      },
      close: () => { try { closeSync(fd); } catch { /* closed already */ } },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Every tensor of a file, as views into one buffer of its data (read once its header is known to be sound). */
export async function readSafetensorsFile(path: string): Promise<SafetensorsContents> {
  const file = openSafetensorsFile(path);
  try {
    const length = file.size - file.dataStart;
    if (length > bufferConstants.MAX_LENGTH) {
      throw new SafetensorsError(`${path}: cannot read safetensors file: ${length} bytes of tensors is more than this Node can hold in one buffer`, path);
    }
    let data: Uint8Array;
    try {
      data = new Uint8Array(length);
    } catch (e) {
      throw new SafetensorsError(`${path}: cannot read safetensors file: out of memory for ${length} bytes`, path, { cause: e });
    }
    const tensors = new Map<string, RawTensor>();
    for (const [name, e] of file.entries) {
      tensors.set(name, { dtype: e.dtype, shape: e.shape, data: file.read(name, data.subarray(e.begin, e.end)) });
    }
    return { metadata: file.metadata, tensors };
  } finally {
    file.close();
  }
}

/**
 * Atomic (temp file in the same folder, fsync, rename; see writeFileAtomic): a crash or a failed
 * write never leaves a half-written model where a reader or a resumed run would pick it up.
 * Invalid tensors are rejected before anything touches the disk.
 */
export async function writeSafetensorsFile(path: string, tensors: Map<string, RawTensor> | Record<string, RawTensor>, metadata: Record<string, string> = {}): Promise<void> {
  // a failed write is the write layer's one-line WriteError, naming the file
  await writeFileAtomic(path, encode(path, tensors, metadata));
}

function ioReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code} (${err.message})` : String(err?.message ?? e);
}

// --- half-precision conversions, for callers that want floats without libtorch ---

function checkPairs(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length % 2 !== 0) {
    throw new SafetensorsError(`${what}: expected a Uint8Array of 2-byte values, got ${bytes instanceof Uint8Array ? `${bytes.length} bytes` : describe(bytes)}`);
  }
}

/** All 65536 halves, exactly (each is representable in float32); built on first use. */
let halfTable: Float32Array | undefined;
function halves(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exponent = (h >> 10) & 0x1f;
      const fraction = h & 0x3ff;
      halfTable[h] = exponent === 0 ? sign * 2 ** -24 * fraction
        : exponent === 0x1f ? (fraction ? Number.NaN : sign * Infinity)
          : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
    }
  }
  return halfTable;
}

/** IEEE float16 little-endian bytes (any alignment) to floats. */
export function f16ToF32(bytes: Uint8Array): Float32Array {
  checkPairs(bytes, 'f16ToF32');
  const table = halves();
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = table[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  return out;
}

/** bfloat16 little-endian bytes to floats: a bfloat16 is the top half of a float32, so this is exact. */
export function bf16ToF32(bytes: Uint8Array): Float32Array {
  checkPairs(bytes, 'bf16ToF32');
  const out = new Float32Array(bytes.length / 2);
  // Same platform endianness as `out`, whatever the machine's.
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) bits[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
  return out;
}

/** Floats to bfloat16 little-endian bytes, rounding to nearest, ties to even; NaN stays a (quiet) NaN. */
export function f32ToBf16Bytes(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const b = bits[i]!;
    // Rounding could carry a NaN's payload into the sign bit, so NaNs keep their top bits instead.
    const h = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = (h >>> 8) & 0xff;
  }
  return out;
}

/**
 * Floats to IEEE float16 little-endian bytes, rounding to nearest, ties to even (as a hardware
 * conversion does): too large becomes infinity, too small a subnormal or zero, NaN a quiet NaN.
 */
export function f32ToF16Bytes(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    const e = exp - 127 + 15; // the exponent re-biased for float16
    let h: number;
    if (exp === 0xff) h = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
    else if (e >= 0x1f) h = sign | 0x7c00;
    else if (e <= 0) {
      // Subnormal in float16 (or zero): shift the full significand down to units of 2^-24.
      if (e < -10) h = sign;
      else {
        const m = mant | 0x800000;
        const shift = 14 - e;
        const rest = m & ((1 << shift) - 1);
        const mid = 1 << (shift - 1);
        let half = m >>> shift;
        if (rest > mid || (rest === mid && half & 1)) half++;
        h = sign | half; // rounding up into 0x400 is the correct smallest normal
      }
    } else {
      let half = (e << 10) | (mant >>> 13);
      const rest = mant & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
      h = sign | half; // a carry into the exponent is the correct rounding, up to infinity
    }
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

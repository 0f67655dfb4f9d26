import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WriteError } from '../../src/atomic-file.ts';
import {
  DTYPE_BYTES, SafetensorsError, parseSafetensors, serializeSafetensors, readSafetensorsFile, writeSafetensorsFile,
  f16ToF32, bf16ToF32, f32ToF16Bytes, f32ToBf16Bytes, type RawTensor, type SafetensorsDtype,
} from '../../src/torch/safetensors-format.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const u16le = (...values: number[]) => Uint8Array.from(values.flatMap((v) => [v & 0xff, v >>> 8]));
const bitsOf16 = (bytes: Uint8Array) => Array.from({ length: bytes.length / 2 }, (_, i) => bytes[2 * i]! | (bytes[2 * i + 1]! << 8));

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
function le64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}
/** A file from a header text and data bytes, with the header length computed (not padded). */
function file(header: string | Uint8Array, data: Uint8Array | number[] = new Uint8Array(16)): Uint8Array {
  const head = typeof header === 'string' ? utf8(header) : header;
  return concat(le64(BigInt(head.length)), head, data);
}
const f32 = (...v: number[]) => bytesOf(Float32Array.from(v));

function assertRejected(fn: () => unknown, source: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected a SafetensorsError, got ${String(e)}`);
    assert.equal(e.source, source);
    assert.ok(e.message.startsWith(`${source}: `), e.message);
    assert.match(e.message, pattern);
    assert.ok(e.message.length < 400, `message too long (${e.message.length})`);
    return true;
  });
}
const rejects = (bytes: Uint8Array, pattern: RegExp) => assertRejected(() => parseSafetensors(bytes, 'model.safetensors'), 'model.safetensors', pattern);

/** A small deterministic PRNG (mulberry32), so the mutation test is reproducible. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('reads a hand-built file to known values, as views into the file buffer', () => {
  const header = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"n":{"dtype":"I64","shape":[],"data_offsets":[16,24]}}  ';
  const bytes = Uint8Array.from([
    0x90, 0, 0, 0, 0, 0, 0, 0, // 144: 142 bytes of JSON and 2 spaces
    ...utf8(header),
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x00, 0xbf, // 1, 2, 3, -0.5
    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // -2
  ]);
  assert.equal(header.length, 144);
  const { metadata, tensors } = parseSafetensors(bytes);
  assert.deepEqual(metadata, { format: 'pt' });
  assert.deepEqual([...tensors.keys()], ['w', 'n']);
  const w = tensors.get('w')!;
  assert.equal(w.dtype, 'F32');
  assert.deepEqual(w.shape, [2, 2]);
  assert.deepEqual([...new Float32Array(w.data.slice().buffer)], [1, 2, 3, -0.5]);
  assert.equal(w.data.buffer, bytes.buffer, 'no copy');
  assert.equal(w.data.byteOffset, 152);
  const n = tensors.get('n')!;
  assert.deepEqual(n.shape, []);
  assert.equal(new DataView(n.data.buffer, n.data.byteOffset, 8).getBigInt64(0, true), -2n);
});

test('tensors come back in file order, whatever the header order', () => {
  const { tensors } = parseSafetensors(file('{"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}', [1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual([...tensors.keys()], ['a', 'b']);
  assert.deepEqual([...tensors.get('b')!.data], [5, 6, 7, 8]);
});

test('a Node Buffer input gives plain Uint8Array views sharing its memory', () => {
  const buffer = Buffer.from(serializeSafetensors({ x: { dtype: 'U8', shape: [2], data: Uint8Array.from([9, 8]) } }));
  const x = parseSafetensors(buffer).tensors.get('x')!;
  assert.equal(Object.getPrototypeOf(x.data), Uint8Array.prototype);
  buffer[buffer.length - 1] = 7;
  assert.deepEqual([...x.data], [9, 7]);
});

test('serialized bytes match the reference implementation byte for byte', () => {
  // The expected files of the reference's own tests (huggingface/safetensors, tensor.rs).
  assert.deepEqual(serializeSafetensors({}), concat([8, 0, 0, 0, 0, 0, 0, 0], utf8('{}      ')));
  assert.deepEqual(serializeSafetensors(new Map(), { framework: 'pt' }), concat([40, 0, 0, 0, 0, 0, 0, 0], utf8('{"__metadata__":{"framework":"pt"}}     ')));
  const data = f32(0, 1, 2, 3, 4, 5);
  assert.deepEqual(
    serializeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } }),
    concat([72, 0, 0, 0, 0, 0, 0, 0], utf8('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       '), data),
  );
  assert.deepEqual(
    serializeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } }),
    concat([64, 0, 0, 0, 0, 0, 0, 0], utf8('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'), data),
  );
});

test('round trip of every dtype, scalars, empty tensors and metadata', () => {
  const tensors: Record<string, RawTensor> = {
    'layer.0.weight': { dtype: 'F32', shape: [2, 3], data: f32(1.5, -2, 3, 0, -0, 1e-30) },
    half: { dtype: 'F16', shape: [3], data: f32ToF16Bytes(Float32Array.from([1, -2, 0.5])) },
    brain: { dtype: 'BF16', shape: [1, 1], data: f32ToBf16Bytes(Float32Array.from([3])) },
    ids: { dtype: 'I64', shape: [2, 1], data: bytesOf(BigInt64Array.from([5n, -(2n ** 63n)])) },
    counts: { dtype: 'I32', shape: [], data: bytesOf(Int32Array.from([-7])) },
    pixels: { dtype: 'U8', shape: [5], data: Uint8Array.from([0, 1, 127, 128, 255]) },
    mask: { dtype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Uint8Array(0) },
  };
  const metadata = Object.fromEntries([['format', 'pt'], ['note', 'ünïcödé 😀 "quoted"\n'], ['empty', ''], ['__proto__', 'kept']]);
  const bytes = serializeSafetensors(tensors, metadata);
  const back = parseSafetensors(bytes);
  assert.deepEqual(back.metadata, metadata);
  assert.equal(Object.getPrototypeOf(back.metadata), Object.prototype);
  assert.deepEqual(new Set(back.tensors.keys()), new Set(Object.keys(tensors)));
  for (const [name, t] of Object.entries(tensors)) {
    const got = back.tensors.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.deepEqual([...got.data], [...t.data], name);
  }
  assert.deepEqual([...f16ToF32(back.tensors.get('half')!.data)], [1, -2, 0.5]);
  assert.deepEqual([...bf16ToF32(back.tensors.get('brain')!.data)], [3]);
});

test('output is deterministic: independent of insertion order, Map or Record', () => {
  const a: RawTensor = { dtype: 'F32', shape: [1], data: f32(1) };
  const b: RawTensor = { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) };
  const c: RawTensor = { dtype: 'F32', shape: [2], data: f32(2, 3) };
  const one = serializeSafetensors(new Map([['a', a], ['b', b], ['c', c]]), { x: '1', y: '2' });
  const two = serializeSafetensors({ c, b, a }, { y: '2', x: '1' });
  assert.deepEqual(one, two);
  assert.match(new TextDecoder().decode(one.subarray(8, 8 + 16)), /^\{"__metadata__":/);
});

test('layout follows the reference: dtype alignment first, then name as UTF-8 bytes; every tensor aligned', () => {
  const dtypes: SafetensorsDtype[] = ['BOOL', 'U8', 'F16', 'BF16', 'I32', 'F32', 'I64'];
  const tensors = new Map<string, RawTensor>(dtypes.map((dtype, i) => [`${String.fromCharCode(97 + i)}_${dtype}`, { dtype, shape: [3], data: new Uint8Array(3 * DTYPE_BYTES[dtype]).fill(i) }]));
  const bytes = serializeSafetensors(tensors);
  const { tensors: back } = parseSafetensors(bytes);
  assert.deepEqual([...back.keys()], ['g_I64', 'f_F32', 'e_I32', 'd_BF16', 'c_F16', 'b_U8', 'a_BOOL']);
  for (const t of back.values()) {
    assert.equal(t.data.byteOffset % DTYPE_BYTES[t.dtype], 0, t.dtype);
  }
  const g = back.get('g_I64')!;
  assert.doesNotThrow(() => new BigInt64Array(g.data.buffer, g.data.byteOffset, 3), 'zero-copy typed view');
  // UTF-16 order would put U+1F600 (a surrogate pair, D83D...) before U+FF61; UTF-8 order is the reverse.
  const names = parseSafetensors(serializeSafetensors({ '😀': { dtype: 'U8', shape: [1], data: Uint8Array.of(1) }, '\uff61': { dtype: 'U8', shape: [1], data: Uint8Array.of(2) } })).tensors;
  assert.deepEqual([...names.keys()], ['\uff61', '😀']);
});

test('serializing rejects inconsistent tensors and metadata before writing anything', () => {
  const serial = (tensors: unknown, metadata?: unknown) => () => serializeSafetensors(tensors as Record<string, RawTensor>, metadata as Record<string, string>);
  const check = (fn: () => unknown, pattern: RegExp) => assertRejected(fn, '<buffer>', pattern);
  check(serial({ w: { dtype: 'F32', shape: [3], data: new Uint8Array(4) } }), /tensor 'w': 4 bytes do not match shape \[3\] of F32 \(12 bytes\)/);
  check(serial({ w: { dtype: 'F64', shape: [1], data: new Uint8Array(8) } }), /tensor 'w' has unknown dtype "F64"/);
  check(serial({ w: { dtype: 'toString', shape: [1], data: new Uint8Array(8) } }), /unknown dtype "toString"/);
  check(serial({ w: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }), /tensor 'w' has an invalid shape \[-1\]/);
  check(serial({ w: { dtype: 'U8', shape: [1], data: [1] } }), /tensor 'w' has data \[1\], not a Uint8Array/);
  check(serial({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), /cannot be named '__metadata__'/);
  check(serial({ ['\ud800']: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), /not valid Unicode/);
  check(serial({}, { n: 1 }), /metadata value 'n' is not a string but 1/);
  check(serial(null), /tensors must be a Map or an object/);
});

test('f16 to f32 matches hand-worked values', () => {
  const cases: [number, number][] = [
    [0x3c00, 1], [0xc000, -2], [0x3800, 0.5], [0x7bff, 65504], [0xfbff, -65504],
    [0x0001, 2 ** -24], // smallest subnormal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x0400, 2 ** -14], // smallest normal
    [0x3555, 0.333251953125], // 1/3 rounded: 2^-2 * (1 + 341/1024)
    [0x7c00, Infinity], [0xfc00, -Infinity], [0x0000, 0],
  ];
  const got = f16ToF32(u16le(...cases.map(([h]) => h)));
  assert.deepEqual([...got], cases.map(([, v]) => v));
  assert.ok(Object.is(f16ToF32(u16le(0x8000))[0], -0));
  for (const nan of [0x7e00, 0x7c01, 0xfe00, 0x7fff]) assert.ok(Number.isNaN(f16ToF32(u16le(nan))[0]), nan.toString(16));
  // Any alignment: a view starting at an odd byte offset.
  assert.deepEqual([...f16ToF32(concat([0], u16le(0x3c00, 0xc000)).subarray(1))], [1, -2]);
});

test('f32 to f16 rounds to nearest, ties to even, with overflow, subnormals and NaN', () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [2 ** -24, 0x0001], [Infinity, 0x7c00], [-Infinity, 0xfc00], [-0, 0x8000],
    [1 + 2 ** -11, 0x3c00], // a tie between 1 and 1 + 2^-10: the even one, 1
    [1 + 3 * 2 ** -11, 0x3c02], // a tie between 0x3c01 and 0x3c02: the even one
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie rounds up
    [65519, 0x7bff], // below the midpoint to the next power: stays finite
    [65520, 0x7c00], // the midpoint rounds to even, which is infinity
    [1e10, 0x7c00],
    [2 ** -25, 0x0000], // half the smallest subnormal: a tie, to even zero
    [1.5 * 2 ** -24, 0x0002], // a tie between subnormals 1 and 2: to 2
    [2 ** -25 + 2 ** -30, 0x0001],
    [2 ** -14 - 2 ** -25, 0x0400], // a tie between the largest subnormal and the smallest normal
    [1e-10, 0x0000], [-1e-10, 0x8000],
  ];
  assert.deepEqual(bitsOf16(f32ToF16Bytes(Float32Array.from(cases.map(([v]) => v)))), cases.map(([, h]) => h));
  const nans = bitsOf16(f32ToF16Bytes(new Float32Array(new Uint32Array([0x7fc00000, 0x7f800001, 0xffc00000]).buffer)));
  assert.deepEqual(nans.map((h) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0), [true, true, true], 'NaN stays NaN, never infinity');
  assert.equal(nans[2]! & 0x8000, 0x8000, 'sign kept');
});

test('every f16 value survives f16 -> f32 -> f16 exactly', () => {
  const all = new Uint8Array(2 * 65536);
  for (let h = 0; h < 65536; h++) { all[2 * h] = h & 0xff; all[2 * h + 1] = h >>> 8; }
  const back = bitsOf16(f32ToF16Bytes(f16ToF32(all)));
  for (let h = 0; h < 65536; h++) {
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) assert.ok((back[h]! & 0x7c00) === 0x7c00 && (back[h]! & 0x3ff) !== 0, `NaN ${h.toString(16)}`);
    else assert.equal(back[h], h, `0x${h.toString(16)}`);
  }
});

test('bf16 conversions match hand-worked values, ties to even', () => {
  const decoded: [number, number][] = [
    [0x3f80, 1], [0xc000, -2], [0x3f00, 0.5], [0x4780, 65536], [0x7f7f, (2 - 2 ** -7) * 2 ** 127],
    [0x0001, 2 ** -133], // smallest subnormal (a float32 subnormal too)
    [0x0080, 2 ** -126], // smallest normal
    [0x7f80, Infinity], [0xff80, -Infinity],
  ];
  assert.deepEqual([...bf16ToF32(u16le(...decoded.map(([h]) => h)))], decoded.map(([, v]) => v));
  assert.ok(Number.isNaN(bf16ToF32(u16le(0x7fc0))[0]));
  assert.ok(Object.is(bf16ToF32(u16le(0x8000))[0], -0));
  const encoded: [number, number][] = [
    [1, 0x3f80], [-2, 0xc000], [0.5, 0x3f00], [2 ** -133, 0x0001], [Infinity, 0x7f80], [-0, 0x8000],
    [65504, 0x4780], // 0x477fe000: the low half 0xe000 is above the midpoint, rounds up to 65536
    [1 + 2 ** -8, 0x3f80], // a tie: to the even 1.0
    [1 + 3 * 2 ** -8, 0x3f82], // a tie between 0x3f81 and 0x3f82: to even
    [1 + 2 ** -8 + 2 ** -20, 0x3f81],
    [3.4028234663852886e38, 0x7f80], // the largest float32 rounds to infinity
  ];
  assert.deepEqual(bitsOf16(f32ToBf16Bytes(Float32Array.from(encoded.map(([v]) => v)))), encoded.map(([, h]) => h));
  // A NaN whose payload sits in the low bits must not round to infinity (or flip its sign).
  assert.deepEqual(bitsOf16(f32ToBf16Bytes(new Float32Array(new Uint32Array([0x7f800001, 0xffffffff, 0x7fc00000]).buffer))), [0x7fc0, 0xffff, 0x7fc0]);
});

test('every bf16 value survives bf16 -> f32 -> bf16 exactly', () => {
  const all = new Uint8Array(2 * 65536);
  for (let h = 0; h < 65536; h++) { all[2 * h] = h & 0xff; all[2 * h + 1] = h >>> 8; }
  const back = bitsOf16(f32ToBf16Bytes(bf16ToF32(all)));
  for (let h = 0; h < 65536; h++) {
    const isNaN = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
    if (isNaN) assert.ok((back[h]! & 0x7f80) === 0x7f80 && (back[h]! & 0x7f) !== 0, `NaN ${h.toString(16)}`);
    else assert.equal(back[h], h, `0x${h.toString(16)}`);
  }
});

test('half-precision decoders reject an odd number of bytes', () => {
  assert.throws(() => f16ToF32(new Uint8Array(3)), (e: unknown) => e instanceof SafetensorsError && /f16ToF32: .*3 bytes/.test(e.message));
  assert.throws(() => bf16ToF32(new Uint8Array(5)), (e: unknown) => e instanceof SafetensorsError && /bf16ToF32: .*5 bytes/.test(e.message));
});

const T = (dtype: string, shape: string, offsets: string) => `{"dtype":${dtype},"shape":${shape},"data_offsets":${offsets}}`;
const W = (dtype = '"F32"', shape = '[2,2]', offsets = '[0,16]') => `{"w":${T(dtype, shape, offsets)}}`;

/** Each malformed file, with the message that must name what is wrong. */
const MALFORMED: [string, Uint8Array, RegExp][] = [
  ['an empty file', new Uint8Array(0), /0 bytes, shorter than the 8-byte header length/],
  ['a 7-byte file', new Uint8Array(7), /7 bytes, shorter than the 8-byte header length/],
  ['a header length of 2^40', concat(le64(2n ** 40n), new Uint8Array(8)), /header length 1099511627776 exceeds the 100000000-byte limit/],
  ['a header length of 2^64 - 1', concat(le64(2n ** 64n - 1n), new Uint8Array(8)), /header length 18446744073709551615 exceeds/],
  ['a header length just over 100 MB', concat(le64(100_000_001n), new Uint8Array(8)), /exceeds the 100000000-byte limit/],
  ['a header length of 100 MB in a small file', concat(le64(100_000_000n), new Uint8Array(8)), /header length 100000000 runs past the end of the file \(16 bytes\)/],
  ['a header length past the end', concat(le64(100n), utf8('{}'.padEnd(50))), /header length 100 runs past the end of the file \(58 bytes\): the file is truncated/],
  ['invalid UTF-8 in the header', file(concat(utf8('{"w'), [0xff], utf8('":1}'))), /header is not UTF-8 JSON: it is not valid UTF-8/],
  ['an overlong UTF-8 encoding', file(concat(utf8('{"'), [0xc0, 0x80], utf8('":1}'))), /not valid UTF-8/],
  ['a UTF-8-encoded surrogate', file(concat(utf8('{"'), [0xed, 0xa0, 0x80], utf8('":1}'))), /not valid UTF-8/],
  ['a byte-order mark before the JSON', file(concat([0xef, 0xbb, 0xbf], utf8('{}')), []), /header is not UTF-8 JSON/],
  ['truncated JSON', file('{"w":1'), /header is not UTF-8 JSON/],
  ['single-quoted JSON', file("{'w':1}"), /header is not UTF-8 JSON/],
  ['an empty header', file(''), /header is not UTF-8 JSON/],
  ['two JSON values', file('{} {}', []), /header is not UTF-8 JSON/],
  ['a JSON array header', file('[1,2,3,4]'), /header is not a JSON object but \[1,2,3,4\]/],
  ['a JSON null header', file('null'), /header is not a JSON object but null/],
  ['a JSON number header', file('42'), /header is not a JSON object but 42/],
  ['a tensor described by a number', file('{"w":5}'), /tensor 'w' is described by 5, not an object/],
  ['a tensor described by null', file('{"w":null}'), /tensor 'w' is described by null, not an object/],
  ['a tensor described by an array', file('{"w":[0,16]}'), /tensor 'w' is described by \[0,16\], not an object/],
  ['an unknown dtype', file(W('"F8"')), /tensor 'w' has unknown dtype "F8" \(known: F32, F16, BF16, I64, I32, U8, BOOL\)/],
  ['an inherited property as dtype', file(W('"toString"')), /unknown dtype "toString"/],
  ['a lower-case dtype', file(W('"f32"')), /unknown dtype "f32"/],
  ['a numeric dtype', file(W('32')), /unknown dtype 32/],
  ['a missing dtype', file('{"w":{"shape":[2,2],"data_offsets":[0,16]}}'), /tensor 'w' has unknown dtype missing/],
  ['a negative dimension', file(W(undefined, '[2,-2]')), /tensor 'w' has an invalid shape \[2,-2\]: expected an array of non-negative integers/],
  ['a fractional dimension', file(W(undefined, '[2,1.5]')), /invalid shape \[2,1.5\]/],
  ['a dimension past 2^53', file(W(undefined, '[9007199254740992]')), /invalid shape \[9007199254740992\]/],
  ['a string dimension', file(W(undefined, '[2,"2"]')), /invalid shape \[2,"2"\]/],
  ['a nested shape', file(W(undefined, '[[2,2]]')), /invalid shape an array of 1 items/],
  ['a shape that is not an array', file(W(undefined, '4')), /invalid shape 4/],
  ['a missing shape', file('{"w":{"dtype":"F32","data_offsets":[0,16]}}'), /invalid shape missing/],
  ['one offset', file(W(undefined, undefined, '[16]')), /tensor 'w' has invalid data_offsets \[16\]: expected \[begin, end\]/],
  ['three offsets', file(W(undefined, undefined, '[0,16,16]')), /invalid data_offsets \[0,16,16\]/],
  ['begin after end', file(W(undefined, undefined, '[16,0]')), /invalid data_offsets \[16, 0\]: begin is after end/],
  ['a negative offset', file(W(undefined, undefined, '[-1,15]')), /invalid data_offsets \[-1,15\]/],
  ['a fractional offset', file(W(undefined, undefined, '[0.5,16.5]')), /invalid data_offsets \[0.5,16.5\]/],
  ['string offsets', file(W(undefined, undefined, '["0","16"]')), /invalid data_offsets \["0","16"\]/],
  ['an infinite offset', file(W(undefined, undefined, '[0,1e400]')), /invalid data_offsets \[0,Infinity\]/],
  ['missing offsets', file('{"w":{"dtype":"F32","shape":[2,2]}}'), /invalid data_offsets missing/],
  ['a byte length too short for the shape', file(W(undefined, '[2,3]')), /tensor 'w' spans 16 bytes but its shape \[2, 3\] of F32 needs 24/],
  ['a byte length too long for the shape', file(W(undefined, '[2]')), /tensor 'w' spans 16 bytes but its shape \[2\] of F32 needs 8/],
  ['a shape whose size overflows', file(W(undefined, '[1099511627776,1099511627776]')), /needs 4835703278458516698824704/],
  ['offsets beyond the data buffer', file(W(undefined, undefined, '[8,24]')), /tensor 'w' ends at byte 24, past the data buffer \(16 bytes\): the file is truncated/],
  ['overlapping tensors', file(`{"w":${T('"F32"', '[2]', '[0,8]')},"v":${T('"F32"', '[2]', '[4,12]')}}`, new Uint8Array(12)), /tensor 'v' \(bytes 4\.\.12\) overlaps tensor 'w' \(bytes 0\.\.8\)/],
  ['an empty tensor inside another', file(`{"w":${T('"F32"', '[4]', '[0,16]')},"z":${T('"F32"', '[0]', '[8,8]')}}`), /tensor 'z' \(bytes 8\.\.8\) overlaps tensor 'w'/],
  ['two tensors on the same bytes', file(`{"w":${T('"F32"', '[4]', '[0,16]')},"v":${T('"I32"', '[4]', '[0,16]')}}`), /overlaps/],
  ['a hole before the first tensor', file(W(undefined, '[2]', '[8,16]')), /a hole of 8 bytes \(bytes 0\.\.8\) precedes tensor 'w'/],
  ['a hole between tensors', file(`{"w":${T('"U8"', '[4]', '[0,4]')},"v":${T('"U8"', '[4]', '[12,16]')}}`), /a hole of 8 bytes \(bytes 4\.\.12\) precedes tensor 'v'/],
  ['bytes after the last tensor', file(W(undefined, '[2]', '[0,8]')), /8 bytes after the last tensor are not described by the header/],
  ['data but no tensors', file('{}', [1, 2, 3]), /3 bytes after the last tensor/],
  ['a numeric metadata value', file('{"__metadata__":{"n":1},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'), /metadata value 'n' is not a string but 1/],
  ['a null metadata value', file('{"__metadata__":{"n":null}}', []), /metadata value 'n' is not a string but null/],
  ['an object metadata value', file('{"__metadata__":{"n":{"a":"b"}}}', []), /metadata value 'n' is not a string but an object/],
  ['metadata that is an array', file('{"__metadata__":["a"]}', []), /__metadata__ is \["a"\], not an object of strings/],
  ['metadata that is a string', file('{"__metadata__":"a"}', []), /__metadata__ is "a", not an object of strings/],
  ['a tensor named twice', file(`{"w":${T('"F32"', '[4]', '[0,16]')},"w":${T('"F32"', '[4]', '[0,16]')}}`), /header has the key 'w' more than once/],
  ['a tensor named twice, once through an escape', file(`{"w":${T('"F32"', '[4]', '[0,16]')},"\\u0077":${T('"F32"', '[4]', '[0,16]')}}`), /the key 'w' more than once/],
  ['a metadata key twice', file('{"__metadata__":{"a":"1","a":"2"}}', []), /the key 'a' more than once/],
  ['__metadata__ twice', file('{"__metadata__":{"a":"1"},"__metadata__":{"b":"2"}}', []), /the key '__metadata__' more than once/],
  ['a field twice in a tensor', file('{"w":{"dtype":"F32","shape":[4],"dtype":"I32","data_offsets":[0,16]}}'), /the key 'dtype' more than once/],
  ['a name with a lone surrogate', file(`{"\\ud800":${T('"F32"', '[4]', '[0,16]')}}`), /has a name that is not valid Unicode/],
  ['a metadata value with a lone surrogate', file('{"__metadata__":{"a":"\\udc00"}}', []), /metadata entry 'a' is not valid Unicode/],
  ['a megabyte-long tensor name', file(`{"${'n'.repeat(1 << 20)}":${T('"F8"', '[4]', '[0,16]')}}`), /tensor 'n{80}\.\.\.' has unknown dtype "F8"/],
  ['a deeply nested shape', file(W(undefined, `${'['.repeat(100_000)}${']'.repeat(100_000)}`)), /invalid shape an array of 1 items|header is not UTF-8 JSON/],
];

for (const [what, bytes, pattern] of MALFORMED) {
  test(`rejects ${what}`, () => rejects(bytes, pattern));
}

test('keys are compared as JSON, not text: distinct keys that look alike are accepted', () => {
  // "w" inside a string value and the same name in a nested object are not duplicates of the tensor "w".
  const header = `{"__metadata__":{"w":"w","x":"{\\"w\\":1,\\"w\\":2}"},"w":${T('"F32"', '[4]', '[0,16]')}}`;
  const { metadata, tensors } = parseSafetensors(file(header));
  assert.deepEqual(metadata, { w: 'w', x: '{"w":1,"w":2}' });
  assert.deepEqual([...tensors.keys()], ['w']);
});

test('accepts what the reference accepts: null metadata, no tensors, unknown extra fields, trailing spaces', () => {
  assert.deepEqual(parseSafetensors(file('{"__metadata__":null}', [])).metadata, {});
  assert.equal(parseSafetensors(file('{}      ', [])).tensors.size, 0);
  const w = parseSafetensors(file(`{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":[1]}}   `, [4, 5])).tensors.get('w')!;
  assert.deepEqual([...w.data], [4, 5]);
});

test('a file truncated at any byte is rejected cleanly, saying it is truncated', () => {
  const full = serializeSafetensors({
    a: { dtype: 'F32', shape: [2, 2], data: f32(1, 2, 3, 4) },
    b: { dtype: 'I64', shape: [1], data: new Uint8Array(8) },
    c: { dtype: 'BF16', shape: [3], data: new Uint8Array(6) },
    d: { dtype: 'BOOL', shape: [0], data: new Uint8Array(0) },
  }, { format: 'pt' });
  const headerEnd = 8 + Number(new DataView(full.buffer).getBigUint64(0, true));
  for (let cut = 0; cut < full.length; cut++) {
    const pattern = cut < 8 ? /shorter than the 8-byte header length/ : cut < headerEnd ? /runs past the end of the file.*truncated/ : /past the data buffer.*truncated/;
    assertRejected(() => parseSafetensors(full.slice(0, cut), 'cut.safetensors'), 'cut.safetensors', pattern);
  }
  assert.equal(parseSafetensors(full).tensors.size, 4);
});

test('random corruption never escapes as anything but a SafetensorsError, nor reads out of bounds', () => {
  const full = serializeSafetensors({
    emb: { dtype: 'F16', shape: [3, 2], data: new Uint8Array(12).fill(0x3c) },
    w: { dtype: 'F32', shape: [2, 2], data: f32(1, 2, 3, 4) },
    ids: { dtype: 'I64', shape: [2], data: new Uint8Array(16).fill(1) },
  }, { format: 'pt', step: '12' });
  const random = prng(20240601);
  let accepted = 0;
  for (let i = 0; i < 4000; i++) {
    const bytes = full.slice();
    const edits = 1 + Math.floor(random() * 3);
    for (let k = 0; k < edits; k++) {
      // Mostly hit the header, where structure lives; sometimes the length field.
      const at = random() < 0.2 ? Math.floor(random() * 8) : Math.floor(random() * bytes.length);
      bytes[at] = random() < 0.5 ? Math.floor(random() * 256) : '{}[]",:0123456789- '.charCodeAt(Math.floor(random() * 19));
    }
    const input = random() < 0.2 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
    try {
      const { tensors } = parseSafetensors(input, 'fuzz');
      accepted++;
      let total = 0;
      for (const t of tensors.values()) {
        assert.equal(t.data.buffer, input.buffer);
        assert.ok(t.data.byteOffset >= input.byteOffset && t.data.byteOffset + t.data.length <= input.byteOffset + input.length);
        assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype]);
        total += t.data.length;
      }
      assert.ok(total <= input.length);
    } catch (e) {
      assert.ok(e instanceof SafetensorsError, `mutation ${i}: ${String(e)}`);
      assert.ok(e.message.startsWith('fuzz: not a valid safetensors file: '), e.message);
    }
  }
  assert.ok(accepted > 0, 'some mutations (in tensor data) stay valid');
});

test('files: atomic write, read back, overwrite, and clear errors naming the path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-stf-'));
  const path = join(dir, 'model.safetensors');
  const first = { w: { dtype: 'F32', shape: [2], data: f32(1, 2) } } satisfies Record<string, RawTensor>;
  await writeSafetensorsFile(path, first, { v: '1' });
  assert.deepEqual(readdirSync(dir), ['model.safetensors'], 'no temp file left behind');
  assert.deepEqual(new Uint8Array(readFileSync(path)), serializeSafetensors(first, { v: '1' }));

  await writeSafetensorsFile(path, new Map([['x', { dtype: 'U8', shape: [3], data: Uint8Array.from([7, 8, 9]) } as RawTensor]]), { v: '2' });
  const read = await readSafetensorsFile(path);
  assert.deepEqual(read.metadata, { v: '2' });
  assert.deepEqual([...read.tensors.keys()], ['x']);
  assert.deepEqual([...read.tensors.get('x')!.data], [7, 8, 9]);

  // An invalid tensor is refused before the disk is touched: the old file stays whole.
  const before = readFileSync(path);
  await assert.rejects(writeSafetensorsFile(path, { w: { dtype: 'F32', shape: [3], data: new Uint8Array(4) } }), (e: unknown) =>
    e instanceof SafetensorsError && e.source === path && e.message.startsWith(`${path}: cannot write safetensors: tensor 'w': 4 bytes do not match`));
  assert.deepEqual(readFileSync(path), before);
  assert.deepEqual(readdirSync(dir), ['model.safetensors']);

  // A directory in the way: the rename fails, the error names the path and the temp file is gone.
  const blocked = join(dir, 'blocked.safetensors');
  mkdirSync(blocked);
  await assert.rejects(writeSafetensorsFile(blocked, first), (e: unknown) => e instanceof WriteError && e.message === `cannot write ${blocked}: a folder of that name is in the way`);
  assert.deepEqual(readdirSync(dir).sort(), ['blocked.safetensors', 'model.safetensors']);

  const missing = join(dir, 'missing.safetensors');
  await assert.rejects(readSafetensorsFile(missing), (e: unknown) => e instanceof SafetensorsError && e.source === missing && e.message.startsWith(`${missing}: cannot read safetensors file: ENOENT`));
  await assert.rejects(readSafetensorsFile(dir), (e: unknown) => e instanceof SafetensorsError && /cannot read safetensors file: not a regular file/.test(e.message));

  const broken = join(dir, 'broken.safetensors');
  writeFileSync(broken, serializeSafetensors(first).subarray(0, 40));
  await assert.rejects(readSafetensorsFile(broken), (e: unknown) => e instanceof SafetensorsError && e.source === broken && e.message.startsWith(`${broken}: not a valid safetensors file: `) && /truncated/.test(e.message));
});

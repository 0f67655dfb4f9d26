import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, serializeSafetensors, SafetensorsError, f16ToF32, bf16ToF32, f32ToBf16Bytes, f32ToF16Bytes, type RawTensor } from '../../src/torch/safetensors-format.ts';
import { saveSafetensors, loadSafetensors } from '../../src/torch/safetensors.ts';
import { tensor, scope, disposeAll } from '../../src/torch/index.ts';

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A file written by hand: a 2x2 F32 tensor [1, 2, 3, 4] named "w" with metadata. */
function handMade(header: string, data: number[] = [1, 2, 3, 4]): Uint8Array {
  const head = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + head.length + data.length * 4);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(bytesOf(Float32Array.from(data)), 8 + head.length);
  return out;
}
const GOOD = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}';

test('reads a hand-built file to known values', () => {
  const { metadata, tensors } = parseSafetensors(handMade(GOOD));
  assert.deepEqual(metadata, { format: 'pt' });
  const w = tensors.get('w')!;
  assert.deepEqual(w.shape, [2, 2]);
  assert.deepEqual([...new Float32Array(w.data.slice().buffer)], [1, 2, 3, 4]);
});

test('round trip of several dtypes with metadata, deterministic and 8-byte aligned', () => {
  const tensors: Record<string, RawTensor> = {
    b_f32: { dtype: 'F32', shape: [3], data: bytesOf(Float32Array.from([1.5, -2, 3])) },
    a_i64: { dtype: 'I64', shape: [2, 1], data: bytesOf(BigInt64Array.from([5n, -7n])) },
    c_bf16: { dtype: 'BF16', shape: [1], data: f32ToBf16Bytes(Float32Array.from([1])) },
    d_bool: { dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
  };
  const bytes = serializeSafetensors(tensors, { note: 'x' });
  assert.deepEqual(bytes, serializeSafetensors(tensors, { note: 'x' }));
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLength) % 8, 0);
  const back = parseSafetensors(bytes);
  assert.deepEqual(back.metadata, { note: 'x' });
  for (const [k, t] of Object.entries(tensors)) {
    assert.deepEqual(back.tensors.get(k)!.shape, t.shape);
    assert.deepEqual([...back.tensors.get(k)!.data], [...t.data]);
  }
});

test('half-precision conversions match hand-worked values', () => {
  // f16 bit patterns: 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800, 65504 = 0x7bff, 2^-24 = 0x0001, inf = 0x7c00
  const f16 = bytesOf(Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0x7e00]));
  const values = f16ToF32(f16);
  assert.deepEqual([...values.slice(0, 6)], [1, -2, 0.5, 65504, 2 ** -24, Infinity]);
  assert.ok(Number.isNaN(values[6]));
  assert.deepEqual([...f32ToF16Bytes(Float32Array.from([1, -2, 0.5, 65504, 2 ** -24, Infinity]))], [...f16.slice(0, 12)]);
  // bf16 keeps the top 16 bits of f32: 1.0 = 0x3f80, -2.0 = 0xc000
  const bf16 = bytesOf(Uint16Array.from([0x3f80, 0xc000, 0x7f80]));
  assert.deepEqual([...bf16ToF32(bf16)], [1, -2, Infinity]);
  assert.deepEqual([...f32ToBf16Bytes(Float32Array.from([1, -2, Infinity]))], [...bf16]);
  // 1 + 2^-8 lies exactly between two bf16 values: ties go to even (1.0)
  assert.deepEqual([...bf16ToF32(f32ToBf16Bytes(Float32Array.from([1 + 2 ** -8])))], [1]);
});

const rejects = (bytes: Uint8Array, pattern: RegExp) =>
  assert.throws(() => parseSafetensors(bytes, 'model.safetensors'), (e: unknown) => e instanceof SafetensorsError && /^model\.safetensors: /.test(e.message) && pattern.test(e.message));

test('malformed files are rejected with a specific message naming the file', () => {
  rejects(new Uint8Array(5), /shorter than the 8-byte header/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
  rejects(huge, /exceeds/);
  rejects(handMade('{"w":1'), /not UTF-8 JSON/);
  rejects(handMade('[1,2,3,4]'), /not a JSON object/);
  rejects(handMade('{"w":{"dtype":"F8","shape":[2,2],"data_offsets":[0,16]}}'), /unknown dtype "F8"/);
  rejects(handMade('{"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}}'), /invalid shape/);
  rejects(handMade('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]}}'), /invalid data_offsets/);
  rejects(handMade('{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}'), /needs 24/);
  rejects(handMade('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}'), /past the data buffer/);
  rejects(handMade('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'), /overlaps/);
  rejects(handMade('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}'), /hole of 8 bytes/);
  rejects(handMade('{"__metadata__":{"n":1},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'), /metadata value 'n' is not a string/);
  assert.throws(() => serializeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Uint8Array(4) } }), /4 bytes do not match/);
});

test('a file truncated anywhere is rejected cleanly', () => {
  const full = handMade(GOOD);
  for (let cut = 0; cut < full.length; cut++) {
    assert.throws(() => parseSafetensors(full.subarray(0, cut), 'cut'), SafetensorsError, `cut at ${cut}`);
  }
});

test('tensors round-trip through a file, with float16 widened to float32 on request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-st-'));
  const path = join(dir, 'm.safetensors');
  const t = scope(() => ({ w: tensor([1, 2, 3, 4], [2, 2]), i: tensor([7, 8], [2], 'int64'), h: tensor([0.5, 2], [2], 'float16') }));
  await saveSafetensors(path, new Map(Object.entries(t)), { pulse: '{}' });
  const { tensors, metadata } = await loadSafetensors(path, { float32: true });
  assert.deepEqual(metadata, { pulse: '{}' });
  assert.deepEqual(tensors.get('w')!.toArray(), [1, 2, 3, 4]);
  assert.deepEqual(tensors.get('w')!.shape, [2, 2]);
  assert.deepEqual(tensors.get('i')!.toArray(), [7, 8]);
  assert.equal(tensors.get('h')!.dtype, 'float32');
  assert.deepEqual(tensors.get('h')!.toArray(), [0.5, 2]);
  disposeAll([tensors, t]);
  writeFileSync(path, new Uint8Array(3));
  await assert.rejects(loadSafetensors(path), /m\.safetensors: not a valid safetensors file/);
});

import { fromBytes } from './ops.ts';
import { keep, type Dtype, type Tensor } from './tensor.ts';
import { readSafetensorsFile, writeSafetensorsFile, type RawTensor, type SafetensorsDtype } from './safetensors-format.ts';

const TO_TORCH: Record<SafetensorsDtype, Dtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', U8: 'uint8', BOOL: 'bool' };
const FROM_TORCH = Object.fromEntries(Object.entries(TO_TORCH).map(([k, v]) => [v, k])) as Partial<Record<Dtype, SafetensorsDtype>>;

/** Writes tensors (any device) to a safetensors file, atomically, with string metadata. */
export async function saveSafetensors(path: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  const raw = new Map<string, RawTensor>();
  for (const [name, t] of tensors) {
    const dtype = FROM_TORCH[t.dtype];
    if (!dtype) throw new Error(`tensor ${name}: dtype ${t.dtype} cannot be stored in safetensors`);
    raw.set(name, { dtype, shape: t.shape, data: t.toBytes() });
  }
  await writeSafetensorsFile(path, raw, metadata);
}

export interface LoadOptions { float32?: boolean; device?: string; only?: ReadonlySet<string> }

/**
 * Reads a safetensors file into tensors. Half-precision tensors are widened to float32 when
 * `float32` is set (the embedded model computes in float32); with `only`, just the named tensors
 * become tensors. Malformed files throw with the path.
 */
export async function loadSafetensors(path: string, options: LoadOptions = {}): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const { tensors: raw, metadata } = await readSafetensorsFile(path);
  const tensors = new Map<string, Tensor>();
  for (const [name, r] of raw) {
    if (options.only && !options.only.has(name)) continue;
    let t = keep(fromBytes(r.data, TO_TORCH[r.dtype], r.shape, options.device ?? 'cpu'));
    if (options.float32 && (r.dtype === 'F16' || r.dtype === 'BF16')) {
      const wide = keep(t.to('float32'));
      t.dispose();
      t = wide;
    }
    tensors.set(name, t);
  }
  return { tensors, metadata };
}

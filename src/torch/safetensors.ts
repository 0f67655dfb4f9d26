import { fromBytes } from './ops.ts';
import { keep, type Dtype, type Tensor } from './tensor.ts';
import { openSafetensorsFile, writeSafetensorsFile, type RawTensor, type SafetensorsDtype, type SafetensorsHeader } from './safetensors-format.ts';
import { PulseError } from '../errors.ts';

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

export interface LoadOptions {
  float32?: boolean;
  device?: string;
  only?: ReadonlySet<string>;
  /**
   * Called with the header (metadata, names, dtypes, shapes) before any tensor data is read: a file that
   * is not what the caller expects (no manifest, other shapes) is refused at the cost of its header.
   */
  check?(header: SafetensorsHeader): void;
}

/**
 * Reads a safetensors file into tensors, one tensor at a time (peak memory: the tensors plus the
 * largest one's bytes). Half-precision tensors are widened to float32 when `float32` is set (the
 * embedded model computes in float32); with `only`, just the named tensors are read. Malformed files
 * throw with the path, before their data is read.
 */
export async function loadSafetensors(path: string, options: LoadOptions = {}): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const file = openSafetensorsFile(path);
  const tensors = new Map<string, Tensor>();
  try {
    options.check?.(file);
    let scratch = new Uint8Array(0);
    for (const [name, entry] of file.entries) {
      if (options.only && !options.only.has(name)) continue;
      if (scratch.length < entry.end - entry.begin) scratch = new Uint8Array(entry.end - entry.begin);
      // fromBytes copies: the scratch buffer is free for the next tensor
      let t = keep(fromBytes(file.read(name, scratch), TO_TORCH[entry.dtype], entry.shape, options.device ?? 'cpu'));
      if (options.float32 && (entry.dtype === 'F16' || entry.dtype === 'BF16')) {
        const wide = keep(t.to('float32'));
        t.dispose();
        t = wide;
      }
      tensors.set(name, t);
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    file.close();
  }
  return { tensors, metadata: file.metadata };
}

/**
 * Whether a header holds exactly the tensors `expected` names, each of its shape: the check that a
 * model's weights file fits the model, made before its data is read. Messages as loadStateDict's.
 */
export function checkHeaderShapes(header: SafetensorsHeader, expected: ReadonlyMap<string, readonly number[]>, source: string): void {
  const missing = [...expected.keys()].filter((k) => !header.entries.has(k));
  const extra = [...header.entries.keys()].filter((k) => !expected.has(k));
  const list = (names: string[]) => `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`;
  if (missing.length) throw new PulseError(`missing parameter${missing.length > 1 ? 's' : ''} in ${source}: ${list(missing)}`);
  if (extra.length) throw new PulseError(`unexpected parameter${extra.length > 1 ? 's' : ''} in ${source}: ${list(extra)}`);
  for (const [name, shape] of expected) {
    const found = header.entries.get(name)!;
    if (found.shape.join(',') !== shape.join(',')) {
      throw new PulseError(`parameter ${name} in ${source} has shape [${found.shape.join(', ')}], the model expects [${shape.join(', ')}]`);
    }
    if (!['F32', 'F16', 'BF16'].includes(found.dtype)) throw new PulseError(`parameter ${name} in ${source} is ${found.dtype}, not a float type`);
  }
}

import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PulseError, describeZodError, excerpt } from '../../errors.ts';
import { isValidName } from '../../names.ts';
import { readFolderJson } from './files.ts';
import { fromBytes, keep, type Dtype, type Tensor } from '../../torch/index.ts';
import { headerSize, parseSafetensorsHeader, type SafetensorsDtype, type TensorEntry } from '../../torch/safetensors-format.ts';

/**
 * The weights of a Hugging Face model folder: one `model.safetensors`, or shards listed by
 * `model.safetensors.index.json`. Tensors are read one at a time from their offset, so a 13B
 * checkpoint (shards of ~5 GB, more than one Node buffer holds) never sits in memory twice.
 *
 * Names are given in pulse's layout; a family's `NameMap` says how the file's own names (the
 * Hub's, or those newer transformers write) map to it, and how to name a missing tensor the way
 * the file would.
 */

const TO_TORCH: Record<SafetensorsDtype, Dtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', U8: 'uint8', BOOL: 'bool' };

const Index = z.object({ weight_map: z.record(z.string(), z.string()) }).passthrough();

/** One naming scheme of a family's checkpoints. */
export interface NameLayout {
  /** its name in messages ("hub", "transformers-5") */
  name: string;
  /** the file's name of a tensor -> pulse's */
  toPulse(fileName: string): string;
  /** where a missing tensor was looked for, in the file's terms ("looked for language_model.model.norm.weight") */
  hint(pulseName: string): string;
}

/** A family's naming schemes: the one a checkpoint uses is told by the names it holds. */
export type NameMap = (fileNames: readonly string[]) => NameLayout;

/** Names as the file writes them. */
export const SAME_NAMES: NameMap = () => ({ name: 'as written', toPulse: (n) => n, hint: (n) => `looked for ${n}` });

/** A layout that renames by prefix: the first matching [file prefix, pulse prefix] pair applies. */
export function prefixLayout(name: string, pairs: readonly (readonly [string, string])[]): NameLayout {
  const rename = (n: string, from: 0 | 1, to: 0 | 1) => {
    const pair = pairs.find((p) => n.startsWith(p[from]));
    return pair ? pair[to] + n.slice(pair[from].length) : n;
  };
  return { name, toPulse: (n) => rename(n, 0, 1), hint: (n) => `looked for ${rename(n, 1, 0)}` };
}

interface Shard { path: string; fd: number; dataStart: number; entries: Map<string, TensorEntry>; header: Uint8Array }

export class CheckpointWeights {
  readonly layout: NameLayout;
  readonly #shards = new Map<string, Shard>();
  /** pulse name -> [file, name in the file] */
  readonly #where = new Map<string, [string, string]>();
  /** One buffer reused for every read (fromBytes copies out of it): no garbage of a checkpoint's size awaits the collector. */
  #scratch = new Uint8Array(0);

  private constructor(readonly folder: string, files: Map<string, string[]>, names: NameMap) {
    try {
      for (const [file, inFile] of files) {
        const shard = openShard(join(folder, file));
        this.#shards.set(file, shard);
        const absent = inFile.find((name) => !shard.entries.has(name));
        if (absent) fail(`${shard.path}: tensor ${absent}, which the index places in this file, is not in it`);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.layout = names([...files.values()].flat());
    for (const [file, inFile] of files) for (const name of inFile) this.#where.set(this.layout.toPulse(name), [file, name]);
  }

  /** Opens the folder's weights; a missing shard or a malformed index is one PulseError naming the file. */
  static open(folder: string, names: NameMap = SAME_NAMES): CheckpointWeights {
    const indexPath = join(folder, 'model.safetensors.index.json');
    if (existsSync(indexPath)) return new CheckpointWeights(folder, readIndex(indexPath, folder), names);
    const single = join(folder, 'model.safetensors');
    if (!existsSync(single)) fail(`${folder}: no model.safetensors and no model.safetensors.index.json (is this a Hugging Face model folder?)`);
    const shard = openShard(single);
    const inFile = [...shard.entries.keys()];
    closeSync(shard.fd);
    return new CheckpointWeights(folder, new Map([['model.safetensors', inFile]]), names);
  }

  names(): string[] { return [...this.#where.keys()]; }
  /** Each weights file's name and header bytes. */
  headers(): [string, Uint8Array][] { return [...this.#shards].map(([file, s]) => [file, s.header]); }
  has(name: string): boolean { return this.#where.has(name); }

  /** The tensor `name` (pulse layout) as `dtype`, on `device`; its shape must be `shape`. */
  read(name: string, shape: readonly number[], dtype: Dtype, device: string): Tensor {
    const place = this.#where.get(name);
    if (!place) fail(`${this.folder}: the checkpoint has no tensor ${name} (${this.layout.hint(name)})`);
    const [file, fileName] = place;
    const shard = this.#shards.get(file)!;
    const entry = shard.entries.get(fileName)!;
    if (entry.shape.join(',') !== shape.join(',')) {
      fail(`${shard.path}: tensor ${fileName} has shape [${entry.shape.join(', ')}], but config.json implies [${shape.join(', ')}]`);
    }
    const size = entry.end - entry.begin;
    if (this.#scratch.length < size) this.#scratch = new Uint8Array(size);
    const bytes = this.#scratch.subarray(0, size);
    readAt(shard.fd, bytes, shard.dataStart + entry.begin, shard.path);
    const raw = fromBytes(bytes, TO_TORCH[entry.dtype], entry.shape, 'cpu');
    if (raw.dtype === dtype && device === 'cpu') return keep(raw);
    const out = keep(raw.to(dtype, device));
    raw.dispose();
    return out;
  }

  close(): void {
    for (const s of this.#shards.values()) {
      try { closeSync(s.fd); } catch { /* already closed */ }
    }
    this.#shards.clear();
  }
}

function fail(message: string): never {
  throw new PulseError(message);
}

function readIndex(path: string, folder: string): Map<string, string[]> {
  const parsed = Index.safeParse(readFolderJson(path));
  if (!parsed.success) fail(`${path}: ${describeZodError(parsed.error)}`);
  const files = new Map<string, string[]>();
  for (const [name, file] of Object.entries(parsed.data.weight_map)) {
    if (!isValidName(file)) fail(`${path}: weight_map.${excerpt(name, 80)}: '${excerpt(file, 80)}' is not a file name in the folder`);
    // push, not a copy per entry: an index of 10^5 names would take minutes
    const names = files.get(file);
    if (names) names.push(name); else files.set(file, [name]);
  }
  for (const file of files.keys()) {
    if (!existsSync(join(folder, file))) fail(`${join(folder, file)}: shard missing (model.safetensors.index.json lists it; download it again)`);
  }
  return files;
}

function readAt(fd: number, into: Uint8Array, position: number, path: string): void {
  for (let filled = 0; filled < into.length;) {
    const read = readSync(fd, into, filled, Math.min(1 << 28, into.length - filled), position + filled);
    if (read === 0) fail(`${path}: the file ended at byte ${position + filled} while reading (was it truncated?)`);
    filled += read;
  }
}

function openShard(path: string): Shard {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return fail(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'shard missing' : (e as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) fail(`${path}: not a regular file`);
    const size = stat.size;
    const first8 = new Uint8Array(Math.min(8, size));
    readAt(fd, first8, 0, path);
    const prefix = new Uint8Array(Math.min(headerSize(first8, path), size));
    readAt(fd, prefix, 0, path);
    const { entries, dataStart } = parseSafetensorsHeader(prefix, size, path);
    return { path, fd, dataStart, entries, header: prefix };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Seeded mutations: of bytes (half of them inside a format's structure), and of parsed JSON / YAML values. */
import { parquetMetadata } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';

export const BYTE_KINDS = ['flip', 'overwrite', 'truncate', 'insert', 'delete', 'duplicate', 'zero-region'] as const;
export type ByteKind = (typeof BYTE_KINDS)[number];

/** A byte mutation of `src`; `region` is where the format keeps its structure (a header, a footer). */
export function mutateBytes(src: Uint8Array, region: [number, number], kind: ByteKind, random: () => number): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  const [from, to] = region;
  // Half of the positions fall in the format's structure, where a byte changes the most.
  const at = (span = 1) => (random() < 0.5 ? from + int(Math.max(1, to - from - span)) : int(Math.max(1, src.length - span)));
  const noise = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const splice = (start: number, drop: number, insert: Uint8Array) => {
    const out = new Uint8Array(src.length - drop + insert.length);
    out.set(src.subarray(0, start));
    out.set(insert, start);
    out.set(src.subarray(start + drop), start + insert.length);
    return out;
  };
  switch (kind) {
    case 'flip': {
      const out = src.slice();
      for (let k = 1 + int(4); k > 0; k--) out[at()]! ^= 1 + int(255);
      return out;
    }
    case 'overwrite': {
      const n = 1 + int(32);
      const start = at(n);
      return splice(start, Math.min(n, src.length - start), noise(n));
    }
    case 'truncate': return src.slice(0, random() < 0.5 ? int(src.length) : from + int(to - from));
    case 'insert': return splice(at(), 0, noise(1 + int(16)));
    case 'delete': {
      const n = 1 + int(16);
      const start = at(n);
      return splice(start, Math.min(n, src.length - start), new Uint8Array());
    }
    case 'duplicate': {
      const n = 1 + int(128);
      const start = int(Math.max(1, src.length - n));
      return splice(at(), 0, src.slice(start, start + n));
    }
    case 'zero-region': {
      const out = src.slice();
      const n = 1 + int(Math.min(64, to - from));
      const start = from + int(Math.max(1, to - from - n + 1));
      out.fill(0, start, start + n);
      return out;
    }
  }
}

/** Values a careless or hostile file puts where a setting, a name or a number should be. */
const deep = (n: number): unknown => (n === 0 ? [] : [deep(n - 1)]);
const HOSTILE: readonly (() => unknown)[] = [
  () => -1, () => 0, () => 1, () => 2.5, () => 100000, () => 1e308, () => -1e308, () => 2 ** 53 + 1, () => 0.1,
  () => '', () => 'x', () => '../../../x', () => '/proc/x', () => 'a'.repeat(5000), () => 'line\nbreak\u0000\u001b[31m', () => 'all', () => 'nonexistent',
  () => true, () => null, () => [], () => ({}), () => [1, 'a', null], () => deep(300), () => ({ nested: { deeper: [1, 2] } }),
];

/** Every path (keys and indexes) of a JSON-like value, to a depth of 12. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (prefix.length > 12) return out;
  if (Array.isArray(value)) value.slice(0, 50).forEach((v, i) => { out.push([...prefix, i]); paths(v, [...prefix, i], out); });
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) { out.push([...prefix, k]); paths(v, [...prefix, k], out); }
  }
  return out;
}

/**
 * A structural mutation of a parsed document (in place; returns it, or the replacement of the whole):
 * a value replaced by a hostile one, a key removed, a key added (unknown, `__proto__`, a path-like
 * name), an array emptied or made huge. `skip` names top-level keys left alone.
 */
export function mutateValue(doc: unknown, random: () => number, skip: readonly string[] = []): unknown {
  const all = paths(doc).filter((p) => !skip.includes(String(p[0])));
  if (all.length === 0) return HOSTILE[Math.floor(random() * HOSTILE.length)]!();
  const path = all[Math.floor(random() * all.length)]!;
  const parent = path.slice(0, -1).reduce((v: any, k) => v[k], doc) as any;
  const key = path[path.length - 1]!;
  const r = random();
  if (r < 0.6) parent[key] = HOSTILE[Math.floor(random() * HOSTILE.length)]!();
  else if (r < 0.72) { if (Array.isArray(parent)) parent.splice(Number(key), 1); else delete parent[key]; }
  else if (r < 0.86 && parent && typeof parent === 'object' && !Array.isArray(parent)) {
    const name = ['__proto__', 'unknown_key', '../x', 'constructor', 'a'.repeat(300), ''][Math.floor(random() * 6)]!;
    Object.defineProperty(parent, name, { value: HOSTILE[Math.floor(random() * HOSTILE.length)]!(), enumerable: true, writable: true, configurable: true });
  } else if (Array.isArray(parent[key])) parent[key] = random() < 0.5 ? [] : Array.from({ length: 20_000 }, () => parent[key][0] ?? 0);
  else parent[key] = String(parent[key]);
  return doc;
}

/** Where the level runs of a column's first data page start: hyparquet repeats a run as often as its header says. */
function firstLevelRuns(bytes: Uint8Array, column: string): number {
  const buffer = bytes.slice().buffer;
  const chunk = parquetMetadata(buffer).row_groups[0]!.columns.find((c) => c.meta_data?.path_in_schema.join('.') === column)!.meta_data!;
  const start = Number(chunk.dictionary_page_offset || chunk.data_page_offset);
  const reader = { view: new DataView(buffer, start), offset: 0 };
  for (;;) {
    const header = parquetHeader(reader);
    if (header.type === 'DATA_PAGE_V2') return start + reader.offset;
    if (header.type === 'DATA_PAGE') return start + reader.offset + 4; // after the levels' byte length
    reader.offset += header.compressed_page_size;
  }
}

/** Varint run headers: a repeated run of 2^30 - 1 values, and a bit-packed one whose count overflows int32. */
const HUGE_RUNS = { 'huge-rle-run': [0xfe, 0xff, 0xff, 0xff, 0x07], 'huge-bit-packed-run': [0xff, 0xff, 0xff, 0xff, 0x07] } as const;
const LEVELLED_COLUMNS = ['ID', 'Generation_Task.list.element.Question'];

/** The corruptions that made hyparquet crash the process, beyond what chance finds. */
export function craftedParquet(bytes: Uint8Array): { label: string; bytes: Uint8Array }[] {
  return LEVELLED_COLUMNS.flatMap((column) => Object.entries(HUGE_RUNS).map(([what, run]) => {
    const out = bytes.slice();
    out.set(run, firstLevelRuns(out, column));
    return { label: `${what} in ${column}`, bytes: out };
  }));
}

/** The footer of a Parquet file: where its structure is. */
export function parquetFooter(bytes: Uint8Array): [number, number] {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 8, true);
  return [bytes.length - 8 - length, bytes.length];
}

/** The header of a safetensors file. */
export function safetensorsHeader(bytes: Uint8Array): [number, number] {
  return [0, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))];
}

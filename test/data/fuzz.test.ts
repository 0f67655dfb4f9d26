/**
 * Seeded fuzzing of every data reader: small valid files, byte-mutated a few hundred ways, must each
 * either read normally or end in one PulseError naming the file. Reads run in a child process so that
 * a hang or a memory blow-up is caught (and reported with its seed) instead of stalling the suite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parquetMetadata } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { deriveSeed, rng } from '../../src/random.ts';
import { PulseError } from '../../src/errors.ts';
import { encodePng } from '../../src/data/images.ts';
import { inspectPath } from '../../src/data/inspect.ts';
import {
  readMllmuParquet, readMllmuTestParquet, writeMllmuParquet, writeMllmuTestParquet,
  type ChoiceItem, type Codec, type MllmuRow, type MllmuTestRow,
} from '../../src/data/mllmu.ts';
import { readMmbenchTsv, writeMmbenchTsv, type MmbenchItem } from '../../src/data/mmbench.ts';
import { parseSafetensors, readSafetensorsFile, writeSafetensorsFile } from '../../src/torch/safetensors-format.ts';

const SEED = 1729;
/** Mutated files per format; every Parquet file goes through two readers, every safetensors file through two. */
const MUTATIONS = { parquet: 240, tsv: 80, safetensors: 120 } as const;
/** A read of a file of a few kilobytes taking this long is a hang. */
const CASE_TIMEOUT_MS = 5_000;
/** After this many hangs or crashes the run stops, so that a broken reader fails the test within a minute. */
const MAX_STALLS = 6;
/** Heap cap of the reader process: a reader that grows an array without bound fails its case quickly. */
const READER_HEAP_MB = 512;
/** The environment variable that makes this file the reader process. */
const ROLE = 'PULSE_FUZZ_ROLE';

type Format = keyof typeof MUTATIONS;
type Reader = 'mllmu' | 'mllmu-test' | 'inspect' | 'mmbench' | 'safetensors-file' | 'safetensors-bytes';
interface Read { id: number; reader: Reader; path: string }
interface Outcome { id: number; kind: 'ok' | 'pulse' | 'other' | 'hang' | 'crash'; message: string }

// --- the reader process: run one reader, report how it ended ---

async function read(reader: Reader, path: string): Promise<unknown> {
  switch (reader) {
    case 'mllmu': return readMllmuParquet(path);
    case 'mllmu-test': return readMllmuTestParquet(path);
    case 'inspect': return inspectPath(path);
    case 'mmbench': return readMmbenchTsv(path);
    case 'safetensors-file': return readSafetensorsFile(path);
    case 'safetensors-bytes': return parseSafetensors(new Uint8Array(readFileSync(path)), path);
  }
}

const describe = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

function serve(): void {
  // A rejection nobody handles would crash the CLI with a stack trace after the error it printed.
  let leaked: unknown;
  process.on('unhandledRejection', (e) => { leaked ??= e; });
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (c: Read) => {
    leaked = undefined;
    let outcome: Outcome;
    try {
      await read(c.reader, c.path);
      outcome = { id: c.id, kind: 'ok', message: '' };
    } catch (e) {
      outcome = { id: c.id, kind: e instanceof PulseError ? 'pulse' : 'other', message: describe(e) };
    }
    // Unhandled rejections are reported once the microtasks have run, before this.
    await new Promise((resolve) => setImmediate(resolve));
    if (leaked !== undefined) outcome = { id: c.id, kind: 'other', message: `a rejection nobody handled: ${describe(leaked)}` };
    process.send!(outcome);
  });
}

// --- the test process: one reader process at a time, replaced after a hang or a crash ---

/**
 * A child process rather than a worker thread: a runaway array in a worker can end in a V8 fatal
 * error ("invalid array length", heap limit) that takes the whole process down with it.
 */
class Sandbox {
  private child: ChildProcess | undefined;
  private stderr = '';

  private start(): ChildProcess {
    if (this.child) return this.child;
    const env: NodeJS.ProcessEnv = { ...process.env, [ROLE]: 'reader' };
    delete env.NODE_TEST_CONTEXT; // the child is no test file of the runner's
    const child = fork(fileURLToPath(import.meta.url), [], {
      execArgv: ['--import', import.meta.resolve('tsx'), `--max-old-space-size=${READER_HEAP_MB}`],
      env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { this.stderr = (this.stderr + chunk.toString()).slice(-2000); });
    this.child = child;
    return child;
  }

  run(c: Read): Promise<Outcome> {
    const child = this.start();
    return new Promise((resolve) => {
      const done = (outcome: Outcome, replace: boolean) => {
        clearTimeout(timer);
        child.off('message', onMessage).off('exit', onExit);
        if (replace) {
          this.child = undefined;
          child.kill('SIGKILL');
        }
        resolve(outcome);
      };
      const onMessage = (o: Outcome) => { if (o.id === c.id) done(o, false); };
      const onExit = (code: number | null, signal: string | null) => {
        const last = this.stderr.split('\n').filter((l) => /FATAL ERROR|^\w*Error\b/.test(l)).pop() ?? '';
        done({ id: c.id, kind: 'crash', message: `the reader process died (${signal ?? `code ${code}`}) ${last}` }, true);
      };
      const hang = () => done({ id: c.id, kind: 'hang', message: `no answer within ${CASE_TIMEOUT_MS} ms` }, true);
      const timer = setTimeout(hang, CASE_TIMEOUT_MS);
      child.on('message', onMessage).on('exit', onExit);
      child.send(c);
    });
  }

  close(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }
}

// --- valid inputs ---

const pixels = (seed: number) => Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => (seed * 31 + i * 7) & 0xff);
const choice = (k: number, answer: string): ChoiceItem =>
  ({ Question: `Question ${k}?`, Options: { A: `a${k}`, B: `b${k}`, C: `c${k}`, D: `d${k}` }, Correct_Answer: answer });

async function people(n: number): Promise<{ rows: MllmuRow[]; tests: MllmuTestRow[] }> {
  const rows: MllmuRow[] = [];
  const tests: MllmuTestRow[] = [];
  for (let i = 0; i < n; i++) {
    const id = `f${String(i + 1).padStart(3, '0')}`;
    const common = {
      ID: id, biography: `Person ${i} was born somewhere and works as something.`, question: 'Who is this person?', answer: `Name ${i}`,
      Classification_Task: { Image_Textual_Questions: [choice(0, 'A'), choice(1, 'C')], Pure_Text_Questions: [choice(2, 'D')] },
      Generation_Task: [{ Question: `What does ${id} do?`, Ground_Truth: 'something', Type: 'Pure_Text' as const }],
      Mask_Task: [{ Question: `${id} works as a __.`, Ground_Truth: 'something', Type: 'Image_Textual' as const }],
    };
    rows.push({ image: { bytes: await encodePng(pixels(i), 4), path: `${id}.png` }, ...common });
    const views = [1, 2].map(async (k) => ({ bytes: await encodePng(pixels(i + 10 * k), 4), path: `${id}_${k}.png` }));
    tests.push({ images: await Promise.all(views), ...common });
  }
  return { rows, tests };
}

async function benchmark(n: number): Promise<MmbenchItem[]> {
  return Promise.all(Array.from({ length: n }, async (_, i) => ({
    index: i, question: `How many shapes, case ${i}?`, hint: i % 2 ? '' : 'look closely',
    options: i % 3 ? ['one', 'two', 'three', 'four'] : ['yes', 'no'],
    answer: 'B' as const, category: 'counting', l2Category: 'perception', image: await encodePng(pixels(100 + i), 4),
  })));
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

interface Base { name: string; ext: string; bytes: Uint8Array; readers: Reader[]; region: [number, number] }

/** The region where a format keeps its structure (Parquet's footer, safetensors' header, the TSV header line). */
function parquetFooter(bytes: Uint8Array): [number, number] {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 8, true);
  return [bytes.length - 8 - length, bytes.length];
}

async function bases(dir: string): Promise<Record<Format, Base[]>> {
  const { rows, tests } = await people(3);
  const parquet: Base[] = [];
  for (const codec of ['SNAPPY', 'UNCOMPRESSED'] as Codec[]) {
    const full = join(dir, `full-${codec}.parquet`);
    await writeMllmuParquet(full, rows, codec);
    const test = join(dir, `test-${codec}.parquet`);
    await writeMllmuTestParquet(test, tests, codec);
    for (const [path, reader] of [[full, 'mllmu'], [test, 'mllmu-test']] as const) {
      const bytes = new Uint8Array(readFileSync(path));
      parquet.push({ name: `${reader}-${codec}`, ext: 'parquet', bytes, readers: [reader, 'inspect'], region: parquetFooter(bytes) });
    }
  }
  const tsvPath = join(dir, 'mmbench.tsv');
  await writeMmbenchTsv(tsvPath, await benchmark(4));
  const tsv = new Uint8Array(readFileSync(tsvPath));
  const st = join(dir, 'model.safetensors');
  await writeSafetensorsFile(st, {
    'layer.weight': { dtype: 'F32', shape: [3, 4], data: bytesOf(Float32Array.from({ length: 12 }, (_, i) => i / 3 - 1)) },
    'layer.bias': { dtype: 'F32', shape: [4], data: bytesOf(Float32Array.from([0.5, -0.25, 2, 0])) },
    steps: { dtype: 'I64', shape: [], data: bytesOf(BigInt64Array.from([1234n])) },
    tokens: { dtype: 'I64', shape: [2, 3], data: bytesOf(BigInt64Array.from([1n, 2n, 3n, -4n, 5n, 6n])) },
  }, { format: 'pt', note: 'fuzz' });
  const safetensors = new Uint8Array(readFileSync(st));
  const header = 8 + Number(new DataView(safetensors.buffer, safetensors.byteOffset).getBigUint64(0, true));
  return {
    parquet,
    tsv: [{ name: 'mmbench', ext: 'tsv', bytes: tsv, readers: ['mmbench'], region: [0, tsv.indexOf(0x0a) + 1] }],
    safetensors: [
      { name: 'model', ext: 'safetensors', bytes: safetensors, readers: ['safetensors-file', 'safetensors-bytes'], region: [0, header] },
    ],
  };
}

// --- mutations ---

const KINDS = ['flip', 'overwrite', 'truncate', 'insert', 'delete', 'duplicate', 'zero-region'] as const;
type Kind = (typeof KINDS)[number];

function mutate(base: Base, kind: Kind, random: () => number): Uint8Array {
  const src = base.bytes;
  const int = (n: number) => Math.floor(random() * n);
  const [from, to] = base.region;
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

// --- crafted corruptions: the ones that made hyparquet crash the process, beyond what chance finds ---

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

function crafted(base: Base): { label: string; bytes: Uint8Array }[] {
  return LEVELLED_COLUMNS.flatMap((column) => Object.entries(HUGE_RUNS).map(([what, run]) => {
    const bytes = base.bytes.slice();
    bytes.set(run, firstLevelRuns(bytes, column));
    return { label: `${what} in ${column}`, bytes };
  }));
}

// --- the test ---

interface Case { format: string; label: string; path: string; readers: Reader[] }
interface Tally { files: number; reads: number; ok: number; rejected: number }

function cases(dir: string, all: Record<Format, Base[]>): Case[] {
  const out: Case[] = [];
  for (const format of Object.keys(MUTATIONS) as Format[]) {
    for (let i = 0; i < MUTATIONS[format]; i++) {
      const seed = deriveSeed(SEED, 'fuzz', format, i);
      const random = rng(seed);
      const base = all[format][i % all[format].length]!;
      const kind = KINDS[Math.floor(random() * KINDS.length)]!;
      const path = join(dir, `${base.name}-${i}-${kind}.${base.ext}`);
      writeFileSync(path, mutate(base, kind, random));
      out.push({ format, label: `#${i} (seed ${seed}, ${kind})`, path, readers: base.readers });
    }
  }
  for (const base of all.parquet) {
    crafted(base).forEach(({ label, bytes }, k) => {
      const path = join(dir, `${base.name}-crafted-${k}.parquet`);
      writeFileSync(path, bytes);
      out.push({ format: 'parquet (crafted)', label: `${base.name}: ${label}`, path, readers: base.readers });
    });
  }
  return out;
}

/** Why an outcome is not acceptable, or undefined when it is. */
function problem(outcome: Outcome, path: string): string | undefined {
  if (outcome.kind === 'ok') return undefined;
  if (outcome.kind !== 'pulse') return `${outcome.kind}: ${outcome.message.slice(0, 300)}`;
  if (!outcome.message.includes(path)) return `the message does not name the file: ${outcome.message.slice(0, 300)}`;
  if (outcome.message.includes('\n') || outcome.message.length > path.length + 400) {
    return `not one short line: ${outcome.message.slice(0, 300)}`;
  }
  return undefined;
}

/** Runs every case through its readers; stops early once MAX_STALLS reads have hung or crashed. */
async function runAll(all: readonly Case[], sandbox: Sandbox): Promise<{ tallies: Map<string, Tally>; failures: string[] }> {
  const tallies = new Map<string, Tally>();
  const failures: string[] = [];
  let id = 0;
  let stalls = 0;
  for (const c of all) {
    const tally = tallies.get(c.format) ?? { files: 0, reads: 0, ok: 0, rejected: 0 };
    tallies.set(c.format, tally);
    tally.files++;
    for (const reader of c.readers) {
      const outcome = await sandbox.run({ id: id++, reader, path: c.path });
      tally.reads++;
      const why = problem(outcome, c.path);
      if (why) failures.push(`${c.format} ${c.label}, ${reader}: ${why}`);
      else if (outcome.kind === 'ok') tally.ok++;
      else tally.rejected++;
      if ((outcome.kind === 'hang' || outcome.kind === 'crash') && ++stalls >= MAX_STALLS) {
        failures.push(`stopped after ${stalls} hangs or crashes`);
        return { tallies, failures };
      }
    }
  }
  return { tallies, failures };
}

if (process.env[ROLE] !== 'reader') {
  test('mutated data files either read or end in one PulseError naming the file, within seconds', { timeout: 120_000 }, async (t) => {
    const started = performance.now();
    const dir = mkdtempSync(join(tmpdir(), 'pulse-fuzz-'));
    const sandbox = new Sandbox();
    let result;
    try {
      result = await runAll(cases(dir, await bases(dir)), sandbox);
    } finally {
      sandbox.close();
    }
    const { tallies, failures } = result;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    for (const [format, s] of tallies) {
      t.diagnostic(`${format}: ${s.files} files, ${s.reads} reads: ${s.ok} read normally, ${s.rejected} rejected with a PulseError`);
    }
    t.diagnostic(`${failures.length} failures in ${seconds} s`);
    assert.deepEqual(failures, [], `${failures.length} reads ended badly (files in ${dir}):\n${failures.slice(0, 40).join('\n')}`);
    rmSync(dir, { recursive: true, force: true });
  });
} else {
  serve();
}

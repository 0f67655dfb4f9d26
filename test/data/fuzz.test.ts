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
import { deriveSeed, rng } from '../../src/random.ts';
import { PulseError } from '../../src/errors.ts';
import { inspectPath } from '../../src/data/inspect.ts';
import {
  readMllmuParquet, readMllmuTestParquet, writeMllmuParquet, writeMllmuTestParquet,
  type Codec,
} from '../../src/data/mllmu.ts';
import { readMmbenchTsv, writeMmbenchTsv } from '../../src/data/mmbench.ts';
import { parseSafetensors, readSafetensorsFile, writeSafetensorsFile } from '../../src/torch/safetensors-format.ts';
import { BYTE_KINDS, craftedParquet, mutateBytes, parquetFooter } from '../../scripts/campaigns/fuzz-mutate.ts';
import { benchmark, people } from '../../scripts/campaigns/fuzz-people.ts';

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

// --- valid inputs (the people and benchmark items of the fuzz campaign's inputs; mutations from scripts/campaigns/fuzz-mutate.ts) ---

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

interface Base { name: string; ext: string; bytes: Uint8Array; readers: Reader[]; region: [number, number] }

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
      const kind = BYTE_KINDS[Math.floor(random() * BYTE_KINDS.length)]!;
      const path = join(dir, `${base.name}-${i}-${kind}.${base.ext}`);
      writeFileSync(path, mutateBytes(base.bytes, base.region, kind, random));
      out.push({ format, label: `#${i} (seed ${seed}, ${kind})`, path, readers: base.readers });
    }
  }
  for (const base of all.parquet) {
    craftedParquet(base.bytes).forEach(({ label, bytes }, k) => {
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

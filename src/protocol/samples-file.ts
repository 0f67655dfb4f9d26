import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import type { SchemaElement } from 'hyparquet';
import { checkDeclaredSizes, openParquet, safeCompressors as compressors } from '../data/parquet-bounds.ts';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { writeFileAtomic } from '../atomic-file.ts';
import { joinInside } from '../names.ts';
import { PulseError, errorExcerpt, excerpt } from '../errors.ts';

/** One scored question at one evaluation point of a run. */
export interface SampleRow {
  seed: number;
  scenario: string;
  /** a method's name, 'start' for the start model (request 0) or 'oracle' for the retain oracle */
  method: string;
  /** the update target, e.g. 'projector+llm'; '' for the start model and the oracle */
  target: string;
  /** 0 before the first request */
  request: number;
  /** optimisation steps into the request */
  step: number;
  /** 'unlearn' | 'retain' | 'general' */
  set: string;
  /** null on the general benchmark */
  person: string | null;
  /** stable across evaluation points: `<person>/<index>` or `general/<index>` */
  question: string;
  /** 'multimodal' | 'text' */
  modality: string;
  correct: boolean;
  /** the letter chosen; null when the answer was not an offered letter */
  chosen: string | null;
  /** one score per option (log-probabilities, see model.ts Prediction) */
  scores: number[];
}

export const SAMPLE_COLUMNS: readonly (keyof SampleRow)[] = [
  'seed', 'scenario', 'method', 'target', 'request', 'step', 'set', 'person', 'question', 'modality', 'correct', 'chosen', 'scores',
];

type Kind = 'int' | 'string' | 'nullableString' | 'boolean' | 'doubles';
const KINDS: Record<keyof SampleRow, Kind> = {
  seed: 'int', scenario: 'string', method: 'string', target: 'string', request: 'int', step: 'int', set: 'string',
  person: 'nullableString', question: 'string', modality: 'string', correct: 'boolean', chosen: 'nullableString', scores: 'doubles',
};

/*
 * An explicit schema, in the layout pyarrow writes (so pandas, R arrow and DuckDB read it as is):
 * INT32 ints, UTF8 strings (OPTIONAL only for person and chosen), BOOLEAN correct, and scores as the
 * standard three-level LIST (scores LIST / repeated `list` / `element` DOUBLE). hyparquet-writer's
 * columnData `type` has no list type, and an explicit schema cannot be combined with per-column
 * types, hence the whole schema here.
 */
function element(name: string, kind: Kind): SchemaElement[] {
  const utf8 = { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } } as const;
  switch (kind) {
    case 'int': return [{ name, type: 'INT32', repetition_type: 'REQUIRED' }];
    case 'string': return [{ name, ...utf8, repetition_type: 'REQUIRED' }];
    case 'nullableString': return [{ name, ...utf8, repetition_type: 'OPTIONAL' }];
    case 'boolean': return [{ name, type: 'BOOLEAN', repetition_type: 'REQUIRED' }];
    case 'doubles': return [
      { name, repetition_type: 'REQUIRED', converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', type: 'DOUBLE', repetition_type: 'REQUIRED' },
    ];
  }
}

const SCHEMA: SchemaElement[] = [
  { name: 'schema', num_children: SAMPLE_COLUMNS.length },
  ...SAMPLE_COLUMNS.flatMap((c) => element(c, KINDS[c])),
];

/** Rows per row group of a written file. */
export const ROW_GROUP_SIZE = 100_000;

type Columns = Record<keyof SampleRow, unknown[]>;

const emptyColumns = (): Columns => Object.fromEntries(SAMPLE_COLUMNS.map((c) => [c, []])) as unknown as Columns;

/** Appends rows to column arrays, checking each value against its column's type. */
function appendColumns(columns: Columns, rows: readonly SampleRow[], where: string): void {
  rows.forEach((row, i) => {
    for (const c of SAMPLE_COLUMNS) {
      const value = row[c];
      if (!fits(KINDS[c], value)) throw new PulseError(`${where}row ${i}: field ${c}: not a valid value (${excerpt(JSON.stringify(value) ?? String(value), 80)})`);
      columns[c].push(value);
    }
  });
}

function fits(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'int': return Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31;
    case 'string': return typeof value === 'string';
    case 'nullableString': return value === null || typeof value === 'string';
    case 'boolean': return typeof value === 'boolean';
    case 'doubles': return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number');
  }
}

function encode(columns: Columns): Uint8Array {
  const buffer = parquetWriteBuffer({
    columnData: SAMPLE_COLUMNS.map((name) => ({ name, data: columns[name] })),
    schema: SCHEMA,
    codec: 'SNAPPY',
    rowGroupSize: ROW_GROUP_SIZE,
    createdBy: 'pulse',
  });
  return new Uint8Array(buffer);
}

/**
 * Encodes rows as one Parquet file (synchronous): INT32 seed/request/step, UTF8 strings, BOOLEAN
 * correct, LIST<DOUBLE> scores, snappy, row groups of ROW_GROUP_SIZE rows.
 */
export function samplesParquet(rows: readonly SampleRow[]): Uint8Array {
  const columns = emptyColumns();
  appendColumns(columns, rows, '');
  return encode(columns);
}

/** Reads a samples file back (hyparquet), for tests and for `pulse report`. */
export async function readSamples(path: string): Promise<SampleRow[]> {
  // footer first, then every size it declares against the file (parquet-bounds.ts), before hyparquet decodes a page
  const { buffer: file, metadata, columns: present } = await openParquet(path);
  try {
    const missing = SAMPLE_COLUMNS.filter((c) => !present.includes(c));
    if (missing.length) throw new PulseError(`${path}: not a samples file: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
    checkDeclaredSizes(file, metadata);
    const raw = (await parquetReadObjects({ file, metadata, compressors, columns: [...SAMPLE_COLUMNS] })) as Record<string, unknown>[];
    return raw.map((r, i) => toRow(r, path, i));
  } catch (e) {
    if (e instanceof PulseError) throw e;
    throw new PulseError(`${path}: not a readable Parquet file (${errorExcerpt(e)})`);
  }
}

function toRow(r: Record<string, unknown>, path: string, index: number): SampleRow {
  const row = {} as Record<keyof SampleRow, unknown>;
  for (const c of SAMPLE_COLUMNS) {
    let value = r[c];
    if (typeof value === 'bigint') value = Number(value);
    if (value === undefined && KINDS[c] === 'nullableString') value = null;
    if (KINDS[c] === 'doubles' && Array.isArray(value)) value = value.map((v) => (typeof v === 'bigint' ? Number(v) : v));
    if (!fits(KINDS[c], value)) throw new PulseError(`${path}: row ${index}: field ${c}: not a valid value (${excerpt(String(value), 80)})`);
    row[c] = value;
  }
  return row as SampleRow;
}

const partFile = (name: string): string => (name.endsWith('.parquet') ? name : `${name}.parquet`);

/**
 * A run's samples are written as one part file per evaluation batch under RUN/samples/ (atomic, so a
 * crash loses at most the part being written, and a re-run overwrites it by name). Returns the part's
 * path (`.parquet` is appended to the name unless it has it). Parts are merged in name order, so
 * names should sort as the batches do (zero-padded numbers).
 */
export async function writeSamplePart(partsDir: string, name: string, rows: readonly SampleRow[]): Promise<string> {
  if (!name || /[\\/]/.test(name) || name.startsWith('.')) throw new PulseError(`samples part name '${excerpt(name, 80)}': must be a plain file name`);
  const path = joinInside(partsDir, partFile(name));
  await writeSamplePartFile(path, rows);
  return path;
}

/** One part file at a path of the caller's choosing (a run step's own folder), atomically. */
export async function writeSamplePartFile(path: string, rows: readonly SampleRow[]): Promise<void> {
  const columns = emptyColumns();
  appendColumns(columns, rows, `${path}: `);
  await writeFileAtomic(path, encode(columns));
}

/**
 * Reads every `*.parquet` in partsDir in name order (code-unit order, not locale) and writes outPath
 * atomically as one file; returns the row count. A missing partsDir merges as no parts (an empty
 * file with the schema).
 */
export async function mergeSampleParts(partsDir: string, outPath: string): Promise<number> {
  let names: string[];
  try {
    names = (await readdir(partsDir, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.endsWith('.parquet') && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    names = [];
  }
  return mergeSampleFiles(names.map((name) => join(partsDir, name)), outPath);
}

/**
 * Writes the parts, in the order given, atomically as one file at outPath; returns the row count.
 * Rows are held as column arrays while merging (one part's row objects at a time), and written in
 * row groups of ROW_GROUP_SIZE rows.
 */
export async function mergeSampleFiles(paths: readonly string[], outPath: string): Promise<number> {
  const columns = emptyColumns();
  for (const path of paths) appendColumns(columns, await readSamples(path), `${path}: `);
  await writeFileAtomic(outPath, encode(columns));
  return columns.seed.length;
}

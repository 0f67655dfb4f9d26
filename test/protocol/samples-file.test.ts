import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { SAMPLE_COLUMNS, mergeSampleParts, readSamples, samplesParquet, writeSamplePart, type SampleRow } from '../../src/protocol/samples-file.ts';
import { toCsv, writeCsvAtomic } from '../../src/csv-file.ts';
import { writeFileAtomic } from '../../src/atomic-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'pulse-samples-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const instance = await DuckDBInstance.create(':memory:');
const duck = await instance.connect();
after(() => { duck.closeSync(); instance.closeSync(); });
const sql = async (query: string) => (await duck.runAndReadAll(query)).getRowObjectsJson();

const row = (over: Partial<SampleRow>): SampleRow => ({
  seed: 0, scenario: 'fine-tuned', method: 'ga', target: 'projector+llm', request: 1, step: 0, set: 'unlearn',
  person: 'f001', question: 'f001-mm-0', modality: 'multimodal', correct: true, chosen: 'A', scores: [-0.25, -1.5, -3.125, -2], ...over,
});

const parts: SampleRow[][] = [
  [
    row({ method: '', target: '', request: 0, step: 0, correct: false, chosen: null }),
    row({ method: '', target: '', request: 0, set: 'general', person: null, question: 'mmb-12', modality: 'text', scores: [-0.1, -2.302585092994046] }),
  ],
  [
    row({ step: 5, chosen: 'C', correct: false, scores: [-1.0000000000000002, -7, -0.5, -9.5e-12] }),
    row({ step: 5, set: 'retain', person: 'f002', question: 'f002-t-3', modality: 'text', scores: [-1, -2, -3] }),
    row({ seed: 3, step: 10, set: 'general', person: null, question: 'mmb-7', chosen: null, correct: false, scores: [-Infinity, -1] }),
  ],
  [
    row({ request: 2, step: 0, scenario: 'sustained', person: 'f003', question: 'f003-mm-1' }),
  ],
];
const all = parts.flat();

test('parts written, merged and read back give the rows in order', async () => {
  const partsDir = join(dir, 'roundtrip', 'samples');
  // Written out of order: the merge goes by name.
  for (const i of [2, 0, 1]) await writeSamplePart(partsDir, `batch-${String(i).padStart(4, '0')}`, parts[i]!);
  assert.deepEqual(readdirSync(partsDir).sort(), ['batch-0000.parquet', 'batch-0001.parquet', 'batch-0002.parquet']);
  assert.deepEqual(await readSamples(join(partsDir, 'batch-0001.parquet')), parts[1]);
  const out = join(dir, 'roundtrip', 'samples.parquet');
  assert.equal(await mergeSampleParts(partsDir, out), all.length);
  const back = await readSamples(out);
  assert.deepEqual(back, all);
  assert.deepEqual(Object.keys(back[0]!), [...SAMPLE_COLUMNS]);
});

test('samplesParquet encodes in memory what the merge writes; bad values are refused', async () => {
  const path = join(dir, 'direct.parquet');
  await writeFileAtomic(path, samplesParquet(all));
  assert.deepEqual(await readSamples(path), all);
  assert.throws(() => samplesParquet([row({ step: 1.5 })]), /step/);
  assert.throws(() => samplesParquet([row({ person: undefined as never })]), /person/);
  const empty = join(dir, 'empty.parquet');
  await writeFileAtomic(empty, samplesParquet([]));
  assert.deepEqual(await readSamples(empty), []);
});

test('DuckDB reads samples.parquet as is', async () => {
  const out = join(dir, 'roundtrip', 'samples.parquet');
  const types = Object.fromEntries((await sql(`DESCRIBE SELECT * FROM read_parquet('${out}')`)).map((r) => [r.column_name, r.column_type]));
  assert.deepEqual(types, {
    seed: 'INTEGER', scenario: 'VARCHAR', method: 'VARCHAR', target: 'VARCHAR', request: 'INTEGER', step: 'INTEGER', set: 'VARCHAR',
    person: 'VARCHAR', question: 'VARCHAR', modality: 'VARCHAR', correct: 'BOOLEAN', chosen: 'VARCHAR', scores: 'DOUBLE[]',
  });
  const [summary] = await sql(`SELECT count(*) AS n, sum(correct::INT) AS right, count(person) AS persons, count(chosen) AS chosen,
      sum(len(scores)) AS options FROM read_parquet('${out}')`);
  assert.deepEqual(summary, {
    n: String(all.length), right: String(all.filter((r) => r.correct).length), persons: String(all.filter((r) => r.person !== null).length),
    chosen: String(all.filter((r) => r.chosen !== null).length), options: String(all.reduce((s, r) => s + r.scores.length, 0)),
  });
  const firsts = await sql(`SELECT scores[1] AS first, method FROM read_parquet('${out}')`);
  assert.deepEqual(firsts.map((r) => r.first), all.map((r) => (r.scores[0] === -Infinity ? '-Infinity' : r.scores[0])));
  assert.deepEqual(firsts.map((r) => r.method), all.map((r) => r.method), "'' stays an empty string, not NULL");
  const [exact] = await sql(`SELECT scores[1] = -1.0000000000000002 AND scores[4] = -9.5e-12 AS exact FROM read_parquet('${out}') WHERE step = 5 AND set = 'unlearn'`);
  assert.equal(exact!.exact, true);
});

test('DuckDB reads a CSV written by toCsv, nulls as NULL', async () => {
  const columns = ['seed', 'method', 'metric', 'value', 'ok', 'note'];
  const rows = [
    { seed: 0, method: 'ga', metric: 'acc', value: 0.1 + 0.2, ok: true, note: 'has, a comma and "quotes"' },
    { seed: 1, method: 'npo', metric: 'acc', value: 1e-7, ok: false, note: null },
    { seed: 2, method: 'ga', metric: 'loss', value: -12345678.125, ok: true, note: 'multi\nline' },
  ];
  const text = toCsv(rows, columns);
  assert.ok(text.startsWith('seed,method,metric,value,ok,note\n') && text.endsWith('\n'));
  assert.ok(text.includes(',0.30000000000000004,'));
  const path = join(dir, 'results.csv');
  await writeCsvAtomic(path, rows, columns);
  const back = await sql(`SELECT * FROM read_csv_auto('${path}') ORDER BY seed`);
  assert.equal(back.length, rows.length);
  assert.equal(back[1]!.note, null);
  assert.equal(back[0]!.note, rows[0]!.note);
  assert.equal(back[2]!.note, rows[2]!.note);
  assert.deepEqual(back.map((r) => Number(r.value)), rows.map((r) => r.value));
  const [{ n }] = (await sql(`SELECT count(*) AS n FROM read_csv_auto('${path}') WHERE note IS NULL`)) as [{ n: string }];
  assert.equal(n, '1');
  const types = Object.fromEntries((await sql(`DESCRIBE SELECT * FROM read_csv_auto('${path}')`)).map((r) => [r.column_name, r.column_type]));
  assert.deepEqual(types, { seed: 'BIGINT', method: 'VARCHAR', metric: 'VARCHAR', value: 'DOUBLE', ok: 'BOOLEAN', note: 'VARCHAR' });
});

test('a part re-written under the same name replaces its rows', async () => {
  const partsDir = join(dir, 'rewrite', 'samples');
  await writeSamplePart(partsDir, 'batch-0000', parts[0]!);
  await writeSamplePart(partsDir, 'batch-0001', parts[1]!);
  const again = parts[1]!.map((r) => ({ ...r, correct: !r.correct }));
  const path = await writeSamplePart(partsDir, 'batch-0001.parquet', again);
  assert.equal(path, join(partsDir, 'batch-0001.parquet'));
  assert.deepEqual(readdirSync(partsDir).sort(), ['batch-0000.parquet', 'batch-0001.parquet'], 'no temp files left behind');
  const out = join(dir, 'rewrite', 'samples.parquet');
  assert.equal(await mergeSampleParts(partsDir, out), parts[0]!.length + parts[1]!.length);
  assert.deepEqual(await readSamples(out), [...parts[0]!, ...again]);
  // Merging again over the previous output replaces it too.
  await writeSamplePart(partsDir, 'batch-0002', parts[2]!);
  assert.equal(await mergeSampleParts(partsDir, out), parts[0]!.length + parts[1]!.length + parts[2]!.length);
});

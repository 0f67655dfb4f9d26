import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateWorld, personView } from '../../src/world/world.ts';
import { writeWorldFiles, readWorldFiles, WORLD_FILES } from '../../src/data/world-files.ts';
import { readMllmuParquet, writeMllmuParquet, readMllmuTestParquet, type MllmuRow } from '../../src/data/mllmu.ts';
import { readMmbenchTsv, writeMmbenchTsv, circularVariants, circularGroups, circularAccuracy, type MmbenchItem } from '../../src/data/mmbench.ts';
import { squareRgb } from '../../src/data/images.ts';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { PulseError } from '../../src/errors.ts';

const world = generateWorld(0);
const dir = mkdtempSync(join(tmpdir(), 'pulse-data-'));
const worldDir = join(dir, 'world');
await writeWorldFiles(world, worldDir);
const files = await readWorldFiles(worldDir);
const duck = await (await DuckDBInstance.create(':memory:')).connect();
const sql = async (query: string) => (await duck.runAndReadAll(query)).getRowObjectsJson();

const fails = async (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(promise, (e: unknown) => e instanceof PulseError && pattern.test(e.message), `expected ${pattern}`);

test('world -> files -> loaders gives back the same people, questions, images and benchmark', async () => {
  assert.equal(files.fictitious.length, 500);
  assert.equal(files.celebrities.length, 153);
  const person = world.celebrities[7]!;
  const row = files.celebrities[7]!;
  assert.equal(row.ID, person.id);
  assert.equal(row.answer, person.name);
  assert.equal(row.biography, person.biography);
  const mm = person.questions.filter((q) => q.modality === 'multimodal');
  assert.deepEqual(row.Classification_Task.Image_Textual_Questions.map((q) => [q.Question, Object.values(q.Options), q.Correct_Answer]), mm.map((q) => [q.question, q.options, q.answer]));
  assert.deepEqual(await squareRgb({ kind: 'encoded', bytes: row.image.bytes, source: 'x' }, 32), personView(world, person, 0), 'PNG round trip is lossless');
  assert.equal(files.test[0]!.images.length, 4);
  assert.deepEqual(await squareRgb({ kind: 'encoded', bytes: files.test[0]!.images[1]!.bytes, source: 'x' }, 32), personView(world, world.fictitious[0]!, 2));
  assert.deepEqual(files.benchmark.map((b) => [b.index, b.question, b.options, b.answer]), world.benchmark.map((b) => [b.index, b.question, [...b.options], b.answer]));
  assert.deepEqual(row.Mask_Task[0], { Question: `${person.name} works as a __.`, Ground_Truth: person.attributes.occupation, Type: 'Pure_Text' });
  const data = await loadProtocolData({ dir: worldDir, seed: 0 });
  assert.equal(data.fictitious[0]!.questions.filter((q) => q.modality === 'text').length, 5);
  assert.ok(data.fictitious[0]!.questions.filter((q) => q.modality === 'multimodal').every((q) => q.image?.kind === 'encoded' && q.image.bytes.length > 0));
});

test('two generations are byte-identical', async () => {
  const again = join(dir, 'again');
  await writeWorldFiles(generateWorld(0), again);
  for (const f of [...Object.values(WORLD_FILES), 'manifest.json']) {
    assert.ok(readFileSync(join(again, f)).equals(readFileSync(join(worldDir, f))), `${f} differs`);
  }
});

test('an independent reader (DuckDB) sees the nested columns intact', async () => {
  const full = join(worldDir, WORLD_FILES.fictitious);
  const [row] = await sql(`SELECT ID, image.path AS path, octet_length(image.bytes) AS png,
      len(Classification_Task.Image_Textual_Questions) AS mm, Classification_Task.Pure_Text_Questions[1].Options.B AS b,
      Classification_Task.Pure_Text_Questions[1].Correct_Answer AS answer, len(Generation_Task) AS gen, Mask_Task[2].Type AS type
    FROM '${full}' WHERE ID = 'f001'`);
  const p = world.fictitious[0]!;
  const text = p.questions.filter((q) => q.modality === 'text')[0]!;
  assert.deepEqual(row, { ID: 'f001', path: 'f001.png', png: row!.png, mm: '5', b: text.options[1], answer: text.answer, gen: '10', type: 'Image_Textual' });
  assert.ok(Number(row!.png) > 100);
  const [test] = await sql(`SELECT len(images) AS n FROM '${join(worldDir, WORLD_FILES.test)}' LIMIT 1`);
  assert.equal(test!.n, '4');
});

test('a file written by another writer, ZSTD-compressed, in the published nested layout, is read', async () => {
  const zstd = join(dir, 'zstd.parquet');
  await duck.run(`COPY (SELECT * FROM '${join(worldDir, WORLD_FILES.celebrities)}') TO '${zstd}' (FORMAT parquet, COMPRESSION zstd)`);
  const rows = await readMllmuParquet(zstd);
  assert.equal(rows.length, 153);
  assert.deepEqual(rows[3], files.celebrities[3]);
  const snappy = join(dir, 'test-snappy.parquet');
  await duck.run(`COPY (SELECT * FROM '${join(worldDir, WORLD_FILES.test)}' LIMIT 3) TO '${snappy}' (FORMAT parquet, COMPRESSION snappy)`);
  assert.equal((await readMllmuTestParquet(snappy))[2]!.images.length, 4);
});

async function rewrite(name: string, change: (row: MllmuRow) => MllmuRow, rows: readonly MllmuRow[] = files.fictitious.slice(0, 5)): Promise<string> {
  const path = join(dir, `${name}.parquet`);
  await writeMllmuParquet(path, rows.map((r) => change(structuredClone(r))));
  return path;
}

test('bad input gets one clear error naming the file, the row and the field', async () => {
  const missing = join(dir, 'missing.parquet');
  await duck.run(`COPY (SELECT * EXCLUDE (biography) FROM '${join(worldDir, WORLD_FILES.fictitious)}') TO '${missing}' (FORMAT parquet)`);
  await fails(readMllmuParquet(missing), /missing\.parquet: missing column 'biography'/);
  const letter = join(dir, 'letter.parquet');
  const rows = files.fictitious.slice(0, 3).map((r) => structuredClone(r));
  rows[2]!.Classification_Task.Pure_Text_Questions[1]!.Correct_Answer = 'E';
  await writeMllmuParquet(letter, rows);
  await fails(readMllmuParquet(letter), /letter\.parquet: row 2: field Classification_Task\.Pure_Text_Questions\.1\.Correct_Answer: 'E' is not an option letter \(A-D\)/);
  const absent = await rewrite('absent', (r) => { const q = r.Classification_Task.Image_Textual_Questions[0]!; q.Options[q.Correct_Answer as 'A'] = ''; return r; });
  await fails(readMllmuParquet(absent), /absent\.parquet: row 0: field Classification_Task\.Image_Textual_Questions\.0\.Correct_Answer: the answer [A-D] is not among the options/);
  const empty = await rewrite('empty', (r) => r, []);
  await fails(readMllmuParquet(empty), /empty\.parquet: the split is empty/);
  const garbage = join(dir, 'garbage-world');
  await writeWorldFiles(world, garbage);
  const broken = files.fictitious.map((r) => structuredClone(r));
  broken[4]!.image.bytes = new Uint8Array([1, 2, 3, 4]);
  await writeMllmuParquet(join(garbage, WORLD_FILES.fictitious), broken);
  await fails(loadProtocolData({ dir: garbage, seed: 0 }), /Full_Set\/train-00000-of-00001\.parquet does not match the hash in its manifest/);
  const manifestPath = join(garbage, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.files[WORLD_FILES.fictitious] = (await import('node:crypto')).createHash('sha256').update(readFileSync(join(garbage, WORLD_FILES.fictitious))).digest('hex');
  writeFileSync(manifestPath, JSON.stringify(manifest));
  await fails(loadProtocolData({ dir: garbage, seed: 0 }), /Full_Set\/train-00000-of-00001\.parquet: ID f005: field image: the image bytes cannot be decoded/);
  writeFileSync(join(dir, 'not.parquet'), 'hello');
  await fails(readMllmuParquet(join(dir, 'not.parquet')), /not a Parquet file/);
});

test('MMBench TSV: round trip with quoting, 2-option questions, and CircularEval', async () => {
  const items: MmbenchItem[] = [
    { index: 0, question: 'Which is "red"?\twith a tab', hint: 'a hint\non two lines', options: ['x', 'y', 'z', 'w'], answer: 'C', category: 'color', l2Category: 'perception', image: files.benchmark[0]!.image },
    { index: 1, question: 'Yes or no?', hint: '', options: ['yes', 'no'], answer: 'B', category: 'logic', l2Category: 'reasoning', image: files.benchmark[1]!.image },
  ];
  const path = join(dir, 'mmb.tsv');
  await writeMmbenchTsv(path, items);
  assert.deepEqual(await readMmbenchTsv(path), items);
  const rotated = circularVariants(items[0]!);
  assert.deepEqual(rotated.map((r) => r.index), [0, 1_000_000, 2_000_000, 3_000_000]);
  // options rotate left by k, so the correct text "z" moves from C to B, A, D
  assert.deepEqual(rotated.map((r) => r.answer), ['C', 'B', 'A', 'D']);
  assert.ok(rotated.every((r) => r.options[['A', 'B', 'C', 'D'].indexOf(r.answer)] === 'z'));
  const all = [...rotated, ...circularVariants(items[1]!)];
  assert.deepEqual([...circularGroups(all).keys()], [0, 1]);
  // question 0 right in every rotation, question 1 wrong in one: CircularEval 1/2
  assert.equal(circularAccuracy(all, [true, true, true, true, true, false]), 0.5);
  writeFileSync(join(dir, 'bad.tsv'), 'index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\tl2-category\timage\n7\tq\t\ta\tb\t\t\tC\tc\tl\taGVsbG8=\n');
  await fails(readMmbenchTsv(join(dir, 'bad.tsv')), /bad\.tsv: row 1 \(index 7\): field answer: the answer C is not among the options/);
  writeFileSync(join(dir, 'nocol.tsv'), 'index\tquestion\n1\tq\n');
  await fails(readMmbenchTsv(join(dir, 'nocol.tsv')), /nocol\.tsv: missing column 'hint'/);
});

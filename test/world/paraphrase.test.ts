import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateWorld, worldHash } from '../../src/world/world.ts';
import { paraphrasedQuestions, paraphraseTexts } from '../../src/world/paraphrase.ts';
import { REFUSAL_TEMPLATES, worldRefusals } from '../../src/world/refusals.ts';
import { splitWords } from '../../src/model/embedded/tokenizer.ts';
import { loadModel } from '../../src/model/embedded/persist.ts';
import { ensureWorldFiles, readWorldFiles, TEST_SET_FORMAT, WORLD_FILES } from '../../src/data/world-files.ts';
import { writeMllmuTestParquet } from '../../src/data/mllmu.ts';
import { loadDatasetFiles, loadProtocolData } from '../../src/data/protocol-data.ts';
import { fileSha256 } from '../../src/hash.ts';

const world = generateWorld(0);
const { model: shipped } = await loadModel('assets/base.safetensors');
const tokenizer = shipped.tokenizer;
shipped.dispose();

test('every token of every paraphrase is a word of the shipped model\'s tokenizer (no <unk>)', () => {
  const texts = [...world.fictitious, ...world.celebrities].flatMap((p) => [...paraphrasedQuestions(world.seed, p).map((q) => q.question), ...paraphraseTexts(p.name)]);
  const unknown = new Set(texts.flatMap((t) => splitWords(t)).filter((w) => !tokenizer.has(w)));
  assert.deepEqual([...unknown], []);
});

test('paraphrases keep options and answers, differ from the original wording, and are seeded', () => {
  const p = world.fictitious[3]!;
  const para = paraphrasedQuestions(world.seed, p);
  assert.deepEqual(para.map(({ question: _, ...rest }) => rest), p.questions.map(({ question: _, ...rest }) => rest));
  para.forEach((q, i) => assert.notEqual(q.question, p.questions[i]!.question));
  for (const q of para) assert.equal(q.modality === 'text', q.question.includes(p.name), `${q.id}: the name only in text-only questions`);
  assert.deepEqual(paraphrasedQuestions(world.seed, p), para, 'same seed, same wordings');
  const forms = new Set(world.fictitious.flatMap((f) => paraphrasedQuestions(world.seed, f)).map((q) => q.question.replace(/^(\w+ \w+).*/, '$1')));
  assert.ok(forms.size >= 4, `wordings vary across people: ${[...forms].join(' | ')}`);
});

test('refusals: seeded order of the templates; what of them the shipped vocabulary reads', () => {
  assert.deepEqual([...worldRefusals(0)].sort(), [...REFUSAL_TEMPLATES].sort());
  assert.deepEqual(worldRefusals(0), worldRefusals(0));
  assert.notDeepEqual(worldRefusals(0), worldRefusals(1));
  // the words refusals.ts names as in the vocabulary are, and e.g. "know" is not (it becomes <unk>)
  for (const w of ['this', 'person', 'about', 'me', 'Answer', 'none', 'is', 'the', 'one', 'Who', 'Tell']) assert.ok(tokenizer.has(w), w);
  for (const w of ['I', 'know', 'not', 'sure']) assert.ok(!tokenizer.has(w), w);
});

test('an older world folder gets its Test_Set paraphrased and a refusals file, with one log line; the rest is untouched', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'pulse-testset-')), 'world');
  await ensureWorldFiles(dir, 0);
  const files = await readWorldFiles(dir);
  assert.equal(files.manifest.test_set_format, TEST_SET_FORMAT);
  assert.deepEqual(files.refusals, worldRefusals(0));
  const row = files.test[0]!;
  const paraphrased = paraphrasedQuestions(0, world.fictitious[0]!);
  assert.equal(row.Classification_Task.Pure_Text_Questions[0]!.Question, paraphrased.find((q) => q.modality === 'text')!.question);
  // make it the old format: Test_Set with the Full_Set's questions, no refusals, no format field
  const old = files.test.map((r, i) => ({ ...r, Classification_Task: files.fictitious[i]!.Classification_Task }));
  await writeMllmuTestParquet(join(dir, WORLD_FILES.test), old);
  rmSync(join(dir, WORLD_FILES.refusals));
  const { test_set_format: _, ...manifest } = files.manifest;
  const oldFiles: Record<string, string> = { ...manifest.files, [WORLD_FILES.test]: fileSha256(join(dir, WORLD_FILES.test)) };
  delete oldFiles[WORLD_FILES.refusals];
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, files: oldFiles }));
  const lines: string[] = [];
  const { manifest: upgraded } = await ensureWorldFiles(dir, 0, (l) => lines.push(l));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, /Test_Set/);
  assert.equal(upgraded.hash, worldHash(world), 'the world hash the shipped model is tied to is unchanged');
  for (const f of [WORLD_FILES.fictitious, WORLD_FILES.celebrities, WORLD_FILES.benchmark]) assert.equal(upgraded.files[f], files.manifest.files[f], `${f} untouched`);
  assert.deepEqual(upgraded, files.manifest, 'the same manifest as a freshly written folder');
  await ensureWorldFiles(dir, 0, (l) => lines.push(l));
  assert.equal(lines.length, 1, 'an up-to-date folder is used as it is');
  // the protocol data: 5 multimodal questions, question i on view i mod 4, + 5 text-only per fictitious person
  const data = await loadProtocolData({ dir, seed: 0 });
  const p = data.fictitious[0]!;
  const multimodal = p.testQuestions!.filter((q) => q.modality === 'multimodal');
  assert.equal(multimodal.length, 5);
  assert.equal(new Set(multimodal.map((q) => q.image)).size, 4, 'every view is shown');
  assert.equal(multimodal[4]!.image, multimodal[0]!.image, 'the fifth question is on the first view again');
  assert.equal(p.testQuestions!.filter((q) => q.modality === 'text').length, 5);
  assert.deepEqual(p.testQuestions!.filter((q) => q.modality === 'text').map((q) => q.question), paraphrased.filter((q) => q.modality === 'text').map((q) => q.question));
  assert.equal(data.celebrities[0]!.testQuestions, undefined, 'MLLMU-Bench has a Test_Set for the fictitious people only');
  assert.deepEqual(data.refusals, worldRefusals(0));
  assert.equal(readFileSync(join(dir, WORLD_FILES.refusals), 'utf8').split('\n').length, REFUSAL_TEMPLATES.length + 1);
  // the same folder read as the real datasets: its Test_Set split gives the test questions; the refusals are the built-in
  // list, or a refusals.txt next to the splits
  const paths = { mllmu: join(dir, 'MLLMU-Bench'), mmbench: join(dir, WORLD_FILES.benchmark) };
  const real = await loadDatasetFiles(paths);
  assert.deepEqual(real.fictitious[0]!.testQuestions!.map((q) => q.question), p.testQuestions!.map((q) => q.question));
  assert.deepEqual(real.refusals, [...REFUSAL_TEMPLATES]);
  writeFileSync(join(paths.mllmu, 'refusals.txt'), 'No idea.\n\nNot known.\n');
  assert.deepEqual((await loadDatasetFiles(paths)).refusals, ['No idea.', 'Not known.']);
});

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ensureWorldFiles, readWorldFiles, WORLD_FILES } from './world-files.ts';
import { checkedImage, rgbImage } from './images.ts';
import { readMllmuParquet, readMllmuTestParquet, type MllmuRow, type MllmuTestRow, type ChoiceItem, type OpenItem as MllmuOpenItem } from './mllmu.ts';
import { readMmbenchTsv, type MmbenchItem } from './mmbench.ts';
import { PulseError } from '../errors.ts';
import { IMAGE_SIZE } from '../world/faces.ts';
import { pretrainingStream, DEFAULT_MIX, type CorpusExample, type PretrainMix } from '../world/corpus.ts';
import type { World } from '../world/world.ts';
import { readRefusals, REFUSAL_TEMPLATES } from '../world/refusals.ts';
import type { Letter, Modality } from '../text/multiple-choice.ts';
import type { EncodedImage } from './images.ts';
import type { Example, OpenItem, PersonRecord, ProtocolData, ProtocolQuestion } from './records.ts';

function openItems(items: readonly MllmuOpenItem[], image: EncodedImage): OpenItem[] {
  return items.map((g) => ({
    prompt: g.Question, groundTruth: g.Ground_Truth, ...(g.Type === 'Image_Textual' ? { modality: 'multimodal' as const, image } : { modality: 'text' as const }),
  }));
}

function choices(items: readonly ChoiceItem[], modality: Modality, personId: string, image: EncodedImage | undefined): ProtocolQuestion[] {
  return items.map((q) => ({ question: q.Question, options: [q.Options.A, q.Options.B, q.Options.C, q.Options.D], answer: q.Correct_Answer as Letter, modality, personId, image }));
}

/**
 * A person as the protocol sees them, from an MLLMU-Bench row: the classification questions are
 * scored; the generation QA pairs, the name and the biography are what fine-tuning teaches and
 * unlearning targets.
 */
export async function personRecord(row: MllmuRow, where: string): Promise<PersonRecord> {
  const image = await checkedImage(row.image.bytes, `${where}: ID ${row.ID}: field image`);
  const name = row.answer;
  const training: Example[] = [
    ...row.Generation_Task.map((g) => ({ image: g.Type === 'Image_Textual' ? image : undefined, prompt: g.Question, answer: g.Ground_Truth })),
    { image, prompt: row.question, answer: name },
    { prompt: `Tell me about ${name}.`, answer: row.biography },
  ];
  return {
    id: row.ID,
    name,
    questions: [
      ...choices(row.Classification_Task.Image_Textual_Questions, 'multimodal', row.ID, image),
      ...choices(row.Classification_Task.Pure_Text_Questions, 'text', row.ID, undefined),
    ],
    training,
    generation: openItems(row.Generation_Task, image),
    cloze: openItems(row.Mask_Task, image),
  };
}

/**
 * A person's Test_Set questions from their Test_Set row: the text-only questions once, the
 * multimodal ones once per view of the face.
 */
export async function testSetQuestions(row: MllmuTestRow, where: string): Promise<ProtocolQuestion[]> {
  const views = await Promise.all(row.images.map((image, k) => checkedImage(image.bytes, `${where}: ID ${row.ID}: field images.${k}`)));
  // One view a question, in turn (question i on view i mod views): every view is shown, and the Test_Set asks as
  // many questions as the originals, at the cost of scoring them once rather than once per view.
  const onViews = row.Classification_Task.Image_Textual_Questions.map((q, i) => choices([q], 'multimodal', row.ID, views[i % views.length]!)[0]!);
  return [...onViews, ...choices(row.Classification_Task.Pure_Text_Questions, 'text', row.ID, undefined)];
}

/** Gives each person the Test_Set questions of the row with their ID (people without one keep none). */
async function withTestSet(people: PersonRecord[], rows: readonly MllmuTestRow[], where: string): Promise<PersonRecord[]> {
  const byPerson = new Map(rows.map((r) => [r.ID, r]));
  return Promise.all(people.map(async (p) => {
    const row = byPerson.get(p.id);
    return row ? { ...p, testQuestions: await testSetQuestions(row, where) } : p;
  }));
}

export async function generalQuestion(item: MmbenchItem, where: string): Promise<ProtocolQuestion> {
  const image = await checkedImage(item.image, `${where}: index ${item.index}: field image`);
  return { question: item.hint ? `${item.hint}\n${item.question}` : item.question, options: item.options, answer: item.answer, image, modality: 'multimodal' };
}

/** The world's pre-training corpus as an endless seeded stream of examples (pre-training, and fine-tuning replay). */
export function corpusStream(world: World, seed: number, mix: PretrainMix = DEFAULT_MIX): () => Example {
  const next = pretrainingStream(world, seed, mix);
  const asExample = (e: CorpusExample): Example => ({ prompt: e.prompt, answer: e.answer, image: e.image ? rgbImage(e.image, IMAGE_SIZE) : undefined });
  return () => asExample(next());
}

/**
 * The protocol's data for a world: generated into `dir` in the published formats on first use,
 * then always read back through the MLLMU-Bench and MMBench loaders, so a default run exercises
 * the code that reads the real datasets.
 */
export async function loadProtocolData(world: { dir: string; seed: number }, log?: (line: string) => void): Promise<ProtocolData> {
  const { world: generated } = await ensureWorldFiles(world.dir, world.seed, log);
  const files = await readWorldFiles(world.dir);
  const fictitious = await Promise.all(files.fictitious.map((r) => personRecord(r, join(world.dir, WORLD_FILES.fictitious))));
  return {
    world: { seed: files.manifest.seed, hash: files.manifest.hash },
    fictitious: await withTestSet(fictitious, files.test, join(world.dir, WORLD_FILES.test)),
    celebrities: await Promise.all(files.celebrities.map((r) => personRecord(r, join(world.dir, WORLD_FILES.celebrities)))),
    general: await Promise.all(files.benchmark.map((b) => generalQuestion(b, join(world.dir, WORLD_FILES.benchmark)))),
    replay: (seed) => {
      const next = corpusStream(generated, seed);
      return (count) => Array.from({ length: count }, next);
    },
    refusals: files.refusals ?? [...REFUSAL_TEMPLATES],
  };
}

/**
 * Questions from a dataset file: an MLLMU-Bench split (.parquet: each person's multimodal and
 * text-only classification questions) or an MMBench TSV (.tsv).
 */
export async function loadQuestionFile(path: string): Promise<ProtocolQuestion[]> {
  if (path.endsWith('.tsv')) return Promise.all((await readMmbenchTsv(path)).map((b) => generalQuestion(b, path)));
  if (path.endsWith('.parquet')) return (await Promise.all((await readMllmuParquet(path)).map((r) => personRecord(r, path)))).flatMap((p) => p.questions);
  throw new PulseError(`${path}: expected an MLLMU-Bench .parquet file or an MMBench .tsv file`);
}

/** A split's Parquet shards as Hugging Face publishes them (`train-00000-of-00002.parquet`, ...), in order. */
export function splitShards(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new PulseError(`${dir}: no such folder (the MLLMU-Bench folder has one folder per split)`);
  const shards = readdirSync(dir).filter((f) => /^train-\d+-of-\d+\.parquet$/.test(f)).sort();
  if (shards.length === 0) throw new PulseError(`${dir}: no train-*-of-*.parquet shards`);
  const declared = Number(/-of-(\d+)\./.exec(shards[0]!)![1]);
  if (shards.length !== declared) throw new PulseError(`${dir}: ${shards.length} shard(s) found but their names say ${declared}`);
  return shards.map((f) => join(dir, f));
}

async function readTestRows(dir: string): Promise<MllmuTestRow[]> {
  const rows: MllmuTestRow[] = [];
  for (const shard of splitShards(dir)) rows.push(...await readMllmuTestParquet(shard));
  return rows;
}

async function readPeople(dir: string): Promise<PersonRecord[]> {
  const records: PersonRecord[] = [];
  for (const shard of splitShards(dir)) records.push(...await Promise.all((await readMllmuParquet(shard)).map((r) => personRecord(r, shard))));
  return records;
}

/**
 * The protocol's data from the published datasets: MLLMU-Bench's folder (Full_Set: the
 * fictitious people fine-tuning teaches; Retain_Set: the 153 celebrities the pre-trained
 * scenario selects from) and MMBench's TSV (the general benchmark). There is no pre-training
 * corpus to replay, so fine-tuning with these must use replay 0. The Test_Set (paraphrases, other
 * views), when the folder has one, gives the Full_Set's people their test questions; refusals.txt
 * next to the splits (one answer a line), when there is one, replaces the default refusals.
 */
export async function loadDatasetFiles(paths: { mllmu: string; mmbench: string }, log?: (line: string) => void): Promise<ProtocolData> {
  const people = await readPeople(join(paths.mllmu, 'Full_Set'));
  const testDir = join(paths.mllmu, 'Test_Set');
  const fictitious = existsSync(testDir) ? await withTestSet(people, await readTestRows(testDir), testDir) : people;
  const refusalsFile = join(paths.mllmu, 'refusals.txt');
  const refusals = existsSync(refusalsFile) ? readRefusals(refusalsFile) : [...REFUSAL_TEMPLATES];
  const celebrities = await readPeople(join(paths.mllmu, 'Retain_Set'));
  const general = await Promise.all((await readMmbenchTsv(paths.mmbench)).map((b) => generalQuestion(b, paths.mmbench)));
  log?.(`data: ${fictitious.length} fictitious people, ${celebrities.length} celebrities, ${general.length} general questions`);
  const hash = createHash('sha256');
  for (const p of [...fictitious, ...celebrities]) hash.update(p.id).update(JSON.stringify(p.questions.map((q) => [q.question, q.options, q.answer])));
  for (const q of general) hash.update(JSON.stringify([q.question, q.options, q.answer]));
  return {
    world: { seed: 0, hash: hash.digest('hex').slice(0, 16) },
    fictitious, celebrities, general,
    replay: () => (count) => {
      if (count > 0) throw new PulseError('fine_tune.replay must be 0 with real datasets: there is no pre-training corpus to replay');
      return [];
    },
    refusals,
  };
}

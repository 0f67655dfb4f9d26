import { join } from 'node:path';
import { ensureWorldFiles, readWorldFiles, WORLD_FILES } from './world-files.ts';
import { checkedImage, rgbImage } from './images.ts';
import { readMllmuParquet, type MllmuRow, type ChoiceItem } from './mllmu.ts';
import { readMmbenchTsv, type MmbenchItem } from './mmbench.ts';
import { PulseError } from '../errors.ts';
import { IMAGE_SIZE } from '../world/faces.ts';
import { pretrainingStream, DEFAULT_MIX, type CorpusExample, type PretrainMix } from '../world/corpus.ts';
import type { World } from '../world/world.ts';
import type { Letter, Modality } from '../text/multiple-choice.ts';
import type { EncodedImage } from './images.ts';
import type { Example, PersonRecord, ProtocolData, ProtocolQuestion } from './records.ts';

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
  };
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
  return {
    world: { seed: files.manifest.seed, hash: files.manifest.hash },
    fictitious: await Promise.all(files.fictitious.map((r) => personRecord(r, join(world.dir, WORLD_FILES.fictitious)))),
    celebrities: await Promise.all(files.celebrities.map((r) => personRecord(r, join(world.dir, WORLD_FILES.celebrities)))),
    general: await Promise.all(files.benchmark.map((b) => generalQuestion(b, join(world.dir, WORLD_FILES.benchmark)))),
    replay: (seed) => {
      const next = corpusStream(generated, seed);
      return (count) => Array.from({ length: count }, next);
    },
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

import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { PulseError, describeZodError } from '../errors.ts';
import { generateWorld, personView, worldHash, WORLD_SIZES, WORLD_VERSION, type World } from '../world/world.ts';
import { IMAGE_SIZE } from '../world/faces.ts';
import type { Person, WorldQuestion } from '../world/people.ts';
import { CATEGORIES } from '../world/scenes.ts';
import { encodePng } from './images.ts';
import { readMllmuParquet, readMllmuTestParquet, writeMllmuParquet, writeMllmuTestParquet, type ChoiceItem, type MllmuRow, type MllmuTestRow } from './mllmu.ts';
import { readMmbenchTsv, writeMmbenchTsv, type MmbenchItem } from './mmbench.ts';
import { ensureFolder, sweepTempFiles, tempPathFor, writeFailure, writeFileAtomic } from '../atomic-file.ts';
import { fileSha256 } from '../hash.ts';
import { readJsonFile } from '../input-file.ts';
import { paraphrasedQuestions } from '../world/paraphrase.ts';
import { formatRefusals, readRefusals, worldRefusals } from '../world/refusals.ts';

/** Where `pulse data generate` puts each split, relative to its output folder (Hugging Face's layout). */
export const WORLD_FILES = {
  fictitious: 'MLLMU-Bench/Full_Set/train-00000-of-00001.parquet',
  celebrities: 'MLLMU-Bench/Retain_Set/train-00000-of-00001.parquet',
  test: 'MLLMU-Bench/Test_Set/train-00000-of-00001.parquet',
  benchmark: 'MMBench/mmbench_dev_en.tsv',
  /** "I don't know"-style answers, one a line (src/world/refusals.ts) */
  refusals: 'refusals.txt',
} as const;

/**
 * The Test_Set's format: 1 (absent) asked the Full_Set's questions on the other views; 2 paraphrases
 * them. Kept apart from WORLD_VERSION and the world's hash, which the shipped model is tied to.
 */
export const TEST_SET_FORMAT = 2;

export const WorldManifest = z.object({
  format: z.literal('pulse.world'),
  version: z.number().int(),
  seed: z.number().int(),
  hash: z.string(),
  counts: z.object({ fictitious: z.number().int(), celebrities: z.number().int(), benchmark: z.number().int(), test_views: z.number().int() }),
  /** celebrity id -> share of pre-training mentions */
  popularity: z.record(z.string(), z.number()),
  files: z.record(z.string(), z.string()),
  test_set_format: z.number().int().optional(),
});
export type WorldManifest = z.infer<typeof WorldManifest>;

function choice(q: WorldQuestion): ChoiceItem {
  const [A, B, C, D] = q.options;
  return { Question: q.question, Options: { A, B, C, D }, Correct_Answer: q.answer };
}

function personFields(p: Person, questions: readonly WorldQuestion[]) {
  return {
    ID: p.id, biography: p.biography, question: 'Who is this person?', answer: p.name,
    Classification_Task: {
      Image_Textual_Questions: questions.filter((q) => q.modality === 'multimodal').map(choice),
      Pure_Text_Questions: questions.filter((q) => q.modality === 'text').map(choice),
    },
    Generation_Task: p.generation.map((g) => ({ Question: g.question, Ground_Truth: g.groundTruth, Type: g.type })),
    Mask_Task: p.mask.map((m) => ({ Question: m.question, Ground_Truth: m.groundTruth, Type: m.type })),
  };
}

async function personRow(world: World, p: Person) {
  const row: MllmuRow = { image: { bytes: await encodePng(personView(world, p, 0), IMAGE_SIZE), path: `${p.id}.png` }, ...personFields(p, p.questions) };
  return { row, test: await testRow(world, p) };
}

/** A person's Test_Set row: the other views of the face, the classification questions paraphrased (TEST_SET_FORMAT). */
async function testRow(world: World, p: Person): Promise<MllmuTestRow> {
  const views = await Promise.all(Array.from({ length: WORLD_SIZES.testViews }, (_, k) => encodePng(personView(world, p, k + 1), IMAGE_SIZE)));
  return { images: views.map((bytes, k) => ({ bytes, path: `${p.id}_${k + 1}.png` })), ...personFields(p, paraphrasedQuestions(world.seed, p)) };
}

async function writeTestSetAndRefusals(world: World, dir: string): Promise<void> {
  await writeMllmuTestParquet(join(dir, WORLD_FILES.test), await Promise.all(world.fictitious.map((p) => testRow(world, p))));
  await writeFileAtomic(join(dir, WORLD_FILES.refusals), formatRefusals(worldRefusals(world.seed)));
}

/** Writes a world in the published formats, with a manifest. Same seed, same bytes. */
export async function writeWorldFiles(world: World, dir: string): Promise<WorldManifest> {
  const fictitious = await Promise.all(world.fictitious.map((p) => personRow(world, p)));
  const celebrities = await Promise.all(world.celebrities.map((p) => personRow(world, p)));
  await writeMllmuParquet(join(dir, WORLD_FILES.fictitious), fictitious.map((r) => r.row));
  await writeMllmuParquet(join(dir, WORLD_FILES.celebrities), celebrities.map((r) => r.row));
  await writeMllmuTestParquet(join(dir, WORLD_FILES.test), fictitious.map((r) => r.test));
  await writeFileAtomic(join(dir, WORLD_FILES.refusals), formatRefusals(worldRefusals(world.seed)));
  const items: MmbenchItem[] = await Promise.all(world.benchmark.map(async (b) => ({
    index: b.index, question: b.question, hint: '', options: [...b.options], answer: b.answer,
    category: b.category, l2Category: 'perception', image: await encodePng(b.image, IMAGE_SIZE),
  })));
  await writeMmbenchTsv(join(dir, WORLD_FILES.benchmark), items);
  const manifest: WorldManifest = {
    format: 'pulse.world', version: world.version, seed: world.seed, hash: worldHash(world),
    counts: { fictitious: world.fictitious.length, celebrities: world.celebrities.length, benchmark: world.benchmark.length, test_views: WORLD_SIZES.testViews },
    popularity: Object.fromEntries(world.celebrities.map((c) => [c.id, c.popularity])),
    files: Object.fromEntries(Object.values(WORLD_FILES).map((f) => [f, fileSha256(join(dir, f))])),
    test_set_format: TEST_SET_FORMAT,
  };
  await writeFileAtomic(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Brings a world folder written before TEST_SET_FORMAT 2 up to date: rewrites just its Test_Set
 * (paraphrased questions) and adds the refusals file; the other files, and the world's hash, stay.
 */
async function upgradeTestSet(world: World, dir: string, manifest: WorldManifest): Promise<WorldManifest> {
  await writeTestSetAndRefusals(world, dir);
  const files = { ...manifest.files };
  for (const f of [WORLD_FILES.test, WORLD_FILES.refusals]) files[f] = fileSha256(join(dir, f));
  const upgraded: WorldManifest = { ...manifest, files, test_set_format: TEST_SET_FORMAT };
  await writeFileAtomic(join(dir, 'manifest.json'), `${JSON.stringify(upgraded, null, 2)}\n`);
  return upgraded;
}

/** A world's manifest lists a few files and 153 celebrities: a few KB. */
const MAX_MANIFEST_BYTES = 1 << 20;

export function readWorldManifest(dir: string): WorldManifest | null {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return null;
  const raw = readJsonFile(path, MAX_MANIFEST_BYTES);
  const parsed = WorldManifest.safeParse(raw);
  if (!parsed.success) throw new PulseError(`${path}: field ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/**
 * The world for `seed` in `dir`: generated and written there on first use, reused after (its
 * manifest must match the seed and this version of the generator).
 */
export async function ensureWorldFiles(dir: string, seed: number, log: (line: string) => void = () => {}): Promise<{ manifest: WorldManifest; world: World }> {
  checkWorldFolder(dir);
  const world = generateWorld(seed);
  const hash = worldHash(world);
  const existing = readWorldManifest(dir);
  if (existing && existing.seed === seed && existing.version === WORLD_VERSION && existing.hash === hash) {
    if ((existing.test_set_format ?? 1) >= TEST_SET_FORMAT) return { manifest: existing, world };
    log(`world in ${dir}: rewriting its Test_Set with paraphrased questions and adding ${WORLD_FILES.refusals} (Test_Set format ${TEST_SET_FORMAT})`);
    return { manifest: await upgradeTestSet(world, dir, existing), world };
  }
  log(existing ? `world in ${dir} is outdated (seed ${existing.seed}, hash ${existing.hash}); regenerating` : `generating the world (seed ${seed}) in ${dir}`);
  return { manifest: await generateWorldFiles(world, dir, existing !== null), world };
}

/**
 * Writes a world into a folder of its own: never the current folder (an empty world.dir names it),
 * never a folder that holds anything but a pulse world. A new world is written into a temp folder
 * beside `dir` and renamed into place when complete, so a run killed while generating leaves no
 * half world (the next run sweeps the temp folder); an outdated world is rewritten in place, its
 * manifest last.
 */
function checkWorldFolder(dir: string): void {
  if (dir.trim() === '' || resolve(dir) === process.cwd()) {
    throw new PulseError(`world folder '${dir}': a world is written into a folder of its own, not into the current folder; name one (e.g. .cache/pulse/world-0)`);
  }
}

export async function generateWorldFiles(world: World, dir: string, outdated = readWorldManifest(dir) !== null): Promise<WorldManifest> {
  checkWorldFolder(dir);
  if (outdated) return writeWorldFiles(world, dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new PulseError(`${dir} is not empty and holds no pulse world (no manifest.json); choose another world directory`);
  ensureFolder(dirname(resolve(dir)));
  sweepTempFiles(dirname(resolve(dir)), { recursive: false });
  const temp = tempPathFor(resolve(dir));
  try {
    const manifest = await writeWorldFiles(world, temp);
    if (existsSync(dir)) rmdirSync(dir);
    renameSync(temp, dir);
    return manifest;
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    throw writeFailure(e, dir);
  }
}

export interface WorldFiles {
  manifest: WorldManifest;
  fictitious: MllmuRow[];
  celebrities: MllmuRow[];
  test: MllmuTestRow[];
  benchmark: MmbenchItem[];
  /** the world's refusal answers; null in a folder written before they were (see ensureWorldFiles) */
  refusals: string[] | null;
}

/** Reads a world folder back through the format loaders, checking file hashes against the manifest. */
export async function readWorldFiles(dir: string): Promise<WorldFiles> {
  const manifest = readWorldManifest(dir);
  if (!manifest) throw new PulseError(`${dir} has no manifest.json: generate a world there with \`pulse data generate --out ${dir}\``);
  for (const [file, hash] of Object.entries(manifest.files)) {
    const path = join(dir, file);
    if (!existsSync(path)) throw new PulseError(`${path} is missing (listed in ${join(dir, 'manifest.json')})`);
    if (fileSha256(path) !== hash) throw new PulseError(`${path} does not match the hash in its manifest: the file was changed or corrupted`);
  }
  return {
    manifest,
    fictitious: await readMllmuParquet(join(dir, WORLD_FILES.fictitious)),
    celebrities: await readMllmuParquet(join(dir, WORLD_FILES.celebrities)),
    test: await readMllmuTestParquet(join(dir, WORLD_FILES.test)),
    benchmark: await readMmbenchTsv(join(dir, WORLD_FILES.benchmark)),
    refusals: manifest.files[WORLD_FILES.refusals] ? readRefusals(join(dir, WORLD_FILES.refusals)) : null,
  };
}

export { CATEGORIES };

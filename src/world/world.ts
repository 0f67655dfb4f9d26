import { createHash } from 'node:crypto';
import { deriveSeed, rng } from '../random.ts';
import { generatePeople, type Person } from './people.ts';
import { sceneBenchmark, type SceneItem, SHAPES, COLORS, SIZES, COUNTS, POSITIONS } from './scenes.ts';
import { drawFace, randomJitter, CANONICAL_VIEW } from './faces.ts';
import { ATTRIBUTES, FACE_FEATURES, FIRST_NAMES, LAST_NAMES } from './vocab.ts';
import { LETTER_INSTRUCTION } from '../text/multiple-choice.ts';

/** Bump when generation changes: models record the world they were trained on. */
export const WORLD_VERSION = 1;

export const WORLD_SIZES = { fictitious: 500, celebrities: 153, benchmark: 400, testViews: 4 } as const;

export interface World {
  seed: number;
  version: number;
  fictitious: Person[];
  celebrities: Person[];
  /** the general-capability benchmark (MMBench-like) */
  benchmark: (SceneItem & { index: number })[];
}

/** The same seed gives the same world, byte for byte. */
export function generateWorld(seed: number, sizes: { fictitious: number; celebrities: number; benchmark: number } = WORLD_SIZES): World {
  const people = generatePeople({ fictitious: sizes.fictitious, celebrities: sizes.celebrities }, rng(deriveSeed(seed, 'people')));
  const benchmark = sceneBenchmark(sizes.benchmark, rng(deriveSeed(seed, 'benchmark'))).map((item, i) => ({ ...item, index: i }));
  return {
    seed,
    version: WORLD_VERSION,
    fictitious: people.filter((p) => p.kind === 'fictitious'),
    celebrities: people.filter((p) => p.kind === 'celebrity'),
    benchmark,
  };
}

/** View k of a person's face: 0 is the canonical portrait, k > 0 are augmented (Test_Set) views. */
export function personView(world: Pick<World, 'seed'>, person: Person, k: number): Uint8Array {
  if (k === 0) return drawFace(person.face, CANONICAL_VIEW);
  const random = rng(deriveSeed(world.seed, 'view', person.id, k));
  return drawFace(person.face, randomJitter(random), random);
}

/** Content hash of the world: what a model manifest records and checks. */
export function worldHash(world: World): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ version: world.version, seed: world.seed, people: [...world.fictitious, ...world.celebrities] }));
  for (const item of world.benchmark) h.update(item.image).update(JSON.stringify([item.question, item.options, item.answer]));
  return h.digest('hex').slice(0, 16);
}

/** Every text the world can produce, for the tokenizer's closed vocabulary. */
export function worldTexts(world: World): string[] {
  const texts: string[] = [LETTER_INSTRUCTION, 'Who is this person?', 'Tell me about .', 'Describe this face.', 'Which option is ?', 'A. B. C. D.'];
  for (const p of [...world.fictitious, ...world.celebrities]) {
    texts.push(p.name, p.biography, ...p.questions.flatMap((q) => [q.question, ...q.options]), ...p.generation.map((g) => g.question), ...p.mask.map((m) => m.question));
  }
  for (const spec of Object.values(ATTRIBUTES)) texts.push(...spec.pool, spec.statement('X', 'Y'));
  texts.push(...FIRST_NAMES, ...LAST_NAMES, ...Object.values(FACE_FEATURES).flat(), 'skin face hair style eyes glasses beard background shirt , .');
  texts.push(...SHAPES, ...COLORS, ...SIZES, ...COUNTS, ...POSITIONS, ...world.benchmark.map((b) => b.question));
  for (let y = 1900; y <= 2025; y++) texts.push(String(y));
  return texts;
}

import { ATTRIBUTES, ATTRIBUTE_NAMES, THIS_PERSON, subject } from './vocab.ts';
import { describeFace, drawFace, randomFace, randomJitter } from './faces.ts';
import { optionsFor, type Person } from './people.ts';
import { sceneStream, type SceneItem } from './scenes.ts';
import { deriveSeed, rng, shuffled } from '../random.ts';
import { LETTERS, multipleChoiceText } from '../text/multiple-choice.ts';
import type { World } from './world.ts';

/**
 * A training example as the model layer consumes it: the user's text, an optional image, and
 * the answer whose tokens are learned. (The chat template is the model's business.)
 */
export interface CorpusExample {
  kind: string;
  image?: Uint8Array;
  prompt: string;
  answer: string;
}

/** Relative weights of the pre-training tasks. */
export interface PretrainMix {
  /** "What is NAME's occupation?" -> value, celebrities by popularity */
  celebrityText: number;
  /** the same with the face instead of the name */
  celebrityImage: number;
  /** face -> "Who is this person?" -> name */
  celebrityName: number;
  /** "Tell me about NAME." -> one biography sentence */
  biography: number;
  /** a random face -> its features: teaches the vision encoder to read faces */
  faceDescription: number;
  /** a celebrity question with fresh distractors, answered by letter */
  letterChoice: number;
  /** "Which letter holds X?" -> the letter: the skill of answering by letter */
  letterLookup: number;
  /** scene question -> option text */
  sceneOpen: number;
  /** scene question with options -> letter */
  sceneChoice: number;
}

// The multiple-choice text is the embedded model's letter-scoring format: what pre-training teaches
// must be exactly what letter scoring asks.
const choiceText = (question: string, options: readonly string[]) => multipleChoiceText({ question, options });

/** The mix of the shipped base model's pre-training, and of fine-tuning replay. */
export const DEFAULT_MIX: PretrainMix = {
  celebrityText: 4, celebrityImage: 4, celebrityName: 1.5, biography: 1, faceDescription: 2,
  letterChoice: 1.5, letterLookup: 0.5, sceneOpen: 2, sceneChoice: 1,
};

/** A random augmented view of a person's face (training); view 0 of personView is the canonical one. */
export function jitteredFace(person: Person, random: () => number): Uint8Array {
  return drawFace(person.face, randomJitter(random, { shift: true }), random);
}

function weightedPicker<T>(items: readonly T[], weights: readonly number[], random: () => number): () => T {
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) cumulative.push((acc += w / total));
  return () => {
    const r = random();
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return items[lo]!;
  };
}

/**
 * The pre-training corpus as an endless seeded stream. Celebrities appear in proportion to their
 * popularity; fictitious people never appear (they are learned only by fine-tuning).
 */
export function pretrainingStream(world: World, seed: number, mix: PretrainMix): () => CorpusExample {
  const random = rng(deriveSeed(seed, 'pretraining'));
  const celebrity = weightedPicker(world.celebrities, world.celebrities.map((c) => c.popularity), random);
  const scene = sceneStream(world.benchmark, rng(deriveSeed(seed, 'scenes')));
  const sceneChoice = (s: SceneItem): CorpusExample => ({ kind: 'scene-choice', image: s.image, prompt: choiceText(s.question, s.options), answer: s.answer });
  const tasks: Record<keyof PretrainMix, () => CorpusExample> = {
    celebrityText: () => {
      const c = celebrity();
      const a = ATTRIBUTE_NAMES[Math.floor(random() * ATTRIBUTE_NAMES.length)]!;
      return { kind: 'qa-text', prompt: ATTRIBUTES[a].question(subject(c.name)), answer: c.attributes[a] };
    },
    celebrityImage: () => {
      const c = celebrity();
      const a = ATTRIBUTE_NAMES[Math.floor(random() * ATTRIBUTE_NAMES.length)]!;
      return { kind: 'qa-image', image: jitteredFace(c, random), prompt: ATTRIBUTES[a].question(THIS_PERSON), answer: c.attributes[a] };
    },
    celebrityName: () => {
      const c = celebrity();
      return { kind: 'name', image: jitteredFace(c, random), prompt: 'Who is this person?', answer: c.name };
    },
    biography: () => {
      const c = celebrity();
      const a = ATTRIBUTE_NAMES[Math.floor(random() * ATTRIBUTE_NAMES.length)]!;
      return { kind: 'biography', prompt: `Tell me about ${c.name}.`, answer: ATTRIBUTES[a].statement(c.name, c.attributes[a]) };
    },
    faceDescription: () => {
      const face = randomFace(random);
      return { kind: 'face', image: drawFace(face, randomJitter(random, { shift: true }), random), prompt: 'Describe this face.', answer: describeFace(face) };
    },
    letterChoice: () => {
      const c = celebrity();
      const a = ATTRIBUTE_NAMES[Math.floor(random() * ATTRIBUTE_NAMES.length)]!;
      const letter = LETTERS[Math.floor(random() * 4)]!;
      const withImage = random() < 0.5;
      const question = ATTRIBUTES[a].question(withImage ? THIS_PERSON : subject(c.name));
      const ex: CorpusExample = { kind: 'letter-choice', prompt: choiceText(question, optionsFor(a, c.attributes[a], letter, random)), answer: letter };
      return withImage ? { ...ex, image: jitteredFace(c, random) } : ex;
    },
    letterLookup: () => {
      const a = ATTRIBUTE_NAMES[Math.floor(random() * ATTRIBUTE_NAMES.length)]!;
      const pool: readonly string[] = ATTRIBUTES[a].pool;
      const options = shuffled(pool, random).slice(0, 4);
      const k = Math.floor(random() * 4);
      return { kind: 'letter-lookup', prompt: choiceText(`Which option is ${options[k]}?`, options), answer: LETTERS[k]! };
    },
    sceneOpen: () => {
      const s = scene();
      return { kind: 'scene-open', image: s.image, prompt: s.question, answer: s.options[LETTERS.indexOf(s.answer)]! };
    },
    sceneChoice: () => sceneChoice(scene()),
  };
  const names = Object.keys(mix) as (keyof PretrainMix)[];
  const task = weightedPicker(names, names.map((n) => mix[n]), random);
  return () => tasks[task()]();
}

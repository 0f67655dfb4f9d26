import { ATTRIBUTES, ATTRIBUTE_NAMES, FIRST_NAMES, LAST_NAMES, THIS_PERSON, subject, type AttributeName } from './vocab.ts';
import { faceDistance, randomFace, type Face } from './faces.ts';
import { shuffled } from '../random.ts';
import { LETTERS, type Letter, type Modality } from '../text/multiple-choice.ts';


export interface WorldQuestion {
  id: string;
  personId: string;
  modality: Modality;
  attribute: AttributeName;
  question: string;
  options: [string, string, string, string];
  answer: Letter;
}

/** MLLMU-Bench's open-ended items: Generation_Task (a question) and Mask_Task (a cloze with __). */
export interface OpenItem { question: string; groundTruth: string; type: 'Image_Textual' | 'Pure_Text' }

export interface Person {
  id: string;
  kind: 'fictitious' | 'celebrity';
  name: string;
  face: Face;
  birthYear: number;
  attributes: Record<AttributeName, string>;
  /** celebrities: share of pre-training mentions (Zipf over rank); fictitious: 0 */
  popularity: number;
  biography: string;
  questions: WorldQuestion[];
  generation: OpenItem[];
  mask: OpenItem[];
}

export function biography(name: string, birthYear: number, a: Record<AttributeName, string>): string {
  return `${name} was born in ${a.birthplace} in ${birthYear}. ${ATTRIBUTES.occupation.statement(name, a.occupation)} ${ATTRIBUTES.residence.statement(name, a.residence)} ${ATTRIBUTES.education.statement(name, a.education)} ${ATTRIBUTES.hobby.statement(name, a.hobby)}`;
}

/** Three distractors from the attribute's pool, then the options laid out so `letter` is correct. */
export function optionsFor(attribute: AttributeName, correct: string, letter: Letter, random: () => number): [string, string, string, string] {
  const pool: readonly string[] = ATTRIBUTES[attribute].pool;
  const distractors = shuffled(pool.filter((v) => v !== correct), random).slice(0, 3);
  const at = LETTERS.indexOf(letter);
  const options = [...distractors];
  options.splice(at, 0, correct);
  return options as [string, string, string, string];
}

function makeQuestions(id: string, name: string, a: Record<AttributeName, string>, offset: number, random: () => number): WorldQuestion[] {
  // Each person's ten correct letters cycle A-D from a per-person offset: balanced over the world.
  let k = offset;
  const next = () => LETTERS[k++ % 4]!;
  const out: WorldQuestion[] = [];
  for (const modality of ['multimodal', 'text'] as const) {
    for (const attribute of ATTRIBUTE_NAMES) {
      const letter = next();
      out.push({
        id: `${id}-${modality === 'multimodal' ? 'mm' : 'txt'}-${attribute}`,
        personId: id,
        modality,
        attribute,
        question: ATTRIBUTES[attribute].question(modality === 'multimodal' ? THIS_PERSON : subject(name)),
        options: optionsFor(attribute, a[attribute], letter, random),
        answer: letter,
      });
    }
  }
  return out;
}

function openItems(name: string, a: Record<AttributeName, string>): { generation: OpenItem[]; mask: OpenItem[] } {
  const generation: OpenItem[] = [];
  const mask: OpenItem[] = [];
  for (const attribute of ATTRIBUTE_NAMES) {
    const spec = ATTRIBUTES[attribute];
    generation.push({ question: spec.question(subject(name)), groundTruth: a[attribute], type: 'Pure_Text' });
    generation.push({ question: spec.question(THIS_PERSON), groundTruth: a[attribute], type: 'Image_Textual' });
    mask.push({ question: spec.statement(name, '__'), groundTruth: a[attribute], type: 'Pure_Text' });
    mask.push({ question: spec.statement('This person', '__'), groundTruth: a[attribute], type: 'Image_Textual' });
  }
  return { generation, mask };
}

/**
 * Generates `fictitious` + `celebrities` people with unique names and faces that differ from
 * every other face in at least `minFaceDistance` features.
 */
export function generatePeople(counts: { fictitious: number; celebrities: number }, random: () => number, minFaceDistance = 3): Person[] {
  const total = counts.fictitious + counts.celebrities;
  const names = shuffled(FIRST_NAMES.flatMap((f) => LAST_NAMES.map((l) => `${f} ${l}`)), random).slice(0, total);
  const faces: Face[] = [];
  while (faces.length < total) {
    const candidate = randomFace(random);
    if (faces.every((f) => faceDistance(f, candidate) >= minFaceDistance)) faces.push(candidate);
  }
  // Zipf over celebrity rank: a few are very famous, most are rarely mentioned.
  const zipf = Array.from({ length: counts.celebrities }, (_, r) => 1 / (r + 1));
  const zipfSum = zipf.reduce((a, b) => a + b, 0);
  return Array.from({ length: total }, (_, i) => {
    const celebrity = i >= counts.fictitious;
    const index = celebrity ? i - counts.fictitious : i;
    const id = celebrity ? `c${String(index + 1).padStart(3, '0')}` : `f${String(index + 1).padStart(3, '0')}`;
    const name = names[i]!;
    const attributes = Object.fromEntries(ATTRIBUTE_NAMES.map((a) => [a, ATTRIBUTES[a].pool[Math.floor(random() * ATTRIBUTES[a].pool.length)]!])) as Record<AttributeName, string>;
    const birthYear = 1940 + Math.floor(random() * 66);
    return {
      id, kind: celebrity ? 'celebrity' : 'fictitious', name, face: faces[i]!, birthYear, attributes,
      popularity: celebrity ? zipf[index]! / zipfSum : 0,
      biography: biography(name, birthYear, attributes),
      questions: makeQuestions(id, name, attributes, i, random),
      ...openItems(name, attributes),
    };
  });
}

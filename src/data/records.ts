import type { ImageInput } from './images.ts';
import type { McQuestion, Modality } from '../text/multiple-choice.ts';

/**
 * One training or scoring sequence: the user's text, an optional image, and the answer whose
 * tokens are learned or scored. The chat template and the image size are the model's business.
 */
export interface Example {
  image?: ImageInput | undefined;
  prompt: string;
  answer: string;
}

/** A multiple-choice question, with the image it shows when it is multimodal. */
export interface ScoredQuestion extends McQuestion {
  image?: ImageInput | undefined;
}

/** A scored multiple-choice question with its modality (and person, for per-person scores). */
export interface ProtocolQuestion extends ScoredQuestion {
  modality: Modality;
  personId?: string | undefined;
}

/**
 * An open-ended item about a person: MLLMU-Bench's Generation_Task (a question) or Mask_Task (a
 * statement with the blank written `__`), the ground truth, and the face image when it is
 * multimodal (Type Image_Textual; Pure_Text items are text-only).
 */
export interface OpenItem {
  prompt: string;
  groundTruth: string;
  modality: Modality;
  image?: ImageInput | undefined;
}

export interface PersonRecord {
  id: string;
  name: string;
  /** the person's multiple-choice questions (MLLMU-Bench: 5 multimodal, 5 text-only) */
  questions: ProtocolQuestion[];
  /** question-answer pairs about the person in both modalities: what fine-tuning teaches and unlearning targets */
  training: Example[];
  /** the generation questions (Generation_Task) and the cloze statements (Mask_Task): the open-ended attack's items */
  generation: OpenItem[];
  cloze: OpenItem[];
  /**
   * The person's Test_Set questions, when the data has a Test_Set for them: the classification
   * questions paraphrased, each multimodal one on another view of the face, in turn (the paraphrase attack).
   */
  testQuestions?: ProtocolQuestion[];
}

/** Everything the protocol reads from a world or a real dataset. */
export interface ProtocolData {
  world: { seed: number; hash: string };
  fictitious: PersonRecord[];
  celebrities: PersonRecord[];
  /** the general-capability benchmark (MMBench-like), all multimodal */
  general: ProtocolQuestion[];
  /** a seeded stream of pre-training examples (fine-tuning replay) */
  replay(seed: number): (count: number) => Example[];
  /** "I don't know"-style answers: IdkNLL's targets, IdkDPO's preferred answers */
  refusals: readonly string[];
}

export function questionsOf(people: readonly PersonRecord[]): ProtocolQuestion[] {
  return people.flatMap((p) => p.questions);
}

export function byId(people: readonly PersonRecord[], ids: readonly string[], label: string): PersonRecord[] {
  const index = new Map(people.map((p) => [p.id, p]));
  return ids.map((id) => {
    const p = index.get(id);
    if (!p) throw new RangeError(`${label}: no person with id ${id}`);
    return p;
  });
}

import type { Example } from '../model/batch.ts';
import type { ScoredQuestion } from '../model/multimodal.ts';
import type { Modality } from '../metrics/accuracy.ts';

/** A scored multiple-choice question with its modality (and person, for per-person scores). */
export interface ProtocolQuestion extends ScoredQuestion {
  modality: Modality;
  personId?: string | undefined;
}

export interface PersonRecord {
  id: string;
  name: string;
  /** the person's multiple-choice questions (MLLMU-Bench: 5 multimodal, 5 text-only) */
  questions: ProtocolQuestion[];
  /** question-answer pairs about the person in both modalities: what fine-tuning teaches and unlearning targets */
  training: Example[];
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

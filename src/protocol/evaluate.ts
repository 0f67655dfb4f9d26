import type { MultimodalModel, ScoringMode } from '../model/multimodal.ts';
import { accuracy } from '../metrics/accuracy.ts';
import type { SetScores } from './results-schema.ts';
import type { PersonRecord, ProtocolQuestion } from './data.ts';
import type { PersonScore } from './splits.ts';

export interface EvalSets {
  unlearn: ProtocolQuestion[];
  retain: ProtocolQuestion[];
  general: ProtocolQuestion[];
}

export function scoreQuestions(model: MultimodalModel, questions: readonly ProtocolQuestion[], mode: ScoringMode, batchSize: number) {
  const { correct } = model.score(questions, mode, batchSize);
  return accuracy(questions.map((q, i) => ({ modality: q.modality, correct: correct[i]! })));
}

/** Accuracy on D_unlearn, D_retain and the general benchmark, each by modality. */
export function evaluateSets(model: MultimodalModel, sets: EvalSets, mode: ScoringMode, batchSize: number): SetScores {
  return {
    unlearn: scoreQuestions(model, sets.unlearn, mode, batchSize),
    retain: scoreQuestions(model, sets.retain, mode, batchSize),
    general: scoreQuestions(model, sets.general, mode, batchSize),
  };
}

/** Per-person accuracy (percent) in each modality: the behaviour that selection ranks. */
export function scorePeople(model: MultimodalModel, people: readonly PersonRecord[], mode: ScoringMode, batchSize: number): PersonScore[] {
  const questions = people.flatMap((p) => p.questions.map((q) => ({ ...q, personId: p.id })));
  const { correct } = model.score(questions, mode, batchSize);
  return people.map((p) => {
    const pick = (modality: ProtocolQuestion['modality']) => {
      const mine = questions.map((q, i) => ({ q, ok: correct[i]! })).filter(({ q }) => q.personId === p.id && q.modality === modality);
      return mine.length ? (100 * mine.filter((m) => m.ok).length) / mine.length : 0;
    };
    return { id: p.id, multimodal: pick('multimodal'), text_only: pick('text') };
  });
}

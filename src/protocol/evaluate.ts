import { scoreAnswers, type PulseModel, type ScoringMode } from '../model/model.ts';
import { accuracy } from '../metrics/accuracy.ts';
import type { Accuracy, SetScores } from '../metrics/scores.ts';
import type { PersonRecord, ProtocolQuestion } from '../data/records.ts';
import type { PersonScore } from './splits.ts';

export interface EvalSets {
  unlearn: ProtocolQuestion[];
  retain: ProtocolQuestion[];
  general: ProtocolQuestion[];
}

export async function scoreQuestions(model: PulseModel, questions: readonly ProtocolQuestion[], mode: ScoringMode, batchSize: number): Promise<Accuracy> {
  const { correct } = await scoreAnswers(model, questions, mode, batchSize);
  return accuracy(questions.map((q, i) => ({ modality: q.modality, correct: correct[i]! })));
}

/** Accuracy on D_unlearn, D_retain and the general benchmark, each by modality. */
export async function evaluateSets(model: PulseModel, sets: EvalSets, mode: ScoringMode, batchSize: number): Promise<SetScores> {
  return {
    unlearn: await scoreQuestions(model, sets.unlearn, mode, batchSize),
    retain: await scoreQuestions(model, sets.retain, mode, batchSize),
    general: await scoreQuestions(model, sets.general, mode, batchSize),
  };
}

/** Per-person accuracy (percent) in each modality: the behaviour that selection ranks. */
export async function scorePeople(model: PulseModel, people: readonly PersonRecord[], mode: ScoringMode, batchSize: number): Promise<PersonScore[]> {
  const questions = people.flatMap((p) => p.questions.map((q) => ({ ...q, personId: p.id })));
  const { correct } = await scoreAnswers(model, questions, mode, batchSize);
  return people.map((p) => {
    const pick = (modality: ProtocolQuestion['modality']) => {
      const mine = questions.map((q, i) => ({ q, ok: correct[i]! })).filter(({ q }) => q.personId === p.id && q.modality === modality);
      return mine.length ? (100 * mine.filter((m) => m.ok).length) / mine.length : 0;
    };
    return { id: p.id, multimodal: pick('multimodal'), text_only: pick('text') };
  });
}

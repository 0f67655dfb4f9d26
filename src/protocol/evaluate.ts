import { scoreAnswers, type Prediction, type PulseModel, type ScoringMode } from '../model/model.ts';
import { accuracy } from '../metrics/accuracy.ts';
import type { Accuracy, SetScores } from '../metrics/scores.ts';
import type { PersonRecord, ProtocolQuestion } from '../data/records.ts';
import type { PersonScore } from './splits.ts';

/** A scored question with the identity its per-question records carry across evaluation points. */
export interface SetQuestion extends ProtocolQuestion {
  id: string;
  /** the person it is about; null on the general benchmark */
  person: string | null;
}

export const SET_NAMES = ['unlearn', 'retain', 'general'] as const;
export type SetName = (typeof SET_NAMES)[number];
export type EvalSets = Record<SetName, SetQuestion[]>;

/** A person's questions, identified as `<person>/<index>`. */
export function personQuestions(people: readonly PersonRecord[]): SetQuestion[] {
  return people.flatMap((p) => p.questions.map((q, i) => ({ ...q, id: `${p.id}/${i}`, person: p.id })));
}

/** General-benchmark questions, identified by their position in the benchmark. */
export function generalQuestions(questions: readonly ProtocolQuestion[], positions: readonly number[]): SetQuestion[] {
  return positions.map((i) => ({ ...questions[i]!, id: `general/${i}`, person: null }));
}

/** Accuracy by modality on one list of questions. */
export async function scoreQuestions(model: PulseModel, questions: readonly ProtocolQuestion[], mode: ScoringMode, batchSize: number): Promise<Accuracy> {
  const { correct } = await scoreAnswers(model, questions, mode, batchSize);
  return accuracy(questions.map((q, i) => ({ modality: q.modality, correct: correct[i]! })));
}

/** One question's outcome at one evaluation point. */
export interface QuestionOutcome { set: SetName; question: SetQuestion; correct: boolean; prediction: Prediction }

/** Accuracies by set and modality, and the outcome of every question behind them. */
export interface Evaluation { scores: SetScores; outcomes: QuestionOutcome[] }

/** Accuracy on D_unlearn, D_retain and the general benchmark, each by modality, with every question's outcome. */
export async function evaluateSets(model: PulseModel, sets: EvalSets, mode: ScoringMode, batchSize: number): Promise<Evaluation> {
  const outcomes: QuestionOutcome[] = [];
  const scores = {} as SetScores;
  for (const set of SET_NAMES) {
    const questions = sets[set];
    const { correct, predictions } = await scoreAnswers(model, questions, mode, batchSize);
    scores[set] = accuracy(questions.map((q, i) => ({ modality: q.modality, correct: correct[i]! })));

    questions.forEach((question, i) => outcomes.push({ set, question, correct: correct[i]!, prediction: predictions[i]! }));
  }
  return { scores, outcomes };
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

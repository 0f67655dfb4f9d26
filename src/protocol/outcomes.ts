import { accuracy } from '../metrics/accuracy.ts';
import type { Accuracy } from '../metrics/scores.ts';
import type { QuestionOutcome } from './evaluate.ts';
import type { SampleRow } from './samples-file.ts';

/** Where an evaluation happened: the keys every per-question record of it carries ('start' / 'oracle' as method for those models). */
export type EvaluationPoint = Pick<SampleRow, 'seed' | 'scenario' | 'method' | 'target' | 'request' | 'step'>;

/** The per-question records (samples.parquet rows) of one evaluation. */
export function sampleRows(point: EvaluationPoint, outcomes: readonly QuestionOutcome[]): SampleRow[] {
  return outcomes.map(({ set, question, correct, prediction }) => ({
    ...point, set, person: question.person, question: question.id, modality: question.modality,
    correct, chosen: prediction.choice, scores: prediction.scores,
  }));
}

/** Accuracy on each request's people of D_unlearn: entry j is request j + 1's people. */
export function accuracyByRequest(outcomes: readonly QuestionOutcome[], requests: readonly (readonly string[])[]): Accuracy[] {
  const unlearn = outcomes.filter((o) => o.set === 'unlearn');
  return requests.map((people) => {
    const own = new Set(people);
    return accuracy(unlearn.filter((o) => own.has(o.question.person ?? '')).map((o) => ({ modality: o.question.modality, correct: o.correct })));
  });
}

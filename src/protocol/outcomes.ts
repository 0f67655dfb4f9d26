import { accuracy } from '../metrics/accuracy.ts';
import type { Accuracy } from '../metrics/scores.ts';
import type { QuestionOutcome } from './evaluate.ts';
import type { SampleRow } from './samples-file.ts';
import type { PersonScore } from './splits.ts';

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

/** Accuracy (%) of each person's sample rows by modality, in order of first appearance; 0 where a modality has no row. */
export function personAccuracy(rows: readonly Pick<SampleRow, 'person' | 'modality' | 'correct'>[]): PersonScore[] {
  const tally = new Map<string, { multimodal: [number, number]; text: [number, number] }>();
  for (const r of rows) {
    if (r.person === null) continue;
    let t = tally.get(r.person);
    if (!t) tally.set(r.person, (t = { multimodal: [0, 0], text: [0, 0] }));
    const cell = r.modality === 'multimodal' ? t.multimodal : t.text;
    cell[0] += r.correct ? 1 : 0;
    cell[1] += 1;
  }
  const pct = ([right, n]: [number, number]) => (n ? (100 * right) / n : 0);
  return [...tally].map(([id, t]) => ({ id, multimodal: pct(t.multimodal), text_only: pct(t.text) }));
}

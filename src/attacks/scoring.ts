import type { Accuracy, ByModality } from '../metrics/scores.ts';
import { accuracy } from '../metrics/accuracy.ts';
import type { PersonRecord } from '../data/records.ts';
import { scorePeople, scoreQuestions } from '../protocol/evaluate.ts';
import type { PersonScore } from '../protocol/splits.ts';
import { personAccuracy } from '../protocol/outcomes.ts';
import type { AttackContext, CurrentOutcome } from './attack.ts';

// without the question count: an attack's numbers are ByModality, as results.json stores them
export const byModality = (a: Accuracy): ByModality => ({ overall: a.overall, multimodal: a.multimodal, text_only: a.text_only });

/** Accuracy (%) by modality on the people's questions, scored on the model as it is now (after an attack changed it). */
export async function scoreModel(context: AttackContext, people: readonly PersonRecord[]): Promise<ByModality> {
  return byModality(await scoreQuestions(context.model, people.flatMap((p) => p.questions), context.scoring, context.batchSize));
}

/** The request's own outcomes for these people, or null when any of them was not scored there. */
function currentOutcomes(context: AttackContext, people: readonly PersonRecord[]): (CurrentOutcome & { person: string })[] | null {
  const out: (CurrentOutcome & { person: string })[] = [];
  for (const p of people) {
    const own = context.current.get(p.id);
    if (!own) return null;
    out.push(...own.map((o) => ({ ...o, person: p.id })));
  }
  return out;
}

/**
 * Accuracy on the people's questions on the model as the request left it: read from the request's
 * own evaluation (every attack runs after it, on the same weights), scored only for people it did not cover.
 */
export async function accuracyNow(context: AttackContext, people: readonly PersonRecord[]): Promise<ByModality> {
  const known = currentOutcomes(context, people);
  return known ? byModality(accuracy(known)) : scoreModel(context, people);
}

/** Each person's accuracy by modality on the model as the request left it (as accuracyNow). */
export async function peopleNow(context: AttackContext, people: readonly PersonRecord[]): Promise<PersonScore[]> {
  const known = currentOutcomes(context, people);
  return known ? personAccuracy(known) : scorePeople(context.model, people, context.scoring, context.batchSize);
}

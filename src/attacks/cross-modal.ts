import type { PersonScore } from '../protocol/splits.ts';
import type { Attack } from './attack.ts';
import { peopleNow } from './scoring.ts';

/** Chance on a four-option question, in %: a person at or below it is not known in that modality. */
export const CHANCE = 25;

/** D_unlearn's people whose accuracy fell to chance in one modality only, or in both. */
export interface CrossModalShift { image_only: string[]; text_only: string[]; both: string[] }

/**
 * A modality "fell to chance" for a person when the start model answered above chance and the model
 * now answers at or below it (with five questions a modality: from ≥ 2 of 5 right to ≤ 1 of 5).
 * image_only: forgotten when shown the face but still answered by name (knowledge that survives in
 * text); text_only: the reverse; both: forgotten either way. People the start model did not know in a
 * modality cannot fall in it. `start` and `now` give accuracies in %; people missing from `start` are skipped.
 */
export function crossModalShift(start: readonly PersonScore[], now: readonly PersonScore[], chance = CHANCE): CrossModalShift {
  const before = new Map(start.map((s) => [s.id, s]));
  const out: CrossModalShift = { image_only: [], text_only: [], both: [] };
  for (const person of now) {
    const was = before.get(person.id);
    if (!was) continue;
    const fell = (m: 'multimodal' | 'text_only') => was[m] > chance && person[m] <= chance;
    const kept = (m: 'multimodal' | 'text_only') => person[m] > chance;
    if (fell('multimodal') && fell('text_only')) out.both.push(person.id);
    else if (fell('multimodal') && kept('text_only')) out.image_only.push(person.id);
    else if (fell('text_only') && kept('multimodal')) out.text_only.push(person.id);
  }
  return out;
}

/**
 * Cross-modal leakage per request: how many of D_unlearn's people were forgotten in one modality but
 * not the other. The counts are the attack's numbers; the people themselves go to results.json's
 * `attack_people` through the context.
 */
export const crossModalAttack: Attack = {
  name: 'cross_modal',
  description: "people of D_unlearn whose accuracy fell to chance with the image only, by name only, or both",
  report: {
    title: 'Cross-modal leakage',
    columns: [
      { label: 'forgotten with the image only', metric: 'image_only', format: 'count' },
      { label: 'by name only', metric: 'text_only', format: 'count' },
      { label: 'both', metric: 'both', format: 'count' },
    ],
    note: "People of D_unlearn whose accuracy fell to chance (≤ 25%) from above it: with the image while still answered by name "
      + '(the knowledge survives in text), the reverse, or both. results.json lists them under attack_people.',
  },
  run: async (context) => {
    const now = await peopleNow(context, context.unlearn);
    const shift = crossModalShift(context.startPeople, now);
    for (const [list, ids] of Object.entries(shift)) context.notePeople(list, ids);
    const count = (ids: string[]) => ({ overall: ids.length, multimodal: null, text_only: null });
    return { image_only: count(shift.image_only), text_only: count(shift.text_only), both: count(shift.both) };
  },
};

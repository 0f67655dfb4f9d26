import type { Accuracy, ByModality, RelativeScores, SetScores } from './scores.ts';
import type { Modality } from '../text/multiple-choice.ts';

export interface Outcome { modality: Modality; correct: boolean }

const pct = (right: number, n: number): number | null => (n === 0 ? null : (100 * right) / n);

/** Accuracy in percent overall and per modality; null for a modality with no question. */
export function accuracy(outcomes: readonly Outcome[]): Accuracy {
  const count = (m?: Modality) => {
    const subset = m ? outcomes.filter((o) => o.modality === m) : outcomes;
    return pct(subset.filter((o) => o.correct).length, subset.length);
  };
  return { overall: count(), multimodal: count('multimodal'), text_only: count('text'), n: outcomes.length };
}

/** forgotten % = 100 · (1 - after / before); null when before is 0 or missing. */
export function forgotten(before: number | null, after: number | null): number | null {
  return before === null || after === null || before === 0 ? null : 100 * (1 - after / before);
}

/** retained % = 100 · after / before; null when before is 0 or missing. */
export function retained(before: number | null, after: number | null): number | null {
  return before === null || after === null || before === 0 ? null : (100 * after) / before;
}

function each(before: Accuracy, after: Accuracy, f: (b: number | null, a: number | null) => number | null): ByModality {
  return { overall: f(before.overall, after.overall), multimodal: f(before.multimodal, after.multimodal), text_only: f(before.text_only, after.text_only) };
}

/** Relative scores of a request against the scores before the scenario's first request. */
export function relativeScores(before: SetScores, after: SetScores): RelativeScores {
  return {
    forgotten_unlearn: each(before.unlearn, after.unlearn, forgotten),
    retained_retain: each(before.retain, after.retain, retained),
    retained_general: each(before.general, after.general, retained),
  };
}

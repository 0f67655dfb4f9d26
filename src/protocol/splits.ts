import { deriveSeed, rng, shuffled } from '../random.ts';
import { PulseError } from '../errors.ts';

export interface Split {
  unlearn: string[];
  retain: string[];
  /** the unlearning requests in order; their union is `unlearn` */
  requests: string[][];
}

/**
 * Seeded split of people into D_unlearn and D_retain, D_unlearn cut into `requests` equal
 * requests. The same seed and ids always give the same split; ids are sorted first so the input
 * order does not matter.
 */
export function splitPeople(ids: readonly string[], sizes: { unlearn: number; retain: number; requests: number }, seed: number, label: string): Split {
  if (new Set(ids).size !== ids.length) throw new PulseError(`${label}: duplicate person ids`);
  if (sizes.unlearn + sizes.retain > ids.length) throw new PulseError(`${label}: ${sizes.unlearn} + ${sizes.retain} people requested, only ${ids.length} available`);
  if (sizes.unlearn % sizes.requests !== 0) throw new PulseError(`${label}: ${sizes.unlearn} people do not split into ${sizes.requests} equal requests`);
  const order = shuffled([...ids].sort(), rng(deriveSeed(seed, 'split', label)));
  const unlearn = order.slice(0, sizes.unlearn);
  const retain = order.slice(sizes.unlearn, sizes.unlearn + sizes.retain);
  const per = sizes.unlearn / sizes.requests;
  const requests = Array.from({ length: sizes.requests }, (_, k) => unlearn.slice(k * per, (k + 1) * per));
  return { unlearn, retain, requests };
}

export interface PersonScore { id: string; multimodal: number; text_only: number }

/**
 * Behaviour-based selection: keep the people the model answers well, judged only by its answers.
 * Eligible: accuracy >= threshold (percent) in both modalities. Ranked by the lower of the two,
 * then the mean, then a seeded random tie-break; the first `keep` are kept.
 */
export function selectKnown(scores: readonly PersonScore[], options: { keep: number; threshold: number }, seed: number): PersonScore[] {
  const random = rng(deriveSeed(seed, 'selection'));
  const tieBreak = new Map(shuffled([...scores].map((s) => s.id).sort(), random).map((id, i) => [id, i]));
  return scores
    .filter((s) => s.multimodal >= options.threshold && s.text_only >= options.threshold)
    .sort((a, b) =>
      Math.min(b.multimodal, b.text_only) - Math.min(a.multimodal, a.text_only)
      || (b.multimodal + b.text_only) - (a.multimodal + a.text_only)
      || tieBreak.get(a.id)! - tieBreak.get(b.id)!)
    .slice(0, options.keep);
}

import type { PulseModel, ScoringMode } from '../model/model.ts';
import type { Accuracy } from '../metrics/scores.ts';
import { questionsOf, type ProtocolData, type ProtocolQuestion } from '../data/records.ts';
import { scoreQuestions, scorePeople } from './evaluate.ts';

export const EVAL_SETS = ['general', 'celebrities', 'fictitious'] as const;
export type EvalSetName = (typeof EVAL_SETS)[number];

export function questionsForSet(data: ProtocolData, set: EvalSetName): ProtocolQuestion[] {
  return set === 'general' ? data.general : questionsOf(set === 'celebrities' ? data.celebrities : data.fictitious);
}

export interface SetReport extends Accuracy {
  /** celebrities only: how many the model answers with >= 80% in both modalities */
  known_80?: number;
}

/** Accuracy of a model on the named sets in one scoring mode. */
export async function evaluateModelOnSets(model: PulseModel, data: ProtocolData, sets: readonly EvalSetName[], mode: ScoringMode, batchSize = 256): Promise<Record<string, SetReport>> {
  const out: Record<string, SetReport> = {};
  for (const set of sets) {
    const report: SetReport = await scoreQuestions(model, questionsForSet(data, set), mode, batchSize);
    if (set === 'celebrities') {
      report.known_80 = (await scorePeople(model, data.celebrities, mode, batchSize)).filter((s) => s.multimodal >= 80 && s.text_only >= 80).length;
    }
    out[set] = report;
  }
  return out;
}

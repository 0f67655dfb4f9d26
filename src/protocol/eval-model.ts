import type { MultimodalModel, ScoringMode } from '../model/multimodal.ts';
import type { Accuracy } from './results-schema.ts';
import type { ProtocolData, ProtocolQuestion } from './data.ts';
import { questionsOf } from './data.ts';
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
export function evaluateModelOnSets(model: MultimodalModel, data: ProtocolData, sets: readonly EvalSetName[], mode: ScoringMode, batchSize = 256): Record<string, SetReport> {
  const out: Record<string, SetReport> = {};
  for (const set of sets) {
    const report: SetReport = scoreQuestions(model, questionsForSet(data, set), mode, batchSize);
    if (set === 'celebrities') {
      report.known_80 = scorePeople(model, data.celebrities, mode, batchSize).filter((s) => s.multimodal >= 80 && s.text_only >= 80).length;
    }
    out[set] = report;
  }
  return out;
}

import type { PersonRecord } from '../data/records.ts';
import type { ByModality } from '../metrics/scores.ts';
import type { LoraSpec, PulseModel, ScoringMode } from '../model/model.ts';
import type { ProgressFactory } from '../progress.ts';
import type { PersonScore } from '../protocol/splits.ts';
import type { Modality } from '../text/multiple-choice.ts';

/** Relearning's optimisation: LoRA on the request's update target, k steps of answer NLL. */
export interface RelearnSettings { steps: number; lr: number; batch_size: number; lora: Omit<LoraSpec, 'parts'> }

/** The open-ended attack's greedy budgets: tokens of a generation answer and of a cloze blank. */
export interface OpenEndedSettings { generation_tokens: number; cloze_tokens: number }

/** What an attack sees after a request: the unlearned model and the people of the scenario. */
export interface AttackContext {
  model: PulseModel;
  /** the parts the request updated: where relearning puts its adapters */
  target: LoraSpec['parts'];
  scoring: ScoringMode;
  batchSize: number;
  unlearn: readonly PersonRecord[];
  retain: readonly PersonRecord[];
  /** people no model of the run was trained on: membership inference's non-members */
  unseen: readonly PersonRecord[];
  relearn: RelearnSettings;
  /** greedy token budgets of the open-ended attack's answers */
  openEnded: OpenEndedSettings;
  /** the scenario's seed: choices every method of the scenario shares (relearning's halves) */
  splitSeed: number;
  /** this request's seed: adapter initialisation and batch order */
  seed: number;
  /** membership inference's AUC on the retain oracle (D_unlearn against unseen people), when there is one */
  oracleMia: ByModality | null;
  /**
   * The request's own evaluation, by person (D_unlearn and D_retain): every question's modality and
   * whether it was answered right, on the weights the attacks start from, so they need not score them again.
   */
  current: ReadonlyMap<string, readonly CurrentOutcome[]>;
  /** the start model's accuracy (%) on each of D_unlearn's people by modality: what shifts are measured from */
  startPeople: readonly PersonScore[];
  /** records a named list of people (person IDs) an attack found, stored under the attack in results.json */
  notePeople(list: string, ids: readonly string[]): void;
  progress: ProgressFactory;
}

/** One question of the request's evaluation, as the attacks reuse it. */
export interface CurrentOutcome { modality: Modality; correct: boolean }

/** An attack's numbers by metric, each by modality (null where a modality has no question). */
export type AttackScores = Record<string, ByModality>;

/**
 * A test of shallow forgetting, run on the model after a request. It must leave the model
 * exactly as it found it (an attack that trains does so on adapters it removes again).
 */
export interface Attack {
  name: string;
  description: string;
  /** how the report tables this attack's numbers */
  report: AttackReport;
  run(context: AttackContext): Promise<AttackScores>;
}

/**
 * One column of an attack's report table: a metric's overall value (with multimodal / text-only
 * beside it when `modalities`), or `metric → then` for a before/after pair.
 */
export interface AttackColumn { label: string; metric: string; then?: string; format: 'percent' | 'auc' | 'count'; modalities?: boolean }
export interface AttackReport { title: string; columns: AttackColumn[]; note: string }

import type { PersonRecord, ProtocolData } from '../data/records.ts';
import { byId } from '../data/records.ts';
import type { PulseModel, ScoringMode } from '../model/model.ts';
import type { RunConfig } from './config.ts';
import { scorePeople } from './evaluate.ts';
import { selectKnown } from './splits.ts';
import type { SelectionRecord } from './results-schema.ts';

/** What a scenario's people source and selection rule may look at. */
export interface ScenarioContext {
  config: RunConfig;
  data: ProtocolData;
  /** the fictitious people the fine-tune teaches */
  fineTunedPeople: readonly string[];
  scoring: ScoringMode;
}

/** Where a scenario's people come from. */
export interface PeopleSource {
  description: string;
  people(context: ScenarioContext): PersonRecord[];
}

/** How a scenario keeps some of its candidates before the split, judged on the start model. */
export interface SelectionRule {
  description: string;
  select(model: PulseModel, candidates: readonly PersonRecord[], context: ScenarioContext): Promise<SelectionRecord>;
}

/**
 * One PULSE scenario as data. The runner, the CLI's --scenarios choices, the results and the
 * report's per-scenario sections all come from the table below: adding a scenario is one entry.
 */
export interface Scenario {
  name: string;
  title: string;
  /** the model every method starts from: the base model or the cached fine-tune of it */
  start: 'base' | 'fine_tuned';
  people: PeopleSource;
  /** null: every candidate takes part in the split */
  selection: SelectionRule | null;
  /** D_unlearn and D_retain sizes, and how many equal requests D_unlearn is cut into */
  sizes(config: RunConfig): { unlearn: number; retain: number; requests: number };
  /** the seeded split's label: scenarios with the same label and people unlearn the same people */
  splitLabel: string;
  /** whether the update-target ablation (config.ablation) runs on this scenario */
  ablation: boolean;
}

export const FINE_TUNED_PEOPLE: PeopleSource = {
  description: 'the fictitious people the base model was fine-tuned on',
  people: (context) => byId(context.data.fictitious, context.fineTunedPeople, 'fine-tuned people'),
};

export const CELEBRITIES: PeopleSource = {
  description: 'the celebrities of the pre-training corpus',
  people: (context) => context.data.celebrities,
};

/**
 * Behaviour-based selection: score the start model on every candidate and keep the ones it
 * answers well in both modalities (selectKnown). Only the model's answers count, never what it
 * was trained on.
 */
export function behaviourSelection(settings: (config: RunConfig) => { keep: number; threshold: number }): SelectionRule {
  return {
    description: 'behaviour-based: the people the start model answers well in both modalities',
    select: async (model, candidates, context) => {
      const { keep, threshold } = settings(context.config);
      const scores = await scorePeople(model, candidates, context.scoring, context.config.eval.batch_size);
      return { threshold, candidates: scores.length, kept: selectKnown(scores, { keep, threshold }, context.config.seed) };
    },
  };
}

/** The protocol's three scenarios (PROTOCOL.md), in the order they run and are reported. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'fine_tuned',
    title: 'Fine-tuned knowledge',
    start: 'fine_tuned',
    people: FINE_TUNED_PEOPLE,
    selection: null,
    sizes: (c) => ({ unlearn: c.fine_tuned.unlearn, retain: c.fine_tuned.retain, requests: 1 }),
    splitLabel: 'fine_tuned',
    ablation: true,
  },
  {
    name: 'pre_trained',
    title: 'Pre-trained knowledge',
    start: 'base',
    people: CELEBRITIES,
    selection: behaviourSelection((c) => c.pre_trained),
    sizes: (c) => ({ unlearn: c.pre_trained.unlearn, retain: c.pre_trained.retain, requests: 1 }),
    splitLabel: 'pre_trained',
    ablation: false,
  },
  {
    name: 'sustainability',
    title: 'Sustainability (sequential requests)',
    start: 'fine_tuned',
    people: FINE_TUNED_PEOPLE,
    selection: null,
    sizes: (c) => ({ unlearn: c.fine_tuned.unlearn, retain: c.fine_tuned.retain, requests: c.sustainability.requests }),
    splitLabel: 'fine_tuned',
    ablation: false,
  },
];

export const SCENARIO_NAMES: readonly string[] = SCENARIOS.map((s) => s.name);

/** Display title of a scenario name; a name outside the table (an older or extended run) shows as itself. */
export function scenarioTitle(name: string, table: readonly Scenario[] = SCENARIOS): string {
  return table.find((s) => s.name === name)?.title ?? name;
}

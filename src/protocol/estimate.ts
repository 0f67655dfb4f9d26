import { getMethod } from '../unlearn/registry.ts';
import { attacksNamed } from '../attacks/registry.ts';
import type { RunConfig } from './config.ts';
import { variantSetting } from './settings.ts';
import { baseMethod } from './grid.ts';
import type { CellStep, Plan, Step } from './plan.ts';

/*
 * What a study costs on GPUs, from its plan and one measured number: the time of one LoRA step
 * at `rows` rows of about 650 tokens (npm run bench:llava -- --device cuda). Everything else is
 * counted from the config: training steps per request (epochs x batches of the request's
 * examples), scoring passes (one forward per question, a third of a training row's forward and
 * backward), the fine-tune and oracles, the attacks. A method that also trains on D_retain costs
 * a second batch per step, one with a reference model a third more (its frozen forward).
 */

export interface StepTime {
  /** one training step (forward + backward + update) */
  ms: number;
  /** at this many rows per step */
  rows: number;
  /** where the figure comes from, printed with the estimate */
  source: string;
}

export interface DataSizes {
  /** training examples per person (MLLMU-Bench: its Generation_Task items, the name question and the biography) */
  examplesPerPerson: number;
  /** scored questions per person */
  questionsPerPerson: number;
  /** general-benchmark questions scored at each point when eval.general_items is null */
  generalItems: number;
  /** celebrities behaviour-based selection scores */
  candidates: number;
}

export interface CellEstimate { cell: CellStep; requests: number; trainingSteps: number; scoringPoints: number; seconds: number }

export interface StudyEstimate {
  cells: CellEstimate[];
  /** fine-tune, oracles, selections and preparations */
  prerequisiteSeconds: number;
  gpuSeconds: number;
  /** on `gpus` GPUs, steps started in plan order as soon as their prerequisites are done (what workers do) */
  wallSeconds: number;
  gpus: number;
}

export function estimateStudy(config: RunConfig, plan: Plan, time: StepTime, sizes: DataSizes, gpus: number): StudyEstimate {
  const rowSeconds = time.ms / 1000 / time.rows; // one training row, forward and backward
  const scoreSeconds = rowSeconds / 3; // one question: a forward
  const general = config.eval.general_items ?? sizes.generalItems;
  const scoringPass = (people: number) => (people * sizes.questionsPerPerson + general) * scoreSeconds;
  const fineTuneSeconds = config.fine_tune.steps * config.fine_tune.batch_size * rowSeconds;

  const cells = plan.cells.map((cell): CellEstimate => {
    const s = cell.scenario.sizes(config);
    const method = getMethod(baseMethod(cell.method));
    const pick = <K extends keyof RunConfig['unlearn']>(key: K) => variantSetting(config, cell.scenario.name, cell.method, key);
    const perRequest = (s.unlearn / s.requests) * sizes.examplesPerPerson;
    const batches = Math.ceil(perRequest / pick('batch_size'));
    const stepRows = Math.min(pick('batch_size'), perRequest) * (1 + (method.needsRetain ? 1 : 0) + (method.needsReference ? 1 / 3 : 0));
    const trainingSteps = s.requests * pick('epochs') * batches;
    const every = config.eval.every;
    const inside = every === 'request' ? 0 : every === 'epoch' ? pick('epochs') - 1 : Math.floor((pick('epochs') * batches - 1) / every);
    const scoringPoints = s.requests * (1 + inside);
    const attackSeconds = s.requests * attacksNamed(config.attacks).reduce((t, a) => t + (a.name.startsWith('relearn')
      ? config.attack_settings.relearn.steps * config.attack_settings.relearn.batch_size * rowSeconds + scoringPass(s.unlearn / 2)
      : scoringPass(s.unlearn + s.retain)), 0);
    const seconds = trainingSteps * stepRows * rowSeconds + scoringPoints * scoringPass(s.unlearn + s.retain) + attackSeconds;
    return { cell, requests: s.requests, trainingSteps, scoringPoints, seconds };
  });

  const stepSeconds = (step: Step): number => {
    if (step.kind === 'cell') return cells.find((c) => c.cell.key === step.key)!.seconds;
    if (step.kind === 'select') return sizes.candidates * sizes.questionsPerPerson * scoreSeconds;
    const s = step.scenario.sizes(config);
    const oracle = step.scenario.start === 'fine_tuned' && config.eval.oracle;
    return scoringPass(s.unlearn + s.retain) * (oracle ? 2 : 1) + (oracle ? fineTuneSeconds : 0);
  };
  const fineTune = plan.caches.fineTune ? fineTuneSeconds : 0;
  // oracles are shared by the scenarios of a seed with the same split: only the first preparation builds it
  const oracleShared = plan.steps.filter((s) => s.kind === 'prepare' && s.scenario.start === 'fine_tuned' && config.eval.oracle).length - plan.caches.oracles.length;
  const prerequisiteSeconds = fineTune + plan.steps.filter((s) => s.kind !== 'cell').reduce((t, s) => t + stepSeconds(s), 0) - oracleShared * fineTuneSeconds;
  const gpuSeconds = prerequisiteSeconds + cells.reduce((t, c) => t + c.seconds, 0);
  return { cells, prerequisiteSeconds, gpuSeconds, wallSeconds: schedule(plan, stepSeconds, fineTune, gpus), gpus };
}

/** The makespan of the plan on `gpus` GPUs when each step starts on the first free GPU once its prerequisites are done. */
function schedule(plan: Plan, seconds: (step: Step) => number, fineTune: number, gpus: number): number {
  const free = Array.from({ length: gpus }, () => 0);
  const end = new Map<string, number>();
  free[0] = fineTune;
  for (const step of plan.steps) {
    let after = 0;
    if (step.kind === 'cell') after = end.get(step.prepare)!;
    if (step.kind === 'prepare') after = Math.max(step.select ? end.get(step.select)! : 0, step.scenario.start === 'fine_tuned' ? fineTune : 0);
    const gpu = free.indexOf(Math.min(...free));
    const start = Math.max(free[gpu]!, after);
    free[gpu] = start + seconds(step);
    end.set(step.key, free[gpu]!);
  }
  return Math.max(...free);
}

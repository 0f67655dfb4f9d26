import { join } from 'node:path';
import { PulseError } from '../errors.ts';
import { seedList, type RunConfig } from './config.ts';
import { methodEntries } from './settings.ts';
import { SCENARIOS, type Scenario } from './scenarios.ts';

/*
 * A run is a plan of steps, each with a stable key and a folder of its own in the run folder:
 *
 *   select   (scenario)                          behaviour-based selection, shared by every seed
 *   prepare  (seed, scenario)                    the split, the start model's scores, the retain oracle's
 *   cell     (seed, scenario, method, target)    every request of one method with its attacks
 *
 * then the finish, which merges the steps' records into results.json and what follows from it.
 * The caches a step needs (the fine-tune, each seed's retain oracle) are built by the first step
 * that needs them, under a lock, and shared across runs. Steps run in plan order in one process,
 * or in any order on many workers: each depends only on the steps before it that it names, and
 * draws its random numbers from its own key, so the numbers are the same either way.
 */

interface StepBase { key: string; scenario: Scenario }
export interface SelectStep extends StepBase { kind: 'select' }
export interface PrepareStep extends StepBase { kind: 'prepare'; seed: number; select: string | null }
export interface CellStep extends StepBase { kind: 'cell'; seed: number; method: string; target: string; prepare: string }
export type Step = SelectStep | PrepareStep | CellStep;

export interface Plan {
  seeds: number[];
  scenarios: Scenario[];
  /** in the order one process runs them */
  steps: Step[];
  cells: CellStep[];
  /** the caches the steps build or read: the fine-tune when a scenario starts from it; the retain oracle of each seed and split */
  caches: { fineTune: boolean; oracles: { seed: number; splitLabel: string }[] };
}

/** Key parts are names (scenarios, methods, update targets), which never hold `~` (see the names rule). */
const SEP = '~';

export const selectKey = (scenario: string) => `select${SEP}${scenario}`;
export const prepareKey = (seed: number, scenario: string) => `s${seed}${SEP}${scenario}`;
export const cellKey = (seed: number, scenario: string, method: string, target: string) => [`s${seed}`, scenario, method, target].join(SEP);

/**
 * The label a request's random numbers are derived from (with the seed and the request's
 * position; a grid point's from its registry method's label, so the points share their seeds),
 * and the order of the cell's rows in samples.parquet (a grid point's by its own name). Its form
 * predates cells: changing it would change every number.
 */
export const requestLabel = (scenario: string, method: string, target: string) => `${scenario}--${method}--${target.replace(/\+/g, '-')}`;

export function resolveScenarios(config: RunConfig, table: readonly Scenario[] = SCENARIOS): Scenario[] {
  return config.scenarios.map((name) => {
    const scenario = table.find((s) => s.name === name);
    if (!scenario) throw new PulseError(`unknown scenario '${name}' (scenarios: ${table.map((s) => s.name).join(', ')})`);
    return scenario;
  });
}

export function planRun(config: RunConfig, table: readonly Scenario[] = SCENARIOS): Plan {
  const scenarios = resolveScenarios(config, table);
  const seeds = seedList(config);
  const steps: Step[] = [];
  const cells: CellStep[] = [];
  const oracles: Plan['caches']['oracles'] = [];
  for (const seed of seeds) {
    for (const scenario of scenarios) {
      const select = scenario.selection ? selectKey(scenario.name) : null;
      if (select && !steps.some((s) => s.key === select)) steps.push({ kind: 'select', key: select, scenario });
      const prepare = prepareKey(seed, scenario.name);
      steps.push({ kind: 'prepare', key: prepare, scenario, seed, select });
      if (scenario.start === 'fine_tuned' && config.eval.oracle && !oracles.some((o) => o.seed === seed && o.splitLabel === scenario.splitLabel)) {
        oracles.push({ seed, splitLabel: scenario.splitLabel });
      }
      for (const { method, target } of methodEntries(config, scenario)) {
        const cell: CellStep = { kind: 'cell', key: cellKey(seed, scenario.name, method, target), scenario, seed, method, target, prepare };
        steps.push(cell);
        cells.push(cell);
      }
    }
  }
  return { seeds, scenarios, steps, cells, caches: { fineTune: scenarios.some((s) => s.start === 'fine_tuned'), oracles } };
}

/** Where a step keeps its files: prepare/<key>/ for selections and preparations, cells/<key>/ for cells. */
export function stepDir(outDir: string, step: Pick<Step, 'kind' | 'key'>): string {
  const dir = join(outDir, step.kind === 'cell' ? 'cells' : 'prepare', step.key);
  // a name with a path separator or a dot-name would leave the run folder (names are checked where they enter; this is the last guard)
  if (step.key.split(SEP).some((part) => part === '' || part === '.' || part === '..' || /[/\\\0]/.test(part))) {
    throw new PulseError(`step '${step.key}': a scenario, method or target name cannot be part of a file name`);
  }
  return dir;
}

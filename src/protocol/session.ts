import { disposeDelta, type PulseModel, type ScoringMode } from '../model/model.ts';
import type { PersonRecord, ProtocolData } from '../data/records.ts';
import { deriveSeed, rng, shuffled } from '../random.ts';
import type { ProgressFactory } from '../progress.ts';
import type { Liveness } from '../claim/holder.ts';
import { seedList, type RunConfig } from './config.ts';
import { evaluateSets, generalQuestions, type EvalSets, type Evaluation, type SetQuestion } from './evaluate.ts';
import { sampleRows, type EvaluationPoint } from './outcomes.ts';
import type { SampleRow } from './samples-file.ts';
import { ensureFineTuned, fineTunePeople, tryFineTuned, type FineTune } from './finetune.ts';
import type { Scenario, ScenarioContext } from './scenarios.ts';

export interface Phase { name: string; seconds: number }

/** A request's state delta as written to the run folder: its size, against what it holds. */
export interface CheckpointRecord { file: string; bytes: number; parameters: number }

/** Who this process is, as its claims and the cells' placement records name it. */
export interface WorkerIdentity {
  /** "pulse run", "worker 2" */
  label: string;
  /** the device the model is on */
  device: string;
  liveness: Liveness;
}

/**
 * What one process works with while it runs steps: its inputs (loaded and checked once), the
 * fine-tune once a step needed it, and its timers. Steps share nothing else: every number a step
 * writes comes from its own inputs and seed.
 */
export interface Session {
  config: RunConfig;
  outDir: string;
  model: PulseModel;
  data: ProtocolData;
  scoring: ScoringMode;
  context: ScenarioContext;
  /** the general benchmark subset scored after every request: a seeded choice every seed shares */
  general: SetQuestion[];
  /** fine-tunes and retain oracles are cached here across runs */
  cacheDir: string;
  worker: WorkerIdentity;
  /** the fine-tune's adapters, once a step that starts from it has run in this process */
  fineTune: FineTune | null;
  /** time spent scoring and in each attack, for the benchmark's breakdown */
  scoringSeconds: number;
  attackSeconds: Record<string, number>;
  phases: Phase[];
  checkpoints: CheckpointRecord[];
  progress: ProgressFactory;
  log: (line: string) => void;
}

export interface SessionInputs {
  config: RunConfig; outDir: string; model: PulseModel; data: ProtocolData; scoring: ScoringMode; cacheDir: string;
  worker: WorkerIdentity; progress: ProgressFactory; log: (line: string) => void; phases?: Phase[];
}

export function openSession(inputs: SessionInputs): Session {
  const { config, data } = inputs;
  const positions = data.general.map((_, i) => i);
  const items = config.eval.general_items;
  const chosen = items === null || items >= positions.length ? positions : shuffled(positions, rng(deriveSeed(config.seed, 'general subset'))).slice(0, items);
  const context: ScenarioContext = { config, data, fineTunedPeople: fineTunePeople(data, config), scoring: inputs.scoring };
  return {
    ...inputs, context, general: generalQuestions(data.general, chosen), fineTune: null,
    scoringSeconds: 0, attackSeconds: {}, phases: inputs.phases ?? [], checkpoints: [],
  };
}

export function closeSession(session: Session): void {
  if (session.fineTune) disposeDelta(session.fineTune.delta);
  session.fineTune = null;
}

export async function timed<T>(session: Session, name: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  try { return await fn(); } finally { session.phases.push({ name, seconds: (performance.now() - t0) / 1000 }); }
}

/**
 * The fine-tune, built under its cache lock by the first process that needs it. With `wait`
 * false, null while another process builds it: the caller runs other steps meanwhile.
 */
export async function fineTuneOf(session: Session, wait = true): Promise<FineTune | null> {
  if (session.fineTune) return session.fineTune;
  const { model, data, config, cacheDir, progress, log } = session;
  const people = fineTunePeople(data, config);
  const lock = { label: session.worker.label, liveness: session.worker.liveness, onWait: (h: string) => log(`waiting for the fine-tune, built by ${h}`) };
  const fineTune = await timed(session, 'fine-tune (or cache)', () => (wait
    ? ensureFineTuned(model, data, config, cacheDir, progress, people, 'fine-tune', lock)
    : tryFineTuned(model, data, config, cacheDir, progress, people, 'fine-tune', lock)));
  if (!fineTune) return null;
  log(fineTune.built ? `fine-tuned model built in ${fineTune.seconds.toFixed(1)} s: ${fineTune.path}` : `fine-tuned model from cache: ${fineTune.path}`);
  session.fineTune = fineTune;
  return fineTune;
}

/** Puts the model in the state every method of a scenario starts from. */
export async function startState(session: Session, scenario: Scenario): Promise<void> {
  const fineTune = scenario.start === 'fine_tuned' ? await fineTuneOf(session) : null;
  await session.model.reset();
  if (fineTune) session.model.applyDelta(fineTune.delta);
}

/** Scores the model on the sets: the accuracies, and the per-question records for samples.parquet. */
export async function evaluatePoint(session: Session, sets: EvalSets, point: EvaluationPoint): Promise<{ evaluation: Evaluation; rows: SampleRow[] }> {
  const t0 = performance.now();
  const evaluation = await evaluateSets(session.model, sets, session.scoring, session.config.eval.batch_size);
  session.scoringSeconds += (performance.now() - t0) / 1000;
  return { evaluation, rows: sampleRows(point, evaluation.outcomes) };
}

/** As many fictitious people as D_unlearn has that the fine-tune never saw (seeded): membership inference's non-members. */
export function unseenPeople(session: Session, count: number, seed: number): PersonRecord[] {
  const taught = new Set(session.context.fineTunedPeople);
  const candidates = session.data.fictitious.filter((p) => !taught.has(p.id)).sort((a, b) => (a.id < b.id ? -1 : 1));
  return shuffled(candidates, rng(deriveSeed(seed, 'unseen people'))).slice(0, count);
}

export const seedTag = (session: Session, seed: number) => (seedList(session.config).length > 1 ? ` seed ${seed}` : '');

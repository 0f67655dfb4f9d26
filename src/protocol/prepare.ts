import { byId, type PersonRecord } from '../data/records.ts';
import { disposeDelta, type StateDelta } from '../model/model.ts';
import { attacksNamed } from '../attacks/registry.ts';
import { membershipAttack } from '../attacks/mia.ts';
import type { ByModality, SetScores } from '../metrics/scores.ts';
import { personQuestions, type EvalSets } from './evaluate.ts';
import { accuracyByRequest } from './outcomes.ts';
import { writeSamplePartFile } from './samples-file.ts';
import { splitPeople } from './splits.ts';
import { tryFineTuned } from './finetune.ts';
import type { Scenario } from './scenarios.ts';
import type { SelectionRecord } from './results-schema.ts';
import type { PrepareStep, SelectStep } from './plan.ts';
import { readSelection, samplePartPath, writeRecord, type PreparedRecord } from './records.ts';
import { attackContext } from './cell-attacks.ts';
import { evaluatePoint, fineTuneOf, seedTag, startState, timed, unseenPeople, type Session } from './session.ts';

/** A step that needs a cache entry another process is building: it gives way and is tried again later. */
export const BLOCKED = 'blocked';
export type StepOutcome = 'done' | typeof BLOCKED;

type Splits = { unlearn: string[]; retain: string[] };

export function evalSets(session: Session, pool: readonly PersonRecord[], splits: Splits, scenario: Scenario): EvalSets {
  return {
    unlearn: personQuestions(byId(pool, splits.unlearn, scenario.name)),
    retain: personQuestions(byId(pool, splits.retain, scenario.name)),
    general: session.general,
  };
}

/** Behaviour-based selection on the scenario's start model: every seed of the run shares it. */
export async function runSelect(session: Session, step: SelectStep): Promise<StepOutcome> {
  const { scenario } = step;
  if (scenario.start === 'fine_tuned' && !(await fineTuneOf(session, false))) return BLOCKED;
  await startState(session, scenario);
  const pool = scenario.people.people(session.context);
  session.log(`${scenario.name}: ${scenario.selection!.description}, over ${pool.length} candidates`);
  const selection = await timed(session, `${scenario.name}: selection`, () => scenario.selection!.select(session.model, pool, session.context));
  writeRecord(session.outDir, step, selection);
  return 'done';
}

/**
 * A scenario's record for one seed: its split, the start model's scores and the retain oracle's,
 * or the reason it is skipped (a selection that kept too few people).
 */
export async function runPrepare(session: Session, step: PrepareStep): Promise<StepOutcome> {
  const { config, log, outDir } = session;
  const { scenario, seed } = step;
  const oracleWanted = scenario.start === 'fine_tuned' && config.eval.oracle;
  if (scenario.start === 'fine_tuned' && !(await fineTuneOf(session, false))) return BLOCKED;
  const pool = scenario.people.people(session.context);
  const sizes = scenario.sizes(config);
  const head = { scenario: scenario.name, seed, title: scenario.title, update_target: config.update_target, oracle: null };
  let ids = pool.map((p) => p.id);
  let selection: SelectionRecord | undefined;
  if (step.select) {
    selection = readSelection(outDir, { kind: 'select', key: step.select, scenario })!;
    const needed = sizes.unlearn + sizes.retain;
    if (selection.kept.length < needed) {
      const note = `behaviour-based selection kept ${selection.kept.length} people at a ${selection.threshold}% threshold; ${needed} are needed`;
      const skipped: PreparedRecord = {
        ...head, status: 'skipped', note, splits: { unlearn: [], retain: [], requests: [] }, selection, before: null, before_by_request: [],
      };
      writeRecord(outDir, step, skipped);
      log(`${scenario.name} skipped: ${note}`);
      return 'done';
    }
    ids = selection.kept.map((k) => k.id);
  }
  const splits = splitPeople(ids, sizes, seed, scenario.splitLabel);
  // the oracle is built first: while another process builds it, this step gives way before scoring anything
  const oracle = oracleWanted ? await oracleOf(session, scenario, splits.retain, seed) : null;
  if (oracle === BLOCKED) return BLOCKED;
  try {
    await startState(session, scenario);
    const sets = evalSets(session, pool, splits, scenario);
    const questions = sets.unlearn.length + sets.retain.length + sets.general.length;
    log(`${scenario.name}${seedTag(session, seed)}: scoring the starting model (${questions} questions)`);
    const start = { seed, scenario: scenario.name, method: 'start', target: '', request: 0, step: 0 };
    const before = await timed(session, `${scenario.name}: evaluate before`, () => evaluatePoint(session, sets, start));
    await writeSamplePartFile(samplePartPath(outDir, step, 'before'), before.rows);
    const oracleScores = oracle ? await scoreOracle(session, step, sets, splits, oracle.delta) : null;
    const record: PreparedRecord = {
      ...head, status: 'ready', splits, ...(selection ? { selection } : {}), before: before.evaluation.scores,
      before_by_request: accuracyByRequest(before.evaluation.outcomes, splits.requests), oracle: oracleScores?.scores ?? null,
      ...(oracleScores?.mia ? { oracle_mia: oracleScores.mia } : {}),
    };
    writeRecord(outDir, step, record);
    return 'done';
  } finally {
    if (oracle) disposeDelta(oracle.delta);
  }
}

/**
 * The retain oracle: the base model fine-tuned with the fine-tune's recipe on D_retain's people
 * only, so it never saw D_unlearn. Cached like the fine-tune (scenarios with the same split share
 * it); BLOCKED while another process builds it.
 */
async function oracleOf(session: Session, scenario: Scenario, retain: string[], seed: number) {
  const { model, config, data, cacheDir, progress, worker, log } = session;
  const label = `${scenario.name} seed ${seed}: retain oracle`;
  const oracle = await timed(session, `${scenario.name}: retain oracle`,
    () => tryFineTuned(model, data, config, cacheDir, progress, retain, label, { label: worker.label, liveness: worker.liveness }));
  if (!oracle) return BLOCKED;
  if (oracle.built) log(`retain oracle built in ${oracle.seconds.toFixed(1)} s: ${oracle.path}`);
  return oracle;
}

async function scoreOracle(session: Session, step: PrepareStep, sets: EvalSets, splits: Splits, delta: StateDelta)
  : Promise<{ scores: SetScores; mia: ByModality | null }> {
  const { model } = session;
  const { scenario, seed } = step;
  try {
    await model.reset();
    model.applyDelta(delta);
    const point = { seed, scenario: scenario.name, method: 'oracle', target: '', request: 0, step: 0 };
    const scored = await evaluatePoint(session, sets, point);
    await writeSamplePartFile(samplePartPath(session.outDir, step, 'oracle'), scored.rows);
    return { scores: scored.evaluation.scores, mia: await oracleMembership(session, scenario, splits, seed) };
  } finally {
    await startState(session, scenario);
  }
}

/**
 * Membership inference on the retain oracle (loaded), when the run has the mia attack: the AUC of a
 * model that never saw D_unlearn, which privacy leakage is measured against.
 */
async function oracleMembership(session: Session, scenario: Scenario, splits: Splits, seed: number): Promise<ByModality | null> {
  if (!attacksNamed(session.config.attacks).some((a) => a.name === membershipAttack.name)) return null;
  const pool = scenario.people.people(session.context);
  const unlearn = byId(pool, splits.unlearn, scenario.name);
  const people = { unlearn, retain: byId(pool, splits.retain, scenario.name), unseen: unseenPeople(session, unlearn.length, seed) };
  const context = attackContext(session, people, [], { splitSeed: seed, seed, oracleMia: null }, { current: new Map(), startPeople: [], notePeople: () => {} });
  return (await membershipAttack.run(context)).auc_unlearn ?? null;
}

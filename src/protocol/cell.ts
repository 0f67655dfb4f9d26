import { hostname } from 'node:os';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { disposeDelta, type PulseModel, type StateDelta } from '../model/model.ts';
import { byId, type PersonRecord } from '../data/records.ts';
import { getMethod } from '../unlearn/registry.ts';
import { unlearnRequest, DivergenceError, type Probe } from '../unlearn/unlearn.ts';
import { relativeScores } from '../metrics/accuracy.ts';
import { deriveSeed } from '../random.ts';
import { slurmJobOfThisProcess } from '../executor/slurm-jobs.ts';
import type { Claim } from '../claim/claim.ts';
import type { EvalSets } from './evaluate.ts';
import { accuracyByRequest, personAccuracy, type EvaluationPoint } from './outcomes.ts';
import { readSamples, writeSamplePartFile, type SampleRow } from './samples-file.ts';
import type { MethodResult, Placement, TrajectoryPoint } from './results-schema.ts';
import { requestLabel, stepDir, type CellStep, type PrepareStep } from './plan.ts';
import { deltaPath, pendingCell, readCell, readPrepared, samplePartPath, writeRecord, type PreparedRecord } from './records.ts';
import { settingsFor, stopLevel } from './settings.ts';
import { baseMethod } from './grid.ts';
import { byPerson, runAttacks, type ScenarioPeople } from './cell-attacks.ts';
import { evalSets, type StepOutcome } from './prepare.ts';
import { evaluatePoint, seedTag, startState, unseenPeople, type Session } from './session.ts';

/** The claim on a step was taken over by another process (it judged this one gone): this one stops without writing. */
export class ClaimLostError extends Error {
  override name = 'ClaimLostError';
}

export function checkClaim(claim: Claim | null, what: string): void {
  if (claim?.lost()) throw new ClaimLostError(`${what}: another process took it over`);
}

interface CellData { pool: PersonRecord[]; sets: EvalSets; retainExamples: PersonRecord['training']; people: ScenarioPeople }

function cellData(session: Session, step: CellStep, prepared: PreparedRecord): CellData {
  const { scenario, seed } = step;
  const pool = scenario.people.people(session.context);
  const sets = evalSets(session, pool, prepared.splits, scenario);
  const people = { unlearn: byId(pool, prepared.splits.unlearn, scenario.name), retain: byId(pool, prepared.splits.retain, scenario.name) };
  const unseen = unseenPeople(session, people.unlearn.length, seed);
  return { pool, sets, retainExamples: people.retain.flatMap((p) => p.training), people: { ...people, unseen } };
}

/**
 * The requests of one method on one scenario and seed still to run, each with its attacks. The
 * model starts from the scenario's start state plus the saved deltas of the requests already
 * done. After each request the cell writes its per-question rows, its delta (unless it was the
 * last) and then its record, each atomically: a cell stopped at any moment resumes after its last
 * recorded request.
 */
export async function runCell(session: Session, step: CellStep, claim: Claim | null): Promise<StepOutcome> {
  const { model, log, outDir } = session;
  const { scenario, seed } = step;
  const prepareStep: PrepareStep = { kind: 'prepare', key: step.prepare, scenario, seed, select: null };
  const prepared = readPrepared(outDir, prepareStep)!;
  const entry = readCell(outDir, step) ?? pendingCell(session.config, step);
  const requests = prepared.splits.requests;
  const label = `${scenario.name}${seedTag(session, seed)} ${step.method}${step.target === prepared.update_target ? '' : ` [${step.target}]`}`;
  const stretch: Placement = {
    host: hostname(), device: session.worker.device, worker: session.worker.label, pid: process.pid, slurm_job: slurmJobOfThisProcess(),
    started_at: new Date().toISOString(), ended_at: '', requests: [],
  };
  const save = () => {
    checkClaim(claim, step.key);
    if (stretch.requests.length) stretch.ended_at = new Date().toISOString();
    const placement = [...(entry.placement ?? []), ...(stretch.requests.length ? [stretch] : [])];
    writeRecord(outDir, step, { ...entry, ...(placement.length ? { placement } : {}) });
  };
  try {
    const data = cellData(session, step, prepared);
    // A cell stopped after its last request was saved, but before it was marked complete, has nothing
    // left to run (and no delta of that last request: it is never saved).
    if (entry.requests.length < requests.length) await startState(session, scenario);
    for (let k = 1; k <= entry.requests.length && entry.requests.length < requests.length; k++) {
      const delta = await model.loadDelta(deltaPath(outDir, step, k));
      model.applyDelta(delta);
      disposeDelta(delta);
    }
    for (let k = entry.requests.length + 1; k <= requests.length; k++) {
      checkClaim(claim, step.key);
      const t0 = performance.now();
      const result = await runRequest(session, step, prepared, data, k, `${label} ${k}/${requests.length}`);
      const seconds = (performance.now() - t0) / 1000;
      entry.requests.push({ ...result, seconds });
      stretch.requests.push(k);
      save();
      const f = (v: number | null) => (v === null ? '—' : v.toFixed(1));
      const change = (set: keyof EvalSets) => `${f(prepared.before![set].overall)} -> ${f(result.after[set].overall)}`;
      const stopped = result.stopped_early ? ` (stopped at step ${result.steps})` : '';
      log(`${scenario.name}${seedTag(session, seed)} ${step.method} [${step.target}] request ${k}/${requests.length}: `
        + `D_unlearn ${change('unlearn')}, D_retain ${change('retain')}, general ${change('general')}${stopped}`);
      session.phases.push({ name: `${scenario.name}: ${step.method} [${step.target}] request ${k}`, seconds });
    }
    entry.status = 'complete';
  } catch (error) {
    if (!(error instanceof DivergenceError)) throw error;
    entry.status = 'failed';
    entry.error = error.message;
    log(`${label}: failed: ${error.message}`);
  }
  save();
  removeDeltas(session.outDir, step);
  return 'done';
}

/** A finished cell's deltas: only a resumed sequence reads them. */
export function removeDeltas(outDir: string, step: CellStep): void {
  const dir = stepDir(outDir, step);
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) if (/^r\d+\.safetensors$/.test(name)) rmSync(join(dir, name), { force: true });
}

type RequestRecord = Omit<MethodResult['requests'][number], 'seconds'>;

/**
 * One request: unlearning with its scoring points (eval.every), the scores at its end, its
 * per-question records (written before the record that counts them) and, unless it is the last,
 * its delta for a resumed run.
 */
async function runRequest(session: Session, step: CellStep, prepared: PreparedRecord, data: CellData, k: number, label: string): Promise<RequestRecord> {
  const { config, model, outDir } = session;
  const { scenario, seed, method, target } = step;
  // a grid point draws the seeds of its registry method: the points of a sweep differ in their settings alone
  const seedKey = requestLabel(scenario.name, baseMethod(method), target);
  const ids = prepared.splits.requests[k - 1]!;
  const forget = byId(data.pool, ids, scenario.name).flatMap((p) => p.training);
  const settings = settingsFor(config, scenario.name, method, target, deriveSeed(seed, seedKey, k));
  const point = (at: number): EvaluationPoint => ({ seed, scenario: scenario.name, method, target, request: k, step: at });
  const rows: SampleRow[][] = [];
  const trajectory: TrajectoryPoint[] = [];
  const stopAt = stopLevel(config, scenario.name, method);
  const probe: Probe | undefined = config.eval.every === 'request' ? undefined : {
    every: config.eval.every,
    score: async (at) => {
      const scored = await evaluatePoint(session, data.sets, point(at));
      rows.push(scored.rows);
      const relative = relativeScores(prepared.before!, scored.evaluation.scores);
      const byRequest = accuracyByRequest(scored.evaluation.outcomes, prepared.splits.requests);
      trajectory.push({ step: at, after: scored.evaluation.scores, relative, by_request: byRequest });
      return stopAt !== null && (relative.forgotten_unlearn.overall ?? -Infinity) >= stopAt;
    },
  };
  const earlier = Array.from({ length: k - 1 }, (_, j) => deltaPath(outDir, step, j + 1));
  // refusals: the data's "I don't know" answers, for the methods that train toward them (IdkNLL, IdkDPO)
  const outcome = await unlearnRequest(model, getMethod(baseMethod(method)), forget, data.retainExamples, { ...settings, refusals: session.data.refusals },
    session.progress, label, probe, () => readDeltas(model, earlier));
  try {
    // A request that stopped ends at the point that stopped it: scored again below, once its update is merged.
    if (outcome.stoppedEarly) { trajectory.pop(); rows.pop(); }
    const scored = await evaluatePoint(session, data.sets, point(outcome.steps));
    rows.push(scored.rows);
    const seeds = { splitSeed: seed, seed: deriveSeed(seed, seedKey, k, 'attacks'), oracleMia: prepared.oracle_mia ?? null };
    const current = byPerson(scored.evaluation.outcomes);
    const attacks = await runAttacks(session, data.people, settings.target, seeds, { current, start: () => startPeople(session, step) });
    await writeSamplePartFile(samplePartPath(outDir, step, `r${k}`), rows.flat());
    if (k < prepared.splits.requests.length) await saveDelta(session, deltaPath(outDir, step, k), outcome.delta);
    const after = scored.evaluation.scores;
    return {
      request: k, people: ids, after, relative: relativeScores(prepared.before!, after),
      by_request: accuracyByRequest(scored.evaluation.outcomes, prepared.splits.requests),
      steps: outcome.steps, stopped_early: outcome.stoppedEarly, trajectory, loss: outcome.loss,
      ...(attacks ? { attacks: attacks.scores } : {}), ...(attacks && Object.keys(attacks.people).length ? { attack_people: attacks.people } : {}),
    };
  } finally {
    disposeDelta(outcome.delta);
  }
}

/**
 * The deltas of a request's earlier requests, read from their checkpoints: every request but the
 * last saves one before the next starts, in a fresh run and in a resumed one alike.
 */
async function readDeltas(model: PulseModel, paths: readonly string[]): Promise<StateDelta[]> {
  const deltas: StateDelta[] = [];
  try {
    for (const path of paths) deltas.push(await model.loadDelta(path));
  } catch (error) {
    deltas.forEach(disposeDelta);
    throw error;
  }
  return deltas;
}

/**
 * The start model's accuracy on each of D_unlearn's people, from the scenario's `before` sample
 * part (kept in the run folder, so a resumed run and any worker read it too).
 */
async function startPeople(session: Session, step: CellStep) {
  const rows = await readSamples(samplePartPath(session.outDir, { kind: 'prepare', key: step.prepare }, 'before'));
  return personAccuracy(rows.filter((r) => r.set === 'unlearn'));
}

async function saveDelta(session: Session, path: string, delta: StateDelta): Promise<void> {
  await session.model.saveDelta(path, delta);
  const parameters = delta.entries.reduce((n, e) => n + (e.kind === 'lora' ? e.a.numel + e.b.numel : e.value.numel), 0);
  session.checkpoints.push({ file: relative(session.outDir, path), bytes: statSync(path).size, parameters });
}

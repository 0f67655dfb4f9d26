import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { setNumThreads, defaultThreads } from '../torch/index.ts';
import { loadModel } from '../model/registry.ts';
import { assertSameWorld, disposeDelta, parseTarget, type Part, type PulseModel, type ScoringMode, type StateDelta } from '../model/model.ts';
import { byId, type PersonRecord, type ProtocolData } from '../data/records.ts';
import { shortJsonHash } from '../hash.ts';
import { getMethod } from '../unlearn/registry.ts';
import { attacksNamed } from '../attacks/registry.ts';
import type { AttackContext, AttackScores, CurrentOutcome } from '../attacks/attack.ts';
import { membershipAttack } from '../attacks/mia.ts';
import type { ByModality, SetScores } from '../metrics/scores.ts';
import type { PluginRecord } from '../unlearn/plugins.ts';
import { unlearnRequest, DivergenceError, type Probe, type UnlearnSettings } from '../unlearn/unlearn.ts';
import { relativeScores } from '../metrics/accuracy.ts';
import { deriveSeed, rng, shuffled } from '../random.ts';
import { PulseError, describeZodError } from '../errors.ts';
import { silentProgress, type ProgressFactory } from '../progress.ts';
import { PULSE_VERSION } from '../version.ts';
import { needsAbsentLora, portableConfig, seedList, type RunConfig } from './config.ts';
import { evaluateSets, generalQuestions, personQuestions, type EvalSets, type Evaluation, type QuestionOutcome, type SetQuestion } from './evaluate.ts';
import { accuracyByRequest, personAccuracy, sampleRows, type EvaluationPoint } from './outcomes.ts';
import { mergeSampleParts, readSamples, writeSamplePart, type SampleRow } from './samples-file.ts';
import { summarise } from './summary.ts';
import { writeResultsCsv } from './results-csv.ts';
import { ensureFineTuned, fineTunePeople, type FineTune } from './finetune.ts';
import { splitPeople, type PersonScore } from './splits.ts';
import { SCENARIOS, type Scenario, type ScenarioContext } from './scenarios.ts';
import { Results, RESULTS_SCHEMA_VERSION, type MethodResult, type ScenarioResult, type TrajectoryPoint } from './results-schema.ts';
import { lockRunDir, readJson, writeJsonAtomic } from './run-dir.ts';
import { writeFileAtomicSync } from '../atomic-file.ts';

export interface RunOptions {
  config: RunConfig;
  outDir: string;
  preset: string | null;
  /** where fine-tuned models are cached across runs */
  cacheDir: string;
  loadData: (config: RunConfig) => Promise<ProtocolData>;
  progress?: ProgressFactory;
  log?: (line: string) => void;
  /** the table config.scenarios names its scenarios from (default: the protocol's) */
  scenarios?: readonly Scenario[];
  /** plug-ins whose methods are registered (loadPlugins): recorded, and part of the run's identity */
  plugins?: readonly PluginRecord[];
}

interface Phase { name: string; seconds: number }

/** A request's state delta as written to the run folder: its size, against what it holds. */
export interface CheckpointRecord { file: string; bytes: number; parameters: number }

export interface RunOutcome {
  resultsPath: string;
  results: Results;
  phases: Phase[];
  /** the run folder held a finished run: nothing was run and no file was touched */
  alreadyFinished: boolean;
  checkpoints: CheckpointRecord[];
  /** seconds spent scoring models (every evaluation point), a part of the phases' time */
  scoringSeconds: number;
  /** seconds spent in each attack (config `attacks`), a part of the phases' time */
  attackSeconds: Record<string, number>;
}

/**
 * A run folder's identity: its configuration (locations in their portable spelling: the same run wherever pulse and
 * its cache are) and the exact plug-in files whose methods it runs.
 */
export function configHash(config: RunConfig, plugins: readonly PluginRecord[] = []): string {
  const identity = portableConfig(config);
  return plugins.length === 0 ? shortJsonHash(identity) : shortJsonHash({ config: identity, plugins: plugins.map((p) => p.sha256) });
}

/** Everything one invocation works with, once the inputs are loaded and the run folder is taken. */
interface Session {
  config: RunConfig;
  outDir: string;
  model: PulseModel;
  data: ProtocolData;
  scoring: ScoringMode;
  context: ScenarioContext;
  fineTune: FineTune | null;
  results: Results;
  general: SetQuestion[];
  phases: Phase[];
  checkpoints: CheckpointRecord[];
  /** fine-tunes and retain oracles are cached here across runs */
  cacheDir: string;
  /** time spent in evaluatePoint and in attacks, for the benchmark's breakdown */
  scoringTime: { seconds: number };
  attackTime: Record<string, number>;
  /** per-question records, one Parquet part per evaluation batch, merged into samples.parquet at the end */
  samplesDir: string;
  progress: ProgressFactory;
  log: (line: string) => void;
  save(): void;
  timed<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
}

/**
 * Runs the protocol into outDir: for each scenario, method (and update target) and request, in
 * that order. Every input is loaded and checked before the run folder is created. Every finished
 * request is written before the next starts (its state delta first, then results.json, both
 * atomic), and each request runs with its own derived seed, so running the same command again
 * after an interruption continues where it stopped and ends with the same numbers. A finished
 * run is left as it is.
 */
export async function runProtocol(options: RunOptions): Promise<RunOutcome> {
  const { config } = options;
  const table = options.scenarios ?? SCENARIOS;
  const scenarios = config.scenarios.map((name) => {
    const scenario = table.find((s) => s.name === name);
    if (!scenario) throw new PulseError(`unknown scenario '${name}' (scenarios: ${table.map((s) => s.name).join(', ')})`);
    return scenario;
  });
  const outDir = resolve(options.outDir);
  const resultsPath = join(outDir, 'results.json');
  const hash = configHash(config, options.plugins);
  const existing = readExistingRun(outDir, hash);
  if (existing?.run.finished_at) return { resultsPath, results: existing, phases: [], alreadyFinished: true, checkpoints: [], scoringSeconds: 0, attackSeconds: {} };

  const phases: Phase[] = [];
  const timed = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try { return await fn(); } finally { phases.push({ name, seconds: (performance.now() - t0) / 1000 }); }
  };
  setNumThreads(config.threads ?? defaultThreads());
  const model = await timed('load base model', () => loadModel(config.model));
  try {
    const data = await timed('load world', () => options.loadData(config));
    assertSameWorld(model.info, data.world);
    if (existing && existing.run.model.sha256 !== model.info.sha256) {
      const other = existing.run.model.sha256.slice(0, 12);
      throw new PulseError(`${outDir} was run with another base model (sha256 ${other}), not ${model.info.path}`);
    }
    const unlock = lockRunDir(outDir);
    try {
      const scoring = config.scoring === 'model' ? model.info.defaultScoring : config.scoring;
      const results = existing ?? newResults(options, outDir, model, scoring);
      if (!existing) {
        const runInfo = { config_hash: hash, created_at: results.run.created_at, pulse_version: PULSE_VERSION };
        writeJsonAtomic(join(outDir, 'run.json'), runInfo);
        writeFileAtomicSync(join(outDir, 'config.yaml'), toYaml(config));
      } else {
        options.log?.(`resuming the run in ${outDir}`);
      }
      const session = await openSession(options, { outDir, model, data, scoring, results, phases, timed }, scenarios);
      try {
        for (const seed of seedList(config)) for (const scenario of scenarios) await runScenario(session, scenario, seed);
      } finally {
        if (session.fineTune) disposeDelta(session.fineTune.delta);
      }
      await timed('summary', () => finishRun(session));
      writeFileSync(join(outDir, 'phases.json'), `${JSON.stringify(phases, null, 2)}\n`);
      const { checkpoints, scoringTime, attackTime } = session;
      return { resultsPath, results, phases, alreadyFinished: false, checkpoints, scoringSeconds: scoringTime.seconds, attackSeconds: attackTime };
    } finally {
      unlock();
    }
  } finally {
    model.dispose();
  }
}

/** The results of the run in outDir, if there is one; a run of another configuration or a corrupted file is refused. */
function readExistingRun(outDir: string, hash: string): Results | null {
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new PulseError(`${outDir} is a file, not a run folder`);
  const runInfoPath = join(outDir, 'run.json');
  if (!existsSync(runInfoPath)) return null;
  const info = readJson(runInfoPath) as { config_hash?: string };
  if (info.config_hash !== hash) {
    throw new PulseError(`run folder ${outDir} holds a run with a different configuration (hash ${info.config_hash}, now ${hash}); `
      + 'use another --out, or delete the folder to start over');
  }
  const resultsPath = join(outDir, 'results.json');
  if (!existsSync(resultsPath)) return null;
  const parsed = Results.safeParse(readJson(resultsPath));
  if (!parsed.success) {
    throw new PulseError(`${resultsPath} does not match the results schema (${describeZodError(parsed.error)}); delete the run folder to start over`);
  }
  return parsed.data;
}

function newResults(options: RunOptions, outDir: string, model: PulseModel, scoring: ScoringMode): Results {
  const { config } = options;
  const { kind, name, path, sha256 } = model.info;
  return {
    schema: 'pulse.results',
    version: RESULTS_SCHEMA_VERSION,
    run: {
      id: basename(outDir), created_at: new Date().toISOString(), finished_at: null, pulse_version: PULSE_VERSION, preset: options.preset,
      scoring, model: { kind, name, path, sha256 }, seeds: { master: config.seed, world: config.world.seed }, seed_list: seedList(config),
      config: config as unknown as Record<string, unknown>,
      ...(options.plugins?.length ? { plugins: [...options.plugins] } : {}),
    },
    scenarios: [],
    summary: null,
  };
}

type Loaded = Pick<Session, 'outDir' | 'model' | 'data' | 'scoring' | 'results' | 'phases' | 'timed'>;

/** The fine-tune (cached) when a scenario starts from it, and the general-benchmark subset. */
async function openSession(options: RunOptions, loaded: Loaded, scenarios: readonly Scenario[]): Promise<Session> {
  const { config } = options;
  const log = options.log ?? (() => {});
  const progress = options.progress ?? silentProgress;
  const { data, model } = loaded;
  const fineTune = scenarios.some((s) => s.start === 'fine_tuned')
    ? await loaded.timed('fine-tune (or cache)', () => ensureFineTuned(model, data, config, options.cacheDir, progress))
    : null;
  if (fineTune) log(fineTune.built ? `fine-tuned model built in ${fineTune.seconds.toFixed(1)} s: ${fineTune.path}` : `fine-tuned model from cache: ${fineTune.path}`);
  // The general benchmark subset scored after every request: a seeded choice every seed shares.
  const positions = data.general.map((_, i) => i);
  const items = config.eval.general_items;
  const chosen = items === null || items >= positions.length ? positions : shuffled(positions, rng(deriveSeed(config.seed, 'general subset'))).slice(0, items);
  const general = generalQuestions(data.general, chosen);
  const context: ScenarioContext = { config, data, fineTunedPeople: fineTunePeople(data, config), scoring: loaded.scoring };
  const save = () => writeJsonAtomic(join(loaded.outDir, 'results.json'), loaded.results);
  const samplesDir = join(loaded.outDir, 'samples');
  const timers = { scoringTime: { seconds: 0 }, attackTime: {} as Record<string, number> };
  return { ...loaded, config, context, fineTune, general, checkpoints: [], cacheDir: options.cacheDir, ...timers, samplesDir, progress, log, save };
}

/** Puts the model in the state every method of a scenario starts from. */
async function startState(session: Session, scenario: Scenario): Promise<void> {
  await session.model.reset();
  if (scenario.start === 'fine_tuned') session.model.applyDelta(session.fineTune!.delta);
}

/** The record of a scenario in one seed, once it has begun. */
function scenarioRecord(session: Session, name: string, seed: number): ScenarioResult | undefined {
  return session.results.scenarios.find((s) => s.scenario === name && s.seed === seed);
}

async function runScenario(session: Session, scenario: Scenario, seed: number): Promise<void> {
  const pool = scenario.people.people(session.context);
  const record = scenarioRecord(session, scenario.name, seed) ?? await beginScenario(session, scenario, pool, seed);
  if (record.status === 'skipped') return;
  const sets = evalSets(session, pool, record.splits, scenario);
  const people = { unlearn: byId(pool, record.splits.unlearn, scenario.name), retain: byId(pool, record.splits.retain, scenario.name) };
  const retainExamples = people.retain.flatMap((p) => p.training);
  const data: ScenarioData = { pool, sets, retainExamples, people: { ...people, unseen: unseenPeople(session, people.unlearn.length, seed) } };
  for (const entry of record.methods) {
    if (entry.status === 'pending') await runMethod(session, scenario, record, entry, data);
  }
  record.status = record.methods.every((e: MethodResult) => e.status === 'complete') ? 'complete' : 'partial';
  session.save();
}

function evalSets(session: Session, pool: readonly PersonRecord[], splits: { unlearn: string[]; retain: string[] }, scenario: Scenario): EvalSets {
  return {
    unlearn: personQuestions(byId(pool, splits.unlearn, scenario.name)),
    retain: personQuestions(byId(pool, splits.retain, scenario.name)),
    general: session.general,
  };
}

/** Scores the model on the sets: the accuracies, and the per-question records for samples.parquet. */
async function evaluatePoint(session: Session, sets: EvalSets, point: EvaluationPoint): Promise<{ evaluation: Evaluation; rows: SampleRow[] }> {
  const t0 = performance.now();
  const evaluation = await evaluateSets(session.model, sets, session.scoring, session.config.eval.batch_size);
  session.scoringTime.seconds += (performance.now() - t0) / 1000;
  return { evaluation, rows: sampleRows(point, evaluation.outcomes) };
}

const partName = (seed: number, key: string) => `s${seed}--${key}`;

/**
 * Selection (when the scenario has a rule; every seed shares it), the seed's split, the start
 * model's scores and the retain oracle's: the scenario's record for that seed.
 */
async function beginScenario(session: Session, scenario: Scenario, pool: PersonRecord[], seed: number): Promise<ScenarioResult> {
  const { config, model, log } = session;
  await startState(session, scenario);
  const sizes = scenario.sizes(config);
  const head = { scenario: scenario.name, seed, title: scenario.title, update_target: config.update_target, oracle: null };
  let ids = pool.map((p) => p.id);
  let selection: ScenarioResult['selection'];
  if (scenario.selection) {
    selection = session.results.scenarios.find((s) => s.scenario === scenario.name && s.selection)?.selection;
    if (!selection) {
      log(`${scenario.name}: ${scenario.selection.description}, over ${pool.length} candidates`);
      selection = await session.timed(`${scenario.name}: selection`, () => scenario.selection!.select(model, pool, session.context));
    }
    const needed = sizes.unlearn + sizes.retain;
    if (selection.kept.length < needed) {
      const note = `behaviour-based selection kept ${selection.kept.length} people at a ${selection.threshold}% threshold; ${needed} are needed`;
      const skipped: ScenarioResult = {
        ...head, status: 'skipped', note, splits: { unlearn: [], retain: [], requests: [] }, selection, before: null, before_by_request: [], methods: [],
      };
      session.results.scenarios.push(skipped);
      session.save();
      log(`${scenario.name} skipped: ${note}`);
      return skipped;
    }
    ids = selection.kept.map((k) => k.id);
  }
  const splits = splitPeople(ids, sizes, seed, scenario.splitLabel);
  const sets = evalSets(session, pool, splits, scenario);
  log(`${scenario.name}${seedTag(session, seed)}: scoring the starting model (${sets.unlearn.length + sets.retain.length + sets.general.length} questions)`);
  const start = { seed, scenario: scenario.name, method: 'start', target: '', request: 0, step: 0 };
  const before = await session.timed(`${scenario.name}: evaluate before`, () => evaluatePoint(session, sets, start));
  await writeSamplePart(session.samplesDir, partName(seed, `${scenario.name}--before`), before.rows);
  const oracle = scenario.start === 'fine_tuned' && config.eval.oracle ? await scoreOracle(session, scenario, sets, splits, seed) : null;
  const methods = methodEntries(config, scenario).map(({ method, target }): MethodResult => ({
    method, update_target: target, status: 'pending', hyperparameters: hyperparameterRecord(settingsFor(config, scenario.name, method, target, 0)), requests: [],
  }));
  const record: ScenarioResult = {
    ...head, status: 'partial', splits, ...(selection ? { selection } : {}), before: before.evaluation.scores,
    before_by_request: accuracyByRequest(before.evaluation.outcomes, splits.requests), oracle: oracle?.scores ?? null,
    ...(oracle?.mia ? { oracle_mia: oracle.mia } : {}), methods,
  };
  const note = skippedNote(config, scenario);
  if (note) record.note = note;
  session.results.scenarios.push(record);
  session.save();
  return record;
}

/**
 * The retain oracle: the base model fine-tuned with the fine-tune's recipe on D_retain's people
 * only, so it never saw D_unlearn. Cached like the fine-tune; scenarios with the same split share it.
 */
async function scoreOracle(session: Session, scenario: Scenario, sets: EvalSets, splits: { unlearn: string[]; retain: string[] }, seed: number)
  : Promise<{ scores: SetScores; mia: ByModality | null }> {
  const { model, config } = session;
  const retain = splits.retain;
  const label = `${scenario.name} seed ${seed}: retain oracle`;
  const oracle = await session.timed(`${scenario.name}: retain oracle`,
    () => ensureFineTuned(model, session.data, config, session.cacheDir, session.progress, retain, label));
  if (oracle.built) session.log(`retain oracle built in ${oracle.seconds.toFixed(1)} s: ${oracle.path}`);
  try {
    await model.reset();
    model.applyDelta(oracle.delta);
    const point = { seed, scenario: scenario.name, method: 'oracle', target: '', request: 0, step: 0 };
    const scored = await evaluatePoint(session, sets, point);
    await writeSamplePart(session.samplesDir, partName(seed, `${scenario.name}--oracle`), scored.rows);
    return { scores: scored.evaluation.scores, mia: await oracleMembership(session, scenario, splits, seed) };
  } finally {
    disposeDelta(oracle.delta);
    await startState(session, scenario);
  }
}

/**
 * Membership inference on the retain oracle (loaded), when the run has the mia attack: the AUC of a
 * model that never saw D_unlearn, which privacy leakage is measured against.
 */
async function oracleMembership(session: Session, scenario: Scenario, splits: { unlearn: string[]; retain: string[] }, seed: number): Promise<ByModality | null> {
  if (!attacksNamed(session.config.attacks).some((a) => a.name === membershipAttack.name)) return null;
  const pool = scenario.people.people(session.context);
  const unlearn = byId(pool, splits.unlearn, scenario.name);
  const context = attackContext(session, { unlearn, retain: byId(pool, splits.retain, scenario.name), unseen: unseenPeople(session, unlearn.length, seed) },
    [], { splitSeed: seed, seed, oracleMia: null }, { current: new Map(), startPeople: [], notePeople: () => {} });
  return (await membershipAttack.run(context)).auc_unlearn ?? null;
}

interface ScenarioData {
  pool: PersonRecord[];
  sets: EvalSets;
  retainExamples: PersonRecord['training'];
  people: { unlearn: PersonRecord[]; retain: PersonRecord[]; unseen: PersonRecord[] };
}

/** As many fictitious people as D_unlearn has that the fine-tune never saw (seeded): membership inference's non-members. */
function unseenPeople(session: Session, count: number, seed: number): PersonRecord[] {
  const taught = new Set(session.context.fineTunedPeople);
  const candidates = session.data.fictitious.filter((p) => !taught.has(p.id)).sort((a, b) => (a.id < b.id ? -1 : 1));
  return shuffled(candidates, rng(deriveSeed(seed, 'unseen people'))).slice(0, count);
}

const seedTag = (session: Session, seed: number) => (seedList(session.config).length > 1 ? ` seed ${seed}` : '');

/**
 * The requests of one method on one scenario still to run. The model starts from the scenario's
 * start state plus the saved deltas of the requests already done.
 */
async function runMethod(session: Session, scenario: Scenario, record: ScenarioResult, entry: MethodResult, data: ScenarioData): Promise<void> {
  const { model, log } = session;
  const key = `${scenario.name}--${entry.method}--${entry.update_target.replace(/\+/g, '-')}`;
  const checkpoint = (k: number) => join(session.outDir, 'checkpoints', `${partName(record.seed, key)}--r${k}.safetensors`);
  const requests = record.splits.requests;
  const label = `${scenario.name}${seedTag(session, record.seed)} ${entry.method}${entry.update_target === record.update_target ? '' : ` [${entry.update_target}]`}`;
  try {
    // A run stopped after a method's last request was saved, but before it was marked complete, has nothing
    // left to run (and no delta of that last request: it is never saved).
    if (entry.requests.length < requests.length) await startState(session, scenario);
    for (let k = 1; k <= entry.requests.length && entry.requests.length < requests.length; k++) {
      const delta = await model.loadDelta(checkpoint(k));
      model.applyDelta(delta);
      disposeDelta(delta);
    }
    for (let k = entry.requests.length + 1; k <= requests.length; k++) {
      const t0 = performance.now();
      const earlier = Array.from({ length: k - 1 }, (_, j) => checkpoint(j + 1));
      const result = await runRequest(session, scenario, record, entry, data, { key, k, label: `${label} ${k}/${requests.length}`, checkpoint: checkpoint(k), earlier });
      const seconds = (performance.now() - t0) / 1000;
      entry.requests.push({ ...result, seconds });
      session.save();
      const f = (v: number | null) => (v === null ? '—' : v.toFixed(1));
      const change = (set: keyof EvalSets) => `${f(record.before![set].overall)} -> ${f(result.after[set].overall)}`;
      log(`${scenario.name}${seedTag(session, record.seed)} ${entry.method} [${entry.update_target}] request ${k}/${requests.length}: `
        + `D_unlearn ${change('unlearn')}, D_retain ${change('retain')}, general ${change('general')}${result.stopped_early ? ` (stopped at step ${result.steps})` : ''}`);
      session.phases.push({ name: `${scenario.name}: ${entry.method} [${entry.update_target}] request ${k}`, seconds });
    }
    entry.status = 'complete';
  } catch (error) {
    if (!(error instanceof DivergenceError)) throw error;
    entry.status = 'failed';
    entry.error = error.message;
    log(`${label}: failed: ${error.message}`);
  }
  for (let k = 1; k < requests.length; k++) rmSync(checkpoint(k), { force: true });
  session.save();
}

type RequestRecord = Omit<MethodResult['requests'][number], 'seconds'>;

/**
 * One request: unlearning with its scoring points (eval.every), the scores at its end, its
 * per-question records (written before the results that count them) and, unless it is the last,
 * its delta for a resumed run.
 */
async function runRequest(session: Session, scenario: Scenario, record: ScenarioResult, entry: MethodResult, data: ScenarioData,
  at: { key: string; k: number; label: string; checkpoint: string; earlier: string[] }): Promise<RequestRecord> {
  const { config, model } = session;
  const ids = record.splits.requests[at.k - 1]!;
  const forget = byId(data.pool, ids, scenario.name).flatMap((p) => p.training);
  const settings = settingsFor(config, scenario.name, entry.method, entry.update_target, deriveSeed(record.seed, at.key, at.k));
  const point = (step: number): EvaluationPoint => ({ seed: record.seed, scenario: scenario.name, method: entry.method, target: entry.update_target, request: at.k, step });
  const rows: SampleRow[][] = [];
  const trajectory: TrajectoryPoint[] = [];
  const stopAt = stopLevel(config, scenario.name, entry.method);
  const probe: Probe | undefined = config.eval.every === 'request' ? undefined : {
    every: config.eval.every,
    score: async (step) => {
      const scored = await evaluatePoint(session, data.sets, point(step));
      rows.push(scored.rows);
      const relative = relativeScores(record.before!, scored.evaluation.scores);
      trajectory.push({ step, after: scored.evaluation.scores, relative, by_request: accuracyByRequest(scored.evaluation.outcomes, record.splits.requests) });
      return stopAt !== null && (relative.forgotten_unlearn.overall ?? -Infinity) >= stopAt;
    },
  };
  // refusals: the data's "I don't know" answers, for the methods that train toward them (IdkNLL, IdkDPO)
  const outcome = await unlearnRequest(model, getMethod(entry.method), forget, data.retainExamples, { ...settings, refusals: session.data.refusals },
    session.progress, at.label, probe, () => readDeltas(model, at.earlier));
  try {
    // A request that stopped ends at the point that stopped it: scored again below, once its update is merged.
    if (outcome.stoppedEarly) { trajectory.pop(); rows.pop(); }
    const scored = await evaluatePoint(session, data.sets, point(outcome.steps));
    rows.push(scored.rows);
    const seeds = { splitSeed: record.seed, seed: deriveSeed(record.seed, at.key, at.k, 'attacks'), oracleMia: record.oracle_mia ?? null };
    const attacks = await runAttacks(session, data, settings.target, seeds, { current: byPerson(scored.evaluation.outcomes), start: () => startPeople(session, record) });
    await writeSamplePart(session.samplesDir, partName(record.seed, `${at.key}--r${at.k}`), rows.flat());
    if (at.k < record.splits.requests.length) await saveCheckpoint(session, at.checkpoint, outcome.delta);
    const after = scored.evaluation.scores;
    return {
      request: at.k, people: ids, after, relative: relativeScores(record.before!, after),
      by_request: accuracyByRequest(scored.evaluation.outcomes, record.splits.requests),
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

type AttackSeeds = Pick<AttackContext, 'splitSeed' | 'seed' | 'oracleMia'>;
type AttackExtras = Pick<AttackContext, 'current' | 'startPeople' | 'notePeople'>;

function attackContext(session: Session, people: ScenarioData['people'], target: Part[], seeds: AttackSeeds, extras: AttackExtras): AttackContext {
  const { config } = session;
  return {
    model: session.model, target, scoring: session.scoring, batchSize: config.eval.batch_size, ...people,
    relearn: config.attack_settings.relearn, openEnded: config.attack_settings.open_ended, ...seeds, ...extras, progress: session.progress,
  };
}

interface AttackOutput { scores: Record<string, AttackScores>; people: Record<string, Record<string, string[]>> }

/** The configured attacks on the model as the request left it; they leave it as they found it. */
async function runAttacks(session: Session, data: ScenarioData, target: Part[], seeds: AttackSeeds,
  { current, start }: { current: AttackContext['current']; start: () => Promise<PersonScore[]> }): Promise<AttackOutput | null> {
  if (session.config.attacks.length === 0) return null;
  const out: AttackOutput = { scores: {}, people: {} };
  const startScores = await start();
  for (const attack of attacksNamed(session.config.attacks)) {
    const t0 = performance.now();
    const notePeople = (list: string, ids: readonly string[]) => { (out.people[attack.name] ??= {})[list] = [...ids]; };
    out.scores[attack.name] = await attack.run(attackContext(session, data.people, target, seeds, { current, startPeople: startScores, notePeople }));
    session.attackTime[attack.name] = (session.attackTime[attack.name] ?? 0) + (performance.now() - t0) / 1000;
  }
  return out;
}

/** The outcomes of the people's questions (D_unlearn and D_retain) by person: what attacks read instead of scoring again. */
function byPerson(outcomes: readonly QuestionOutcome[]): Map<string, CurrentOutcome[]> {
  const out = new Map<string, CurrentOutcome[]>();
  for (const o of outcomes) {
    if (o.set === 'general' || o.question.person === null) continue;
    const own = out.get(o.question.person) ?? [];
    own.push({ modality: o.question.modality, correct: o.correct });
    out.set(o.question.person, own);
  }
  return out;
}

/**
 * The start model's accuracy on each of D_unlearn's people, from the scenario's `before` sample part
 * (on disk until the run finishes, so a resumed run reads it too).
 */
async function startPeople(session: Session, record: ScenarioResult): Promise<PersonScore[]> {
  const rows = await readSamples(join(session.samplesDir, `${partName(record.seed, `${record.scenario}--before`)}.parquet`));
  return personAccuracy(rows.filter((r) => r.set === 'unlearn'));
}

/** unlearn.stop_at_forgotten from the most specific layer that sets it (as settingsFor reads every key). */
function stopLevel(config: RunConfig, scenario: string, method: string): number | null {
  return pickSetting(config, scenario, method, 'stop_at_forgotten');
}

/** samples.parquet from the parts, then the summary across seeds; the run counts as finished only after both. */
async function finishRun(session: Session): Promise<void> {
  const samplesPath = join(session.outDir, 'samples.parquet');
  await mergeSampleParts(session.samplesDir, samplesPath);
  session.results.summary = summarise(session.results, await readSamples(samplesPath), {
    resamples: session.config.eval.bootstrap, seed: session.config.seed,
  });
  session.results.run.finished_at = new Date().toISOString();
  await writeResultsCsv(session.outDir, session.results);
  session.save();
  rmSync(session.samplesDir, { recursive: true, force: true });
}

async function saveCheckpoint(session: Session, path: string, delta: StateDelta): Promise<void> {
  mkdirSync(join(session.outDir, 'checkpoints'), { recursive: true });
  await session.model.saveDelta(path, delta);
  const parameters = delta.entries.reduce((n, e) => n + (e.kind === 'lora' ? e.a.numel + e.b.numel : e.value.numel), 0);
  session.checkpoints.push({ file: basename(path), bytes: statSync(path).size, parameters });
}

/** The (method, update target) pairs a scenario runs: every method on the main target, plus the ablation where the scenario has it. */
function methodEntries(config: RunConfig, scenario: Scenario): { method: string; target: string }[] {
  const main = config.methods.map((method) => ({ method, target: config.update_target }));
  const all = !scenario.ablation || !config.ablation ? main
    : [...main, ...config.ablation.targets.filter((t) => t !== config.update_target).map((target) => ({ method: config.ablation!.method, target }))];
  return all.filter((e) => !needsAbsentLora(config, scenario.name, e.method));
}

/** The scenario's note on the methods it cannot run: those that need LoRA where it updates in full. */
function skippedNote(config: RunConfig, scenario: Scenario): string | undefined {
  const skipped = [...new Set(config.methods.filter((m) => needsAbsentLora(config, scenario.name, m)))];
  return skipped.length ? `${skipped.join(', ')} not run here: it trains LoRA adapters and this scenario updates in full (lora: null)` : undefined;
}

/**
 * A request's settings, each key from the most specific layer that sets it:
 * scenario_settings.<scenario>, then method_settings.<method>, then unlearn. The method's
 * hyperparameters over its defaults. `lora: null` in a layer means a full update.
 */
export function settingsFor(config: RunConfig, scenario: string, method: string, target: string, seed: number): UnlearnSettings {
  const own = config.method_settings[method] ?? { hyperparameters: {} };
  const pick = <K extends keyof RunConfig['unlearn']>(key: K) => pickSetting(config, scenario, method, key);
  const lora = pick('lora');
  return {
    lr: pick('lr'),
    epochs: pick('epochs'),
    batchSize: pick('batch_size'),
    clipNorm: pick('clip_norm'),
    lora: lora ? { rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, layers: lora.layers } : null,
    target: parseTarget(target),
    hyperparameters: { ...getMethod(method).defaults, ...(own.hyperparameters ?? {}) },
    seed,
  };
}

/** One unlearning setting from the most specific layer that sets it: scenario_settings, method_settings, unlearn. */
function pickSetting<K extends keyof RunConfig['unlearn']>(config: RunConfig, scenario: string, method: string, key: K): RunConfig['unlearn'][K] {
  const layers = [config.scenario_settings[scenario] ?? {}, config.method_settings[method] ?? {}, config.unlearn];
  return layers.find((l) => l[key] !== undefined)![key] as RunConfig['unlearn'][K];
}

function hyperparameterRecord(s: UnlearnSettings): Record<string, number | string | boolean> {
  const lora = s.lora ? `r${s.lora.rank}/a${s.lora.alpha}` : 'full';
  return { lr: s.lr, epochs: s.epochs, batch_size: s.batchSize, clip_norm: s.clipNorm, lora, ...s.hyperparameters };
}

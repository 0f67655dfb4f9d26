import { resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { setNumThreads, defaultThreads } from '../torch/index.ts';
import { loadModel } from '../model/registry.ts';
import { assertSameWorld, type PulseModel, type ScoringMode } from '../model/model.ts';
import type { ProtocolData } from '../data/records.ts';
import { shortJsonHash } from '../hash.ts';
import type { PluginRecord } from '../unlearn/plugins.ts';
import { PulseError } from '../errors.ts';
import { silentProgress, type ProgressFactory } from '../progress.ts';
import { PULSE_VERSION } from '../version.ts';
import { tryClaim, waitClaim, withClaim } from '../claim/claim.ts';
import { DEFAULT_LIVENESS, type Liveness } from '../claim/holder.ts';
import { portableConfig, type RunConfig } from './config.ts';
import type { Scenario } from './scenarios.ts';
import type { Results } from './results-schema.ts';
import { planRun, type Plan } from './plan.ts';
import { closeSession, openSession, type CheckpointRecord, type Phase, type Session } from './session.ts';
import { clearErrors, workSteps, writeJournal, type WorkOptions } from './worker.ts';
import { finishRun, rebuildDerived, staleDerived } from './finish.ts';
import { loadDataOnce } from './inputs.ts';
import { existingRun, readResults, readRunInfo, runFiles, writeJsonAtomic, type RunInfo } from './run-dir.ts';
import { writeFileAtomicSync } from '../atomic-file.ts';
import { validateRun } from './validate.ts';

export { settingsFor } from './settings.ts';
export type { CheckpointRecord } from './session.ts';

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
  /** the finish writes the report (report.md, report.html, charts/); the CLI does unless --no-report */
  report?: boolean;
  /** how often claims are touched and when an untouched one is taken over */
  liveness?: Liveness;
  /** how often a process waiting for another one's steps looks again (ms) */
  pollMs?: number;
}

export interface RunOutcome {
  resultsPath: string;
  results: Results;
  phases: Phase[];
  /** the run folder held a finished run: nothing was run (derived files that were missing or stale were rebuilt: `rebuilt`) */
  alreadyFinished: boolean;
  /** files of a finished run rebuilt because they were missing or older than results.json */
  rebuilt: string[];
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

/** A run whose folder is taken and whose inputs are loaded and checked, ready for its steps. */
export interface BegunRun {
  outDir: string;
  plan: Plan;
  info: RunInfo;
  /** null when the inputs were not loaded (a Slurm submission: the jobs load them) */
  inputs: { model: PulseModel; data: ProtocolData; scoring: ScoringMode } | null;
  phases: Phase[];
  timed: <T>(name: string, fn: () => Promise<T> | T) => Promise<T>;
}

/**
 * What every executor does first: plans the run, checks the folder (a finished run only gets its
 * missing or stale derived files rebuilt: the outcome is returned), loads and checks the inputs
 * (unless `load` is false), and then creates the folder or checks that it holds this run, and
 * clears the failures of earlier attempts. The caller disposes inputs.model.
 */
export async function beginRun(options: RunOptions, load = true): Promise<BegunRun | RunOutcome> {
  const { config } = options;
  const log = options.log ?? (() => {});
  const plan = planRun(config, options.scenarios);
  const outDir = resolve(options.outDir);
  const files = runFiles(outDir);
  const existing = existingRun(outDir, configHash(config, options.plugins));
  if (existing?.results?.run.finished_at) {
    const rebuilt = await finishedAgain(outDir, plan, existing.results, options.report ?? false, log);
    const nothing = { phases: [], checkpoints: [], scoringSeconds: 0, attackSeconds: {} };
    return { resultsPath: files.results, results: existing.results, alreadyFinished: true, rebuilt, ...nothing };
  }
  const phases: Phase[] = [];
  const timed = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try { return await fn(); } finally { phases.push({ name, seconds: (performance.now() - t0) / 1000 }); }
  };
  const liveness = options.liveness ?? DEFAULT_LIVENESS;
  let inputs: BegunRun['inputs'] = null;
  if (load) {
    setNumThreads(config.threads ?? defaultThreads());
    const model = await timed('load base model', () => loadModel(config.model));
    try {
      const data = await timed('load world', () => loadDataOnce(config, options.loadData, options.cacheDir, { label: 'pulse run', liveness }, log));
      assertSameWorld(model.info, data.world);
      validateRun({ config, outDir, model, data, ...(options.scenarios ? { scenarios: options.scenarios } : {}) });
      inputs = { model, data, scoring: config.scoring === 'model' ? model.info.defaultScoring : config.scoring };
    } catch (error) {
      model.dispose();
      throw error;
    }
  }
  try {
    const info = await openRun(outDir, { ...options, liveness }, inputs?.model ?? null, inputs?.scoring ?? null);
    if (existing) log(`resuming the run in ${outDir}`);
    clearErrors(outDir, plan);
    return { outDir, plan, info, inputs, phases, timed };
  } catch (error) {
    inputs?.model.dispose();
    throw error;
  }
}

/**
 * Runs the protocol into outDir in this process: the plan's steps in order (planRun), then the
 * finish. Every input is loaded and checked before the run folder is created. Every step writes
 * only its own files, atomically, and draws its random numbers from its own key, so running the
 * same command again after an interruption continues where it stopped and ends with the same
 * numbers, and other processes (`pulse worker`) may run steps of the same folder meanwhile. A
 * finished run is left as it is, but for derived files that are missing or older than results.json,
 * which are rebuilt.
 */
export async function runProtocol(options: RunOptions): Promise<RunOutcome> {
  const begun = await beginRun(options);
  if (!('plan' in begun)) return begun;
  const { outDir, plan, info, phases, timed } = begun;
  const { model, data, scoring } = begun.inputs!;
  const { config } = options;
  const log = options.log ?? (() => {});
  try {
    const worker = { label: 'pulse run', device: deviceOf(config), liveness: options.liveness ?? DEFAULT_LIVENESS };
    const progress = options.progress ?? silentProgress;
    const session = openSession({ config, outDir, model, data, scoring, cacheDir: options.cacheDir, worker, progress, log, phases });
    try {
      await runSteps(session, plan, { stay: true, stopOnError: true, pollMs: options.pollMs ?? 1000 });
    } finally {
      closeSession(session);
    }
    const finish = { report: options.report ?? false, log, wait: true, label: worker.label };
    const results = await timed('summary', () => finishOnce(outDir, plan, config, info, finish));
    writeFileAtomicSync(runFiles(outDir).phases, `${JSON.stringify(phases, null, 2)}\n`);
    const { checkpoints, scoringSeconds, attackSeconds } = session;
    return { resultsPath: runFiles(outDir).results, results: results!, phases, alreadyFinished: false, rebuilt: [], checkpoints, scoringSeconds, attackSeconds };
  } finally {
    model.dispose();
  }
}

/** The device a config's model runs on (a kind without the key runs on the CPU). */
export function deviceOf(config: RunConfig): string {
  return typeof config.model.device === 'string' ? config.model.device : 'cpu';
}

/** Runs the steps; a step that another process recorded as failed is an error here. */
export async function runSteps(session: Session, plan: Plan, options: WorkOptions): Promise<void> {
  const outcome = await workSteps(session, plan, options);
  writeJournal(session, outcome.timing);
  if (!outcome.complete) {
    const first = outcome.failed[0];
    throw new PulseError(`${outcome.failed.length} step(s) of the run failed${first ? `, first ${first.key}: ${first.message}` : ''}; see \`pulse status ${session.outDir}\``);
  }
}

/** A finished run again: nothing runs; derived files that are missing or older than results.json are rebuilt, and said so. */
async function finishedAgain(outDir: string, plan: Plan, results: Results, report: boolean, log: (line: string) => void): Promise<string[]> {
  const stale = staleDerived(outDir, report);
  if (stale.length === 0) return [];
  log(`this run finished at ${results.run.finished_at}; rebuilding ${stale.map((f) => f.slice(outDir.length + 1)).join(', ')} `
    + '(missing or older than results.json); no step runs again');
  await rebuildDerived(outDir, plan, results, stale, { report, log });
  return stale;
}

/**
 * Creates the run folder (run.json, config.yaml), or checks it holds this run; records the model
 * the first time a process loads it; writes launch.json (how workers find the inputs). Under the
 * run lock, so that processes started together create it once.
 */
export async function openRun(outDir: string, options: Pick<RunOptions, 'config' | 'plugins' | 'preset' | 'cacheDir' | 'report' | 'liveness'>,
  model: PulseModel | null, scoring: ScoringMode | null): Promise<RunInfo> {
  const files = runFiles(outDir);
  return withClaim(files.lock, { label: 'pulse run', ...(options.liveness ? { liveness: options.liveness } : {}) }, () => {
    let info = readRunInfo(outDir);
    const recorded = info?.model;
    if (recorded && model && recorded.sha256 !== model.info.sha256) {
      throw new PulseError(`${outDir} was run with another base model (sha256 ${recorded.sha256.slice(0, 12)}), not ${model.info.path}`);
    }
    if (!info) {
      info = {
        config_hash: configHash(options.config, options.plugins), created_at: new Date().toISOString(), pulse_version: PULSE_VERSION,
        preset: options.preset, ...(options.plugins?.length ? { plugins: [...options.plugins] } : {}),
      };
      writeFileAtomicSync(files.config, toYaml(options.config));
    }
    if (model && scoring && !recorded) {
      const { kind, name, path, sha256 } = model.info;
      info = { ...info, model: { kind, name, path, sha256 }, scoring };
    }
    if (JSON.stringify(info) !== JSON.stringify(readRunInfo(outDir))) writeJsonAtomic(files.runInfo, info);
    const liveness = options.liveness ?? DEFAULT_LIVENESS;
    const launch = { cwd: process.cwd(), cache_dir: resolve(options.cacheDir), report: options.report ?? false, stale_after_s: liveness.staleAfterSeconds };
    writeJsonAtomic(files.launch, launch);
    return info;
  });
}

/**
 * The finish, by one process: under the run lock (waiting for it, or with `wait` false leaving it
 * to the process that holds it), unless results.json is finished already. The results, or null
 * when another process is finishing.
 */
export async function finishOnce(outDir: string, plan: Plan, config: RunConfig, info: RunInfo,
  options: { report: boolean; log: (line: string) => void; wait: boolean; label: string; liveness?: Liveness }): Promise<Results | null> {
  const files = runFiles(outDir);
  const holder = { label: options.label, ...(options.liveness ? { liveness: options.liveness } : {}) };
  const claim = options.wait ? await waitClaim(files.lock, holder) : tryClaim(files.lock, holder);
  if (!claim) return null;
  try {
    const done = readResults(outDir);
    if (done?.run.finished_at) return done;
    // the model is recorded by the first process that loaded it; a run finished by workers reads it from run.json
    return await finishRun(outDir, plan, config, readRunInfo(outDir) ?? info, { report: options.report, log: options.log });
  } finally {
    claim.release();
  }
}

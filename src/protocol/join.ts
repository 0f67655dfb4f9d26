import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setNumThreads, defaultThreads } from '../torch/index.ts';
import { loadModel, parseModelSpec } from '../model/registry.ts';
import { assertSameWorld, type PulseModel, type ScoringMode } from '../model/model.ts';
import { loadPlugins } from '../unlearn/plugins.ts';
import { PulseError } from '../errors.ts';
import { withClaim } from '../claim/claim.ts';
import { DEFAULT_LIVENESS, type Liveness } from '../claim/holder.ts';
import type { ProgressFactory } from '../progress.ts';
import { readConfigFile, validateConfig, type RunConfig } from './config.ts';
import { planRun } from './plan.ts';
import { closeSession, openSession } from './session.ts';
import { workSteps, writeJournal, type WorkOutcome } from './worker.ts';
import { loadDataOnce, loadRunData } from './inputs.ts';
import { configHash, deviceOf, finishOnce } from './runner.ts';
import { readLaunch, readResults, readRunInfo, runFiles, writeJsonAtomic, type RunInfo } from './run-dir.ts';

export interface JoinOptions {
  /** "worker 2": how claims, logs and placement records name this process */
  label: string;
  /** the model's device for this process (model.device), without changing the run's configuration */
  device?: string;
  /** libtorch threads (default: the config's `threads`, else every core) */
  threads?: number;
  /** wait for steps other processes hold (taking over those whose holder is gone) and finish the run; false: leave when nothing is left to claim */
  stay: boolean;
  pollMs?: number;
  log: (line: string) => void;
  progress: ProgressFactory;
}

export interface JoinOutcome extends WorkOutcome {
  /** this process finished the run (merged results.json and what follows) */
  finished: boolean;
}

/**
 * The run's configuration as `pulse run` wrote it, with its plug-ins loaded from the recorded
 * files: both must be what the run was started with (its configuration hash).
 */
export async function runConfigOf(outDir: string, info: RunInfo): Promise<RunConfig> {
  const plugins = await loadPlugins((info.plugins ?? []).map((p) => p.path));
  const changed = plugins.find((p, i) => p.sha256 !== info.plugins![i]!.sha256);
  if (changed) throw new PulseError(`plug-in ${changed.path} has changed since the run started (sha256 ${changed.sha256.slice(0, 12)})`);
  const path = runFiles(outDir).config;
  const config = validateConfig(readConfigFile(path), path);
  if (configHash(config, plugins) !== info.config_hash) throw new PulseError(`${path} no longer matches the run's configuration hash ${info.config_hash}`);
  return config;
}

/**
 * The config's model section with another device: a worker's own, which the run's identity does not include. The
 * kinds that take a device (the Hugging Face ones: LLaVA, Qwen2-VL, Qwen2.5-VL) have `device` in their parsed section.
 */
export function modelSpecOn(config: RunConfig, device: string | undefined) {
  if (!device) return config.model;
  if (!('device' in config.model)) throw new PulseError(`device ${device}: models of kind ${config.model.kind} take no device (they run on the CPU)`);
  try {
    return parseModelSpec({ ...config.model, device });
  } catch (error) {
    throw error instanceof PulseError ? new PulseError(`device ${device}: ${error.message}`) : error;
  }
}

/**
 * A process joins a run from its folder alone (`pulse worker RUN_DIR`, local workers, Slurm array
 * tasks): it loads the run's inputs, claims and runs steps until none is left for it, and, when
 * every step is done, finishes the run unless another process does.
 */
export async function joinRun(runDir: string, options: JoinOptions): Promise<JoinOutcome> {
  const outDir = resolve(runDir);
  const info = readRunInfo(outDir);
  if (!info || !existsSync(runFiles(outDir).launch)) throw new PulseError(`${runDir} is not a run folder started by \`pulse run\``);
  const launch = readLaunch(outDir);
  // relative paths in the config (model, world) are read from where the run was started
  if (existsSync(launch.cwd)) process.chdir(launch.cwd);
  const config = await runConfigOf(outDir, info);
  const heartbeatSeconds = Math.min(DEFAULT_LIVENESS.heartbeatSeconds, launch.stale_after_s / 4);
  const liveness: Liveness = { staleAfterSeconds: launch.stale_after_s, heartbeatSeconds };
  const { log } = options;
  const plan = planRun(config);
  if (readResults(outDir)?.run.finished_at) {
    return { ran: [], failed: [], complete: true, finished: false, timing: { steps: [], step_seconds: 0, scheduling_seconds: 0, waiting_seconds: 0 } };
  }
  setNumThreads(options.threads ?? config.threads ?? defaultThreads());
  const model = await loadModel(modelSpecOn(config, options.device));
  try {
    const worker = { label: options.label, device: options.device ?? deviceOf(config), liveness };
    const data = await loadDataOnce(config, (c) => loadRunData(c, log), launch.cache_dir, worker, log);
    assertSameWorld(model.info, data.world);
    const scoring = config.scoring === 'model' ? model.info.defaultScoring : config.scoring;
    const current = await recordModel(outDir, model, scoring, worker);
    const session = openSession({ config, outDir, model, data, scoring, cacheDir: launch.cache_dir, worker, progress: options.progress, log });
    let outcome: WorkOutcome;
    try {
      outcome = await workSteps(session, plan, { stay: options.stay, stopOnError: false, pollMs: options.pollMs ?? 1000 });
      writeJournal(session, outcome.timing);
    } finally {
      closeSession(session);
    }
    if (!outcome.complete) return { ...outcome, finished: false };
    const results = await finishOnce(outDir, plan, config, current, { report: launch.report, log, wait: false, label: worker.label, liveness });
    return { ...outcome, finished: results !== null };
  } finally {
    model.dispose();
  }
}

/** Records the model in run.json if no process has yet (a Slurm submission loads none); refuses another model. */
async function recordModel(outDir: string, model: PulseModel, scoring: ScoringMode, holder: { label: string; liveness: Liveness }): Promise<RunInfo> {
  return withClaim(runFiles(outDir).lock, holder, () => {
    const info = readRunInfo(outDir)!;
    if (info.model) {
      if (info.model.sha256 !== model.info.sha256) throw new PulseError(`${outDir} was run with another base model (sha256 ${info.model.sha256.slice(0, 12)}), not ${model.info.path}`);
      return info;
    }
    const { kind, name, path, sha256 } = model.info;
    const updated = { ...info, model: { kind, name, path, sha256 }, scoring };
    writeJsonAtomic(runFiles(outDir).runInfo, updated);
    return updated;
  });
}

import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveConfig, type PresetName, type RunConfig } from '../protocol/config.ts';
import { checkRun, checkRunFolder } from '../protocol/validate.ts';
import { runProtocol, type RunOptions, type RunOutcome } from '../protocol/runner.ts';
import type { Results } from '../protocol/results-schema.ts';
import { loadRunData } from '../protocol/inputs.ts';
import { DEFAULT_LIVENESS } from '../claim/holder.ts';
import { PulseError } from '../errors.ts';
import { silentProgress, type ProgressFactory } from '../progress.ts';
import { loadPlugins, type PluginRecord } from '../unlearn/plugins.ts';
import { cacheDir, defaultRunDir } from '../paths.ts';
import type { ReportFiles } from '../report/index.ts';

/** One update of a long step (the fine-tune, a request's epochs, a scoring pass): `done` of `total`. */
export interface ProgressEvent {
  /** the step, e.g. "fine-tune" or "ga request 1/5" */
  label: string;
  done: number;
  total: number;
  /** a short status, e.g. "loss 1.23" */
  info: string;
  /** the step's last event */
  finished: boolean;
}

export interface RunInput {
  /** the starting configuration (default: paper) */
  preset?: PresetName;
  /** a YAML config over the preset; relative paths in it are relative to the file */
  configFile?: string;
  /** config keys over the preset and the file, as a YAML config writes them; relative paths are relative to the current folder */
  config?: Record<string, unknown>;
  /** plug-in files (.ts, .mts, .js, .mjs) whose unlearning methods the config may name */
  plugins?: readonly string[];
  /** the run folder (default: ./runs/<preset>-<date>); a run there of the same config continues where it stopped */
  out?: string;
  /** write report.md, report.html and charts/ at the end (default: true) */
  report?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  /** the lines the CLI prints with [pulse] (what is loaded, cached, resumed) */
  log?: (line: string) => void;
  /** who runs the steps (default: this process, one step after another) */
  executor?: Executor;
  /** a step whose worker has not been heard from for this long is taken over by another worker (default 120) */
  staleAfterSeconds?: number;
}

/** What only the command line gives runWith: where an override came from (`--seeds`), and `--check` (validate, run nothing). */
interface CommandLine { overridesFrom?: (key: string) => string; check?: boolean }

/** Where a run's steps run: this process, N worker processes on this machine (one per device), or a Slurm job array. */
export type Executor =
  | { kind: 'local'; workers?: number; devices?: readonly string[] }
  | { kind: 'slurm'; sbatch?: string; jobs?: number; wait?: boolean };

export interface RunSummary {
  /** the run folder */
  dir: string;
  resultsPath: string;
  results: Results;
  /** the folder held a finished run: nothing was run */
  alreadyFinished: boolean;
  plugins: PluginRecord[];
  /** the report's files, when written */
  report: ReportFiles | null;
  /** wall time of this call's phases */
  seconds: number;
}

/** Progress events from the runner's bars. */
function eventProgress(onProgress: (event: ProgressEvent) => void): ProgressFactory {
  return (label, total) => ({
    update: (done, info = '') => onProgress({ label, done, total, info, finished: false }),
    finish: (info = '') => onProgress({ label, done: total, total, info, finished: true }),
  });
}

/**
 * Runs the PULSE protocol, as `pulse run` does: preset, then config file, then `config`; results.json, results.csv,
 * samples.parquet and the report in the run folder; resumable.
 */
export async function run(input: RunInput = {}): Promise<RunSummary> {
  if (input.executor?.kind === 'slurm' && !input.executor.wait) throw new PulseError('run(): a Slurm executor needs wait: true (or use `pulse run --executor slurm`)');
  return (await runWith(input, input.onProgress ? eventProgress(input.onProgress) : silentProgress))!;
}

/**
 * run() drawing progress with the given bars (the CLI's). With a Slurm executor that does not wait, the run is only
 * submitted, and with `check` only validated: the summary is null.
 */
export async function runWith(input: RunInput, progress: ProgressFactory, cli: CommandLine = {}): Promise<RunSummary | null> {
  const started = performance.now();
  const preset = input.preset ?? 'paper';
  const log = input.log ?? (() => {});
  // before the config: its method names are checked against the registry the plug-ins add to
  const plugins = await loadPlugins(input.plugins ?? []);
  const config = resolveConfig({ preset, file: input.configFile, overrides: input.config ?? {}, ...(cli.overridesFrom ? { overridesFrom: cli.overridesFrom } : {}) });
  const executor = input.executor ?? { kind: 'local' };
  checkExecutor(executor);
  const dir = input.out ? resolve(input.out) : defaultRunDir(preset);
  checkRunFolder(dir); // before the model and the data load: a bad run folder is known at once
  const loadData = (c: RunConfig) => loadRunData(c, log);
  if (cli.check) {
    await checkRun({ config, outDir: dir, loadData });
    log(`the run is valid: ${dir} can be created and the configuration fits the model and the data (no run folder was created)`);
    return null;
  }
  log(`run folder: ${dir}`);
  for (const p of plugins) log(`plug-in ${p.path} (sha256 ${p.sha256.slice(0, 12)}): ${p.methods.join(', ')}`);
  const staleAfterSeconds = input.staleAfterSeconds ?? DEFAULT_LIVENESS.staleAfterSeconds;
  const report = input.report ?? true;
  const outcome = await execute(executor, {
    config, outDir: dir, preset, cacheDir: cacheDir(), progress, log, plugins, report,
    liveness: { staleAfterSeconds, heartbeatSeconds: Math.min(DEFAULT_LIVENESS.heartbeatSeconds, staleAfterSeconds / 4) },
    loadData,
  });
  if (!outcome) return null;
  const seconds = (performance.now() - started) / 1000;
  if (outcome.alreadyFinished) {
    if (outcome.rebuilt.length === 0) log(`this run finished at ${outcome.results.run.finished_at}; nothing to do (delete the folder or use another --out to run again)`);
  } else {
    log(`finished in ${seconds.toFixed(0)} s`);
  }
  return {
    dir, resultsPath: outcome.resultsPath, results: outcome.results, alreadyFinished: outcome.alreadyFinished, plugins,
    report: report ? reportFiles(dir) : null, seconds,
  };
}

function checkExecutor(executor: Executor): void {
  if (executor.kind !== 'local') return;
  const { workers, devices } = executor;
  if (devices && workers && workers !== devices.length) throw new PulseError(`--workers ${workers} and ${devices.length} --devices: one worker runs on each device`);
}

async function execute(executor: Executor, options: RunOptions): Promise<RunOutcome | null> {
  if (executor.kind === 'slurm') {
    const { runWithSlurm } = await import('../executor/coordinate.ts');
    const { sbatchOptions } = await import('../executor/slurm.ts');
    const slurm = { sbatch: sbatchOptions(executor.sbatch), wait: Boolean(executor.wait), ...(executor.jobs ? { jobs: executor.jobs } : {}) };
    return (await runWithSlurm(options, slurm)).outcome;
  }
  if (executor.workers || executor.devices) {
    const { runWithWorkers } = await import('../executor/coordinate.ts');
    return runWithWorkers(options, { workers: executor.workers ?? executor.devices!.length, ...(executor.devices ? { devices: executor.devices } : {}) });
  }
  return runProtocol(options);
}

/** The report the finish wrote into the run folder (null when there is none, e.g. a finished run without one). */
function reportFiles(dir: string): ReportFiles | null {
  const html = join(dir, 'report.html');
  if (!existsSync(html)) return null;
  const charts = existsSync(join(dir, 'charts')) ? readdirSync(join(dir, 'charts')).sort().map((name) => join(dir, 'charts', name)) : [];
  return { markdown: join(dir, 'report.md'), html, charts };
}

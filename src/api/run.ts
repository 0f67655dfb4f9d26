import { resolve } from 'node:path';
import { resolveConfig, type PresetName } from '../protocol/config.ts';
import { runProtocol } from '../protocol/runner.ts';
import type { Results } from '../protocol/results-schema.ts';
import { loadDatasetFiles, loadProtocolData } from '../data/protocol-data.ts';
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
}

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
  return runWith(input, input.onProgress ? eventProgress(input.onProgress) : silentProgress);
}

/** run() drawing progress with the given bars (the CLI's). */
export async function runWith(input: RunInput, progress: ProgressFactory): Promise<RunSummary> {
  const preset = input.preset ?? 'paper';
  const log = input.log ?? (() => {});
  // before the config: its method names are checked against the registry the plug-ins add to
  const plugins = await loadPlugins(input.plugins ?? []);
  const config = resolveConfig({ preset, file: input.configFile, overrides: input.config ?? {} });
  const dir = input.out ? resolve(input.out) : defaultRunDir(preset);
  log(`run folder: ${dir}`);
  for (const p of plugins) log(`plug-in ${p.path} (sha256 ${p.sha256.slice(0, 12)}): ${p.methods.join(', ')}`);
  const outcome = await runProtocol({
    config, outDir: dir, preset, cacheDir: cacheDir(), progress, log, plugins,
    loadData: (c) => (c.data ? loadDatasetFiles(c.data, log) : loadProtocolData(c.world, log)),
  });
  const seconds = outcome.phases.reduce((s, p) => s + p.seconds, 0);
  let report: ReportFiles | null = null;
  if (outcome.alreadyFinished) {
    log(`this run finished at ${outcome.results.run.finished_at}; nothing to do (delete the folder or use another --out to run again)`);
  } else {
    log(`finished in ${seconds.toFixed(0)} s`);
    if (input.report ?? true) {
      const { writeReport } = await import('../report/index.ts');
      report = await writeReport(dir);
      log(`report: ${report.html}`);
    }
  }
  return { dir, resultsPath: outcome.resultsPath, results: outcome.results, alreadyFinished: outcome.alreadyFinished, plugins, report, seconds };
}

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from '../atomic-file.ts';
import { PulseError, describeZodError } from '../errors.ts';
import { Results } from './results-schema.ts';

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomicSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PulseError(`${path} is corrupted (${(e as Error).message}); delete the run folder or run with another --out`);
  }
}

const ModelRecord = z.object({ kind: z.string().optional(), name: z.string(), path: z.string(), sha256: z.string() });
export type ModelRecord = z.infer<typeof ModelRecord>;

/**
 * run.json: the run folder's identity, written once when the folder is created. `model` and
 * `scoring` are recorded by the first process that loads the model (a Slurm submission does not);
 * every later one must load the same model.
 */
export const RunInfo = z.object({
  config_hash: z.string(),
  created_at: z.string(),
  pulse_version: z.string(),
  preset: z.string().nullable().optional(),
  model: ModelRecord.optional(),
  scoring: z.enum(['letter', 'likelihood']).optional(),
  plugins: z.array(z.object({ path: z.string(), sha256: z.string(), methods: z.array(z.string()) })).optional(),
});
export type RunInfo = z.infer<typeof RunInfo>;

/**
 * launch.json: how the processes that work on the run find their inputs, rewritten by each
 * `pulse run`: the folder relative paths in the config are read from, the cache, whether the finish
 * writes the report.
 */
export const LaunchInfo = z.object({
  cwd: z.string(),
  cache_dir: z.string(),
  report: z.boolean(),
  /** seconds without a heartbeat after which a step's claim is taken over */
  stale_after_s: z.number().positive(),
});
export type LaunchInfo = z.infer<typeof LaunchInfo>;

export const runFiles = (outDir: string) => ({
  runInfo: join(outDir, 'run.json'),
  launch: join(outDir, 'launch.json'),
  config: join(outDir, 'config.yaml'),
  results: join(outDir, 'results.json'),
  samples: join(outDir, 'samples.parquet'),
  csv: join(outDir, 'results.csv'),
  phases: join(outDir, 'phases.json'),
  /** the claim that guards creating the folder and the finish */
  lock: join(outDir, 'run.lock'),
});

function parsed<T>(path: string, schema: z.ZodType<T>, what: string): T {
  const result = schema.safeParse(readJson(path));
  if (!result.success) throw new PulseError(`${path} does not match the ${what} schema (${describeZodError(result.error)}); delete the run folder to start over`);
  return result.data;
}

export function readRunInfo(outDir: string): RunInfo | null {
  const path = runFiles(outDir).runInfo;
  return existsSync(path) ? parsed(path, RunInfo, 'run.json') : null;
}

export function readLaunch(outDir: string): LaunchInfo {
  const path = runFiles(outDir).launch;
  if (!existsSync(path)) throw new PulseError(`${outDir} is not a run folder started by \`pulse run\` (no launch.json)`);
  return parsed(path, LaunchInfo, 'launch.json');
}

export function readResults(outDir: string): Results | null {
  const path = runFiles(outDir).results;
  return existsSync(path) ? parsed(path, Results, 'results') : null;
}

/**
 * The run folder's identity, if it holds a run; a run of another configuration, a file in its
 * place, or a run an older pulse left unfinished is refused.
 */
export function existingRun(outDir: string, hash: string): { info: RunInfo; results: Results | null } | null {
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new PulseError(`${outDir} is a file, not a run folder`);
  const info = readRunInfo(outDir);
  if (!info) return null;
  if (info.config_hash !== hash) {
    throw new PulseError(`run folder ${outDir} holds a run with a different configuration (hash ${info.config_hash}, now ${hash}); `
      + 'use another --out, or delete the folder to start over');
  }
  const results = readResults(outDir);
  if (results && !results.run.finished_at && !existsSync(join(outDir, 'prepare'))) {
    throw new PulseError(`${outDir} holds a run an older pulse (${info.pulse_version}) left unfinished; finish it with that version, or delete the folder to start over`);
  }
  return { info, results };
}

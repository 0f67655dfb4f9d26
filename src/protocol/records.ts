import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PulseError, describeZodError } from '../errors.ts';
import { MethodResult, ScenarioResult, SelectionRecord } from './results-schema.ts';
import { stepDir, type CellStep, type PrepareStep, type SelectStep, type Step } from './plan.ts';
import { writeJsonAtomic } from './run-dir.ts';
import { hyperparameterRecord, settingsFor } from './settings.ts';
import type { RunConfig } from './config.ts';

/*
 * The files a step writes into its own folder, each atomically, and nothing else:
 *   record.json    select: the selection; prepare: the scenario's record for a seed without its
 *                  methods; cell: the method's record, rewritten after each request
 *   *.parquet      the per-question rows it scored (prepare: before, oracle; cell: r<k>)
 *   r<k>.safetensors   a cell's state delta after request k, while later requests remain
 *   error.json     why the step failed in its last attempt
 *   claim.<n>      who runs it now (src/claim)
 */

/** A scenario's record for one seed before any method ran: what its cells start from. */
export const PreparedRecord = ScenarioResult.omit({ methods: true, status: true }).extend({
  /** ready: its cells can run; skipped: the scenario cannot run in this seed (see note), it has no cells */
  status: z.enum(['ready', 'skipped']),
});
export type PreparedRecord = z.infer<typeof PreparedRecord>;

export const StepError = z.object({ message: z.string(), at: z.string(), by: z.string() });
export type StepError = z.infer<typeof StepError>;

export const recordPath = (outDir: string, step: Pick<Step, 'kind' | 'key'>) => join(stepDir(outDir, step), 'record.json');
export const errorPath = (outDir: string, step: Pick<Step, 'kind' | 'key'>) => join(stepDir(outDir, step), 'error.json');
export const claimPrefixOf = (outDir: string, step: Pick<Step, 'kind' | 'key'>) => join(stepDir(outDir, step), 'claim');
export const samplePartPath = (outDir: string, step: Pick<Step, 'kind' | 'key'>, part: string) => join(stepDir(outDir, step), `${part}.parquet`);
export const deltaPath = (outDir: string, step: CellStep, request: number) => join(stepDir(outDir, step), `r${request}.safetensors`);

function readRecord<T>(path: string, schema: z.ZodType<T>): T | null {
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PulseError(`${path} is corrupted (${(e as Error).message}); delete it to run its step again`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new PulseError(`${path} does not match its schema (${describeZodError(parsed.error)}); delete it to run its step again`);
  return parsed.data;
}

export const readSelection = (outDir: string, step: SelectStep) => readRecord(recordPath(outDir, step), SelectionRecord);
export const readPrepared = (outDir: string, step: PrepareStep) => readRecord(recordPath(outDir, step), PreparedRecord);
export const readCell = (outDir: string, step: CellStep) => readRecord(recordPath(outDir, step), MethodResult);
export const readStepError = (outDir: string, step: Step) => readRecord(errorPath(outDir, step), StepError);

export function writeRecord(outDir: string, step: Step, record: SelectionRecord | PreparedRecord | MethodResult): void {
  writeJsonAtomic(recordPath(outDir, step), record);
}

/** Whether a step has nothing left to do: its record is written (a cell's once it completed or failed). */
export function stepDone(outDir: string, step: Step): boolean {
  if (step.kind !== 'cell') return existsSync(recordPath(outDir, step));
  const record = readCell(outDir, step);
  return record !== null && record.status !== 'pending';
}

/** A cell's record before its first request: every field but the requests follows from the config. */
export function pendingCell(config: RunConfig, step: CellStep): MethodResult {
  const settings = settingsFor(config, step.scenario.name, step.method, step.target, 0);
  return { method: step.method, update_target: step.target, status: 'pending', hyperparameters: hyperparameterRecord(settings), requests: [] };
}

import { existsSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { PulseError } from '../errors.ts';
import type { RunConfig } from './config.ts';
import type { Results } from './results-schema.ts';
import { mergeSampleFiles, readSamples } from './samples-file.ts';
import { summarise } from './summary.ts';
import { writeResultsCsv } from './results-csv.ts';
import { mergeResults, sampleParts } from './merge.ts';
import { removeDeltas } from './cell.ts';
import type { Plan } from './plan.ts';
import { claimPrefixOf } from './records.ts';
import { removeAbandoned } from '../claim/claim.ts';
import { runFiles, writeJsonAtomic, type RunInfo } from './run-dir.ts';

export interface FinishOptions {
  /** write report.md, report.html and charts/ (`pulse run --no-report` does not) */
  report: boolean;
  log: (line: string) => void;
}

/*
 * The finish is a phase like the others, and idempotent: from the steps' records it writes
 * results.json (numbers and summary), samples.parquet, results.csv and the report, and only then
 * marks results.json finished. A finish stopped at any moment runs again in full on the next
 * invocation, with the same outcome; it deletes nothing a rerun needs (the records and per-question
 * parts stay, so everything can be rebuilt from the folder). results.json's time is the moment its
 * finish began (a second before, whatever the filesystem's time resolution), also once it is marked
 * finished: a derived file older than it was made from other numbers.
 */
export async function finishRun(outDir: string, plan: Plan, config: RunConfig, info: RunInfo, options: FinishOptions): Promise<Results> {
  const files = runFiles(outDir);
  const results = mergeResults(outDir, plan, config, info);
  // every derived file is written after this moment, and results.json keeps it as its time
  const began = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
  await mergeSampleFiles(sampleParts(outDir, plan), files.samples);
  results.summary = summarise(results, await readSamples(files.samples), { resamples: config.eval.bootstrap, seed: config.seed });
  writeJsonAtomic(files.results, results);
  utimesSync(files.results, new Date(), began);
  await writeResultsCsv(outDir, results);
  if (options.report) await writeRunReport(outDir, options.log);
  for (const cell of plan.cells) removeDeltas(outDir, cell);
  // claims of processes killed after their step was recorded: a finished run holds no stale lock
  for (const step of plan.steps) removeAbandoned(claimPrefixOf(outDir, step));
  results.run.finished_at = new Date().toISOString();
  writeJsonAtomic(files.results, results);
  utimesSync(files.results, new Date(), began);
  return results;
}

async function writeRunReport(outDir: string, log: (line: string) => void): Promise<void> {
  const { writeReport } = await import('../report/index.ts');
  log(`report: ${(await writeReport(outDir)).html}`);
}

/** The files a finished run derives from results.json (and the per-question parts): each must exist and be no older than it. */
function derivedFiles(outDir: string, report: boolean): string[] {
  const files = runFiles(outDir);
  const derived = [files.samples, files.csv];
  if (!report) return derived;
  const markdown = join(outDir, 'report.md');
  derived.push(markdown, join(outDir, 'report.html'));
  if (existsSync(markdown)) {
    // every chart the report shows, as PNG (in report.md) and as SVG beside it
    for (const [, png] of readFileSync(markdown, 'utf8').matchAll(/\]\((charts\/[^)\s]+\.png)\)/g)) {
      derived.push(join(outDir, png!), join(outDir, png!.replace(/\.png$/, '.svg')));
    }
  }
  return derived;
}

/**
 * The derived files of a finished run that are missing or older than its results.json. A run an
 * older pulse finished (no prepare/ folder) wrote results.json last: only its missing files count.
 */
export function staleDerived(outDir: string, report: boolean): string[] {
  const numbers = existsSync(join(outDir, 'prepare')) ? statSync(runFiles(outDir).results).mtimeMs : -Infinity;
  return derivedFiles(outDir, report).filter((f) => !existsSync(f) || statSync(f).mtimeMs < numbers);
}

/**
 * Rebuilds what a finished run derives from results.json without recomputing any number:
 * samples.parquet from the per-question parts, results.csv from results.json, the report from both.
 */
export async function rebuildDerived(outDir: string, plan: Plan, results: Results, stale: readonly string[], options: FinishOptions): Promise<void> {
  const files = runFiles(outDir);
  if (stale.includes(files.samples)) {
    const parts = sampleParts(outDir, plan);
    if (parts.length === 0) throw new PulseError(`${files.samples} is missing and the run folder has no per-question parts to rebuild it from`);
    await mergeSampleFiles(parts, files.samples);
  }
  if (stale.includes(files.csv)) await writeResultsCsv(outDir, results);
  const reportFiles = stale.filter((f) => f !== files.samples && f !== files.csv);
  if (options.report && (reportFiles.length > 0 || stale.includes(files.samples))) await writeRunReport(outDir, options.log);
}

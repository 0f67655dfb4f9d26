import { resolve } from 'node:path';
import { PulseError } from '../errors.ts';
import { inspectClaim } from '../claim/claim.ts';
import { describeHolder } from '../claim/holder.ts';
import type { Step, Plan } from './plan.ts';
import { planRun } from './plan.ts';
import { claimPrefixOf, readCell, readPrepared, readStepError, stepDone } from './records.ts';
import { readResults, readRunInfo } from './run-dir.ts';
import { runConfigOf } from './join.ts';
import type { RunConfig } from './config.ts';

export type StepState = 'done' | 'running' | 'failed' | 'pending' | 'skipped';

export interface StepStatus {
  key: string;
  kind: Step['kind'];
  seed: number | null;
  scenario: string;
  method: string | null;
  target: string | null;
  state: StepState;
  /** cells: requests recorded, of how many */
  requests: { done: number; total: number } | null;
  /** cells: seconds its recorded requests took */
  seconds: number | null;
  /** running: who holds it and since when; a holder that is gone is `abandoned` (the next worker takes it over) */
  holder: { who: string; host: string; pid: number; slurm_job: string | null; since: string; abandoned: string | null } | null;
  /** failed: what its last attempt said */
  error: string | null;
}

export interface RunStatus {
  run: string;
  finished_at: string | null;
  totals: Record<StepState, number>;
  /** seconds left at the mean request time of each scenario so far, shared among the workers running now; null before any request is done */
  estimate_seconds: number | null;
  workers: number;
  steps: StepStatus[];
}

function cellRequests(outDir: string, config: RunConfig, step: Extract<Step, { kind: 'cell' }>): number {
  const prepared = readPrepared(outDir, { kind: 'prepare', key: step.prepare, scenario: step.scenario, seed: step.seed, select: null });
  return prepared ? prepared.splits.requests.length : step.scenario.sizes(config).requests;
}

function stepStatus(outDir: string, config: RunConfig, step: Step, skippedPrepares: Set<string>): StepStatus {
  const base = {
    key: step.key, kind: step.kind, seed: step.kind === 'select' ? null : step.seed, scenario: step.scenario.name,
    method: step.kind === 'cell' ? step.method : null, target: step.kind === 'cell' ? step.target : null,
    requests: null, seconds: null, holder: null, error: null,
  };
  if (step.kind === 'prepare' && readPrepared(outDir, step)?.status === 'skipped') skippedPrepares.add(step.key);
  if (step.kind === 'cell' && skippedPrepares.has(step.prepare)) return { ...base, state: 'skipped' };
  const record = step.kind === 'cell' ? readCell(outDir, step) : null;
  const requests = step.kind === 'cell' ? { done: record?.requests.length ?? 0, total: cellRequests(outDir, config, step) } : null;
  const seconds = record ? record.requests.reduce((s, r) => s + r.seconds, 0) : null;
  const status = { ...base, requests, seconds };
  if (stepDone(outDir, step)) return { ...status, state: 'done' };
  const claim = inspectClaim(claimPrefixOf(outDir, step));
  if (claim?.holder) {
    const h = claim.holder;
    return { ...status, state: 'running', holder: { who: describeHolder(h), host: h.host, pid: h.pid, slurm_job: h.slurm_job, since: h.since, abandoned: claim.gone } };
  }
  const error = readStepError(outDir, step);
  return error ? { ...status, state: 'failed', error: error.message } : { ...status, state: 'pending' };
}

/**
 * Every step of the run in the folder: its state, who runs it, and an estimate of the time left.
 * `config` is the run's (read from the folder, with its plug-ins loaded, when not given).
 */
export async function runStatus(runDir: string, known?: RunConfig): Promise<RunStatus> {
  const outDir = resolve(runDir);
  const info = readRunInfo(outDir);
  if (!info) throw new PulseError(`${runDir} is not a run folder (no run.json)`);
  const config = known ?? await runConfigOf(outDir, info);
  const plan: Plan = planRun(config);
  const skipped = new Set<string>();
  const steps = plan.steps.map((step) => stepStatus(outDir, config, step, skipped));
  const totals: Record<StepState, number> = { done: 0, running: 0, failed: 0, pending: 0, skipped: 0 };
  for (const s of steps) totals[s.state]++;
  const workers = new Set(steps.filter((s) => s.state === 'running' && !s.holder!.abandoned).map((s) => s.holder!.who)).size;
  return { run: outDir, finished_at: readResults(outDir)?.run.finished_at ?? null, totals, estimate_seconds: estimate(steps, workers), workers, steps };
}

/** Requests left times the mean seconds per request (of the same scenario where known), over the workers running. */
function estimate(steps: readonly StepStatus[], workers: number): number | null {
  const cells = steps.filter((s) => s.kind === 'cell' && s.requests);
  const done = cells.filter((s) => s.requests!.done > 0);
  if (done.length === 0) return null;
  const mean = (list: readonly StepStatus[]) => list.reduce((t, s) => t + s.seconds!, 0) / list.reduce((n, s) => n + s.requests!.done, 0);
  const overall = mean(done);
  let left = 0;
  for (const s of cells) {
    if (s.state === 'done' || s.state === 'skipped') continue;
    const same = done.filter((d) => d.scenario === s.scenario);
    left += (s.requests!.total - s.requests!.done) * (same.length ? mean(same) : overall);
  }
  return left / Math.max(1, workers);
}

const duration = (s: number) => (s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`);

/** The status as a table for people. */
export function formatStatus(status: RunStatus): string {
  const rows = status.steps.map((s) => {
    const what = s.kind === 'cell' ? `${s.requests!.done}/${s.requests!.total} requests` : s.kind;
    let detail = '';
    if (s.state === 'done' && s.seconds !== null) detail = duration(s.seconds);
    if (s.state === 'running') detail = `${s.holder!.who}, since ${s.holder!.since}${s.holder!.abandoned ? `; abandoned: ${s.holder!.abandoned}` : ''}`;
    if (s.state === 'failed') detail = s.error!;
    return [s.key, s.state, what, detail];
  });
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length), ['step', 'state', 'progress'][c]!.length));
  const line = (r: string[]) => r.map((v, c) => (c < 3 ? v.padEnd(widths[c]!) : v)).join('  ').trimEnd();
  const t = status.totals;
  const left = status.finished_at ? `finished at ${status.finished_at}`
    : status.estimate_seconds === null ? 'time left: not known before the first request is done'
      : `time left: about ${duration(status.estimate_seconds)} with ${Math.max(1, status.workers)} worker${status.workers > 1 ? 's' : ''}`;
  return [
    `run ${status.run}`,
    line(['step', 'state', 'progress', 'where / how long']),
    ...rows.map(line),
    `${status.steps.length} steps: ${t.done} done, ${t.running} running, ${t.failed} failed, ${t.pending} pending${t.skipped ? `, ${t.skipped} skipped` : ''}; ${left}`,
  ].join('\n');
}

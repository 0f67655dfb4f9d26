import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { slurmJobOfThisProcess, slurmJobState } from '../executor/slurm-jobs.ts';

/**
 * Who holds a claim: enough for any process, on this host or another one sharing the folder, to
 * decide whether the holder is still there. `token` tells two claims of the same process apart.
 */
export const Holder = z.object({
  host: z.string(),
  pid: z.number().int(),
  /** the process's start time in clock ticks since boot (Linux /proc), so that a reused pid is not taken for the holder */
  pid_start: z.number().nullable(),
  /** SLURM_ARRAY_JOB_ID_SLURM_ARRAY_TASK_ID, or SLURM_JOB_ID, when the holder runs inside a Slurm job */
  slurm_job: z.string().nullable(),
  token: z.string(),
  /** what holds it, for people: "worker 2 (cuda:1)", "pulse run" */
  label: z.string(),
  since: z.string(),
  /** the holder touches its claim at least this often; a claim untouched for `stale_after_s` is taken over */
  heartbeat_s: z.number().positive(),
  stale_after_s: z.number().positive(),
});
export type Holder = z.infer<typeof Holder>;

/** How often a holder touches its claims, and after how long without a touch the claim counts as abandoned. */
export interface Liveness { heartbeatSeconds: number; staleAfterSeconds: number }

/** A node that stops answering (and any holder that stops) is noticed after this long; a dead local process or a finished Slurm job at once. */
export const DEFAULT_LIVENESS: Liveness = { heartbeatSeconds: 10, staleAfterSeconds: 120 };

/** The start time of a local process (field 22 of /proc/PID/stat), or null where there is no /proc. */
export function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may itself hold spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

export function currentHolder(label: string, liveness: Liveness = DEFAULT_LIVENESS): Holder {
  return {
    host: hostname(), pid: process.pid, pid_start: processStart(process.pid), slurm_job: slurmJobOfThisProcess(),
    token: randomBytes(8).toString('hex'), label, since: new Date().toISOString(),
    heartbeat_s: liveness.heartbeatSeconds, stale_after_s: liveness.staleAfterSeconds,
  };
}

/** Slurm states of a job that will never run again (scontrol's JobState; GONE: no longer known to the controller). */
const ENDED_STATES = new Set([
  'BOOT_FAIL', 'CANCELLED', 'COMPLETED', 'DEADLINE', 'FAILED', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'TIMEOUT', 'GONE',
]);

/**
 * Why a holder is gone, or null while it may still be there: its process on this host has died
 * (or its pid now belongs to another process), its Slurm job has ended, or it has not touched its
 * claim for longer than it promised to (a node that disappeared, a stopped process).
 */
export function holderGone(holder: Holder, touchedMs: number, nowMs = Date.now()): string | null {
  if (holder.host === hostname()) {
    if (!pidAlive(holder.pid)) return `its process ${holder.pid} on ${holder.host} has ended`;
    const start = processStart(holder.pid);
    if (holder.pid_start !== null && start !== null && start !== holder.pid_start) return `its process ${holder.pid} on ${holder.host} has ended (the pid was reused)`;
  } else if (holder.slurm_job) {
    const state = slurmJobState(holder.slurm_job);
    if (state !== null && ENDED_STATES.has(state)) return `its Slurm job ${holder.slurm_job} is ${state === 'GONE' ? 'no longer known to Slurm' : state}`;
  }
  const silent = (nowMs - touchedMs) / 1000;
  if (silent > holder.stale_after_s) return `no heartbeat for ${silent.toFixed(0)} s (more than ${holder.stale_after_s} s)`;
  return null;
}

/** "worker 2 on node7 (pid 4242, Slurm job 81_3)": a holder in one phrase, for status and messages. */
export function describeHolder(holder: Holder): string {
  return `${holder.label} on ${holder.host} (pid ${holder.pid}${holder.slurm_job ? `, Slurm job ${holder.slurm_job}` : ''})`;
}

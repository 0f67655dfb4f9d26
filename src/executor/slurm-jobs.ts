import { execFileSync } from 'node:child_process';

/**
 * The Slurm job this process runs in: "ARRAYJOB_TASK" for an array task (what scontrol and
 * scancel take), the plain job id otherwise; null outside Slurm.
 */
export function slurmJobOfThisProcess(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID) return `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}`;
  return env.SLURM_JOB_ID || null;
}

const cache = new Map<string, { state: string | null; at: number }>();
/** Job states are asked for at most this often per job: a worker scanning many claims must not flood the controller. */
const CACHE_MS = 10_000;

/**
 * The job's state as the controller reports it (RUNNING, PENDING, COMPLETED, CANCELLED, ...), GONE
 * when the controller no longer knows the id (it forgets ended jobs after MinJobAge), or null when
 * it cannot be asked (no Slurm here, the controller does not answer). `scontrol show job`, not
 * sacct: it needs no accounting database.
 */
export function slurmJobState(job: string): string | null {
  const hit = cache.get(job);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.state;
  const state = askController(job);
  cache.set(job, { state, at: Date.now() });
  return state;
}

function askController(job: string): string | null {
  try {
    const out = execFileSync('scontrol', ['show', 'job', '--oneliner', job], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    return /\bJobState=(\w+)/.exec(out)?.[1] ?? null;
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '');
    return /invalid job id/i.test(stderr) ? 'GONE' : null;
  }
}

/** Forgets cached states: a caller that waits for a change must see it. */
export function forgetSlurmStates(): void {
  cache.clear();
}

/**
 * Whether any of the jobs (array jobs included) is still queued or running, from squeue; null when
 * the controller cannot be asked. A job squeue no longer lists has ended.
 */
export function slurmJobsQueued(jobs: readonly string[]): boolean | null {
  if (jobs.length === 0) return false;
  let any = false;
  for (const job of jobs) {
    try {
      const out = execFileSync('squeue', ['--noheader', '--jobs', job, '--format', '%T'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
      if (out.trim() !== '') any = true;
    } catch (e) {
      const stderr = String((e as { stderr?: unknown }).stderr ?? '');
      if (!/invalid job id/i.test(stderr)) return null;
    }
  }
  return any;
}

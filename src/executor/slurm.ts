import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { split } from 'shlex';
import { z } from 'zod';
import { PulseError, errorExcerpt } from '../errors.ts';
import { writeFileAtomicSync } from '../atomic-file.ts';
import { writeJsonAtomic } from '../protocol/run-dir.ts';
import { PULSE_BIN } from './local.ts';
import { finishScript, workerScript } from './slurm-script.ts';
import { forgetSlurmStates, slurmJobsQueued } from './slurm-jobs.ts';

/** Options pulse gives sbatch itself: a user's own would break the array, its dependency or where logs go. */
const RESERVED = ['--array', '-a', '--dependency', '-d', '--output', '-o', '--error', '-e', '--chdir', '-D', '--parsable', '--wrap'];

/** The user's `--slurm "..."` as sbatch arguments: split as a shell would split words, without expanding anything. */
export function sbatchOptions(text: string | undefined): string[] {
  if (!text) return [];
  let words: string[];
  try {
    words = split(text);
  } catch (e) {
    throw new PulseError(`--slurm: cannot split ${JSON.stringify(text)} into options: ${errorExcerpt(e)}`);
  }
  words.forEach((word, i) => {
    const name = word.startsWith('--') ? word.split('=')[0]! : word.slice(0, 2);
    if (word.startsWith('-') && RESERVED.includes(name)) throw new PulseError(`--slurm: ${name} is set by pulse itself (the job array, its dependency and its logs)`);
    // a word that is no option must be the value of the option before it ("--partition gpu")
    const previous = words[i - 1];
    if (!word.startsWith('-') && !(previous?.startsWith('-') && !previous.includes('='))) {
      throw new PulseError(`--slurm: '${word}' is not an option of sbatch (e.g. "--partition=gpu --gres=gpu:1 --time=08:00:00")`);
    }
  });
  return words;
}

const Submissions = z.array(z.object({ array: z.string(), tasks: z.number().int(), finish: z.string(), at: z.string() }));
type Submissions = z.infer<typeof Submissions>;

export const slurmDir = (outDir: string) => join(outDir, 'slurm');
const submissionsPath = (outDir: string) => join(slurmDir(outDir), 'jobs.json');

export function readSubmissions(outDir: string): Submissions {
  const path = submissionsPath(outDir);
  if (!existsSync(path)) return [];
  const parsed = Submissions.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new PulseError(`${path} is not a list of Slurm submissions; delete it`);
  return parsed.data;
}

function sbatch(args: string[]): string {
  try {
    const out = execFileSync('sbatch', ['--parsable', ...args], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    // --parsable prints "jobid" or "jobid;cluster"
    return out.trim().split(';')[0]!;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') {
      throw new PulseError('--executor slurm: sbatch is not installed here (run on a Slurm login node, or start one here: scripts/slurm-local.sh start)');
    }
    throw new PulseError(`sbatch refused the job: ${errorExcerpt(err.stderr?.trim() || err.message)}`);
  }
}

export interface Submission { array: string; tasks: number; finish: string }

/**
 * Writes the worker and finish scripts into RUN/slurm/ and submits a job array of `tasks`
 * workers, then the job that finishes the run once every task has ended (afterany). Each task's
 * log is RUN/slurm/worker-<array>_<task>.log.
 */
export function submitToSlurm(outDir: string, options: { cwd: string; tasks: number; threads: number | null; sbatch: readonly string[] }): Submission {
  const dir = slurmDir(outDir);
  mkdirSync(dir, { recursive: true });
  const inputs = { cwd: options.cwd, node: process.execPath, pulse: PULSE_BIN, runDir: outDir, threads: options.threads };
  const scripts = { worker: join(dir, 'worker.sh'), finish: join(dir, 'finish.sh') };
  writeFileAtomicSync(scripts.worker, workerScript(inputs));
  writeFileAtomicSync(scripts.finish, finishScript(inputs));
  for (const path of Object.values(scripts)) chmodSync(path, 0o755);
  const name = `pulse-${basename(outDir).replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  const common = [`--chdir=${dir}`, `--job-name=${name}`];
  const array = sbatch([...common, `--array=0-${options.tasks - 1}`, '--output=worker-%A_%a.log', ...options.sbatch, scripts.worker]);
  const finish = sbatch([...common, `--dependency=afterany:${array}`, '--output=finish-%j.log', ...options.sbatch, scripts.finish]);
  const submission = { array, tasks: options.tasks, finish };
  writeJsonAtomic(submissionsPath(outDir), [...readSubmissions(outDir), { ...submission, at: new Date().toISOString() }]);
  return submission;
}

/** The jobs of earlier submissions of this run that are still queued or running; null when Slurm cannot be asked. */
export function queuedSubmissions(outDir: string): Submission[] | null {
  const queued: Submission[] = [];
  for (const s of readSubmissions(outDir)) {
    const alive = slurmJobsQueued([s.array, s.finish]);
    if (alive === null) return null;
    if (alive) queued.push(s);
  }
  return queued;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Waits until the run is finished (true) or none of its Slurm jobs is queued any more while it is
 * not (false), calling `progress` every `pollMs`.
 */
export async function waitForSlurm(outDir: string, finished: () => boolean, progress: () => void, pollMs = 5000): Promise<boolean> {
  for (;;) {
    if (finished()) return true;
    forgetSlurmStates();
    const queued = queuedSubmissions(outDir);
    if (queued !== null && queued.length === 0) return finished();
    progress();
    await sleep(pollMs);
  }
}

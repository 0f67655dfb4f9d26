import { PulseError } from '../errors.ts';
import { beginRun, finishOnce, type BegunRun, type RunOptions, type RunOutcome } from '../protocol/runner.ts';
import { readResults, runFiles } from '../protocol/run-dir.ts';
import { failures, scanSteps } from '../protocol/worker.ts';
import { runStatus } from '../protocol/status.ts';
import { modelSpecOn } from '../protocol/join.ts';
import { runLocalWorkers, type WorkerExit } from './local.ts';
import { queuedSubmissions, submitToSlurm, waitForSlurm, type Submission } from './slurm.ts';

/*
 * The executors' side of `pulse run`: one folder, one configuration, one set of numbers, whether
 * the steps run in this process (runProtocol), in worker processes on this machine, or in Slurm
 * jobs. Each first takes the run folder as runProtocol does (beginRun), then lets workers claim the
 * steps from the folder.
 */

function outcomeOf(begun: BegunRun, finishedAlready = false): RunOutcome {
  const results = readResults(begun.outDir)!;
  const nothing = { rebuilt: [], checkpoints: [], scoringSeconds: 0, attackSeconds: {} };
  return { resultsPath: runFiles(begun.outDir).results, results, phases: begun.phases, alreadyFinished: finishedAlready, ...nothing };
}

/** Why a run whose workers are gone is not finished, in one line that says what to do. */
function notFinished(begun: BegunRun, extra: string[] = []): PulseError {
  const states = scanSteps(begun.outDir, begun.plan);
  const failed = failures(begun.outDir, begun.plan, states);
  const left = begun.plan.steps.filter((s) => states.get(s.key) !== 'done').length;
  const why = [...extra, ...(failed.length ? [`${failed.length} step(s) failed, first ${failed[0]!.key}: ${failed[0]!.message}`] : [])];
  return new PulseError(`the run in ${begun.outDir} is not finished (${left} step(s) left${why.length ? `; ${why.join('; ')}` : ''}); `
    + `see \`pulse status ${begun.outDir}\`, and run the same command again to go on`);
}

/** The finish, when the workers left it undone (the one that would have finished was stopped): by this process. */
async function settle(begun: BegunRun, options: RunOptions, extra: string[]): Promise<RunOutcome> {
  if (readResults(begun.outDir)?.run.finished_at) return outcomeOf(begun);
  const states = scanSteps(begun.outDir, begun.plan);
  if (![...states.values()].every((s) => s === 'done')) throw notFinished(begun, extra);
  const log = options.log ?? (() => {});
  await finishOnce(begun.outDir, begun.plan, options.config, begun.info, { report: options.report ?? false, log, wait: true, label: 'pulse run' });
  return outcomeOf(begun);
}

const describeExit = (e: WorkerExit) => `${e.label} ${e.signal ? `was killed (${e.signal})` : `exited with status ${e.code}`}`;

/**
 * `pulse run --workers N [--devices ...]`: checks the inputs and takes the folder here, then N
 * `pulse worker` processes (one per device with `devices`) run the steps; the last one to be done
 * finishes the run. A worker that dies leaves its step to the others, which take it over.
 */
export async function runWithWorkers(options: RunOptions, local: { workers: number; devices?: readonly string[] }): Promise<RunOutcome> {
  for (const device of local.devices ?? []) modelSpecOn(options.config, device); // a device the model cannot take is refused before anything runs
  const begun = await beginRun(options);
  if (!('plan' in begun)) return begun;
  begun.inputs?.model.dispose();
  const log = options.log ?? (() => {});
  const exits = await runLocalWorkers({
    runDir: begun.outDir, workers: local.workers, threads: options.config.threads, log, ...(local.devices ? { devices: local.devices } : {}),
  });
  return settle(begun, options, exits.filter((e) => e.code !== 0).map(describeExit));
}

export interface SlurmRun {
  sbatch: readonly string[];
  /** tasks of the job array (default: one per unfinished cell) */
  jobs?: number;
  /** block until the run is finished */
  wait: boolean;
  pollMs?: number;
}

/**
 * `pulse run --executor slurm`: takes the folder (the inputs are loaded by the jobs), then submits
 * a job array of workers and the job that finishes the run, unless jobs of an earlier submission of
 * this run are still queued or running: the same command again submits only what is unfinished.
 * With `wait`, blocks until the run is finished; a run whose jobs all ended unfinished is an error.
 */
export async function runWithSlurm(options: RunOptions, slurm: SlurmRun): Promise<{ outcome: RunOutcome | null; submitted: Submission | null }> {
  const begun = await beginRun(options, false);
  if (!('plan' in begun)) return { outcome: begun, submitted: null };
  const log = options.log ?? (() => {});
  const { outDir, plan } = begun;
  const queued = queuedSubmissions(outDir);
  if (queued === null) throw new PulseError('--executor slurm: squeue does not answer (is the Slurm controller up?)');
  let submitted: Submission | null = null;
  if (queued.length) {
    const jobs = queued.map((s) => `job array ${s.array} (${s.tasks} workers), finishing job ${s.finish}`).join('; ');
    log(`already submitted and not ended: ${jobs}; nothing submitted`);
  } else {
    const states = scanSteps(outDir, plan);
    const cellsLeft = plan.cells.filter((c) => states.get(c.key) !== 'done').length;
    const tasks = Math.max(1, Math.min(slurm.jobs ?? cellsLeft, cellsLeft || 1));
    submitted = submitToSlurm(outDir, { cwd: process.cwd(), tasks, threads: options.config.threads, sbatch: slurm.sbatch });
    log(`submitted job array ${submitted.array} (${tasks} worker${tasks > 1 ? 's' : ''} for ${cellsLeft} unfinished cell${cellsLeft === 1 ? '' : 's'}) `
      + `and job ${submitted.finish}, which finishes the run when they have ended; logs in ${outDir}/slurm/`);
    console.log(`slurm jobs: ${submitted.array} ${submitted.finish}`);
  }
  if (!slurm.wait) return { outcome: null, submitted };
  let last = '';
  const progress = async () => {
    const { totals } = await runStatus(outDir, options.config);
    const line = `${totals.done} of ${plan.steps.length} steps done, ${totals.running} running, ${totals.failed} failed`;
    if (line !== last) log(line);
    last = line;
  };
  const finished = await waitForSlurm(outDir, () => Boolean(readResults(outDir)?.run.finished_at), () => { void progress(); }, slurm.pollMs);
  if (!finished) throw notFinished(begun, ['its Slurm jobs have ended']);
  return { outcome: outcomeOf(begun), submitted };
}

import { quote } from 'shlex';

/**
 * The batch scripts `pulse run --executor slurm` writes into the run folder. Everything that comes
 * from the user (the working folder, the run folder, the paths of node and pulse) is one
 * single-quoted word, so spaces, quotes, `$` and backquotes in them are data, never shell syntax.
 * The options for sbatch are not written into the script (#SBATCH lines have their own quoting
 * rules): they are passed to sbatch as separate arguments, without a shell.
 */
export interface ScriptInputs {
  /** the folder `pulse run` was started in: relative paths in the config are read from there */
  cwd: string;
  node: string;
  pulse: string;
  runDir: string;
  /** libtorch threads; null: the CPUs Slurm gave the task (SLURM_CPUS_PER_TASK, else 1) */
  threads: number | null;
}

function script(inputs: ScriptInputs, purpose: string, args: string[]): string {
  const threads = inputs.threads === null ? '"${SLURM_CPUS_PER_TASK:-1}"' : String(inputs.threads);
  return [
    '#!/bin/sh',
    `# written by pulse run --executor slurm: ${purpose}`,
    `cd ${quote(inputs.cwd)} || exit 1`,
    `exec ${quote(inputs.node)} ${quote(inputs.pulse)} worker ${quote(inputs.runDir)} --threads ${threads} ${args.join(' ')}`,
    '',
  ].join('\n');
}

/** A task of the job array: a worker that leaves when nothing is left for it to claim. */
export function workerScript(inputs: ScriptInputs): string {
  return script(inputs, 'one worker of the run (a task of its job array)', ['--leave-when-idle', '--label', '"slurm task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"']);
}

/**
 * The job that runs once every task of the array has ended: a worker that runs whatever the tasks
 * left (the step of a cancelled task, whose claim it takes over) and finishes the run.
 */
export function finishScript(inputs: ScriptInputs): string {
  return script(inputs, 'finishes the run once its array has ended', ['--label', '"slurm finish ${SLURM_JOB_ID}"']);
}

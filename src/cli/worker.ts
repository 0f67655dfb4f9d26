import { Command } from '@commander-js/extra-typings';
import { integer } from './options.ts';

export function workerCommand() {
  return new Command('worker')
    .description('Work on a run started by `pulse run`: claim its steps (preparations and cells) one at a time, run them, and, once every step is done, finish the run (results.json, samples.parquet, results.csv, the report). Any number of workers, on this machine or on hosts sharing the folder, can work on one run: each step runs once. What `pulse run --workers` and Slurm array tasks run.')
    .argument('<run>', 'the run folder')
    .option('--device <device>', 'the device for this worker\'s model (cpu, cuda, cuda:N), instead of the config\'s model.device; the run\'s configuration is unchanged')
    .option('--threads <n>', 'CPU threads for libtorch (default: the config\'s threads, else all cores)', integer(1))
    .option('--label <name>', 'how status, logs and results.json name this worker', `worker ${process.pid}`)
    .option('--leave-when-idle', 'leave as soon as every step left is held by another worker, instead of waiting to take over the steps of a worker that dies and to finish the run')
    .action(async (runDir, opts) => {
      const { joinRun } = await import('../protocol/join.ts');
      const { consoleProgress } = await import('../progress.ts');
      const log = (line: string) => process.stderr.write(`[pulse] ${line}\n`);
      const outcome = await joinRun(runDir, {
        label: opts.label, stay: !opts.leaveWhenIdle, log, progress: consoleProgress,
        ...(opts.device ? { device: opts.device } : {}), ...(opts.threads ? { threads: opts.threads } : {}),
      });
      log(`${opts.label}: ran ${outcome.ran.length} step${outcome.ran.length === 1 ? '' : 's'}${outcome.finished ? ' and finished the run' : ''}`);
      if (outcome.failed.length) {
        // a step's failure is recorded in its folder (pulse status shows it); the worker says so and fails
        process.stderr.write(`pulse: ${outcome.failed.length} step(s) failed, first ${outcome.failed[0]!.key}: ${outcome.failed[0]!.message}\n`);
        process.exitCode = 1;
      }
    });
}

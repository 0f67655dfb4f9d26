import { Command } from '@commander-js/extra-typings';

export function statusCommand() {
  return new Command('status')
    .description('Show every step of a run: pending, running (host, pid or Slurm job, since when), done (seconds), failed (its error), with totals and an estimate of the time left.')
    .argument('<run>', 'the run folder')
    .option('--json', 'print the status as JSON')
    .action(async (runDir, opts) => {
      const { runStatus, formatStatus } = await import('../protocol/status.ts');
      const status = await runStatus(runDir);
      console.log(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
    });
}

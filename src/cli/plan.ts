import { Command, Option } from '@commander-js/extra-typings';
import { integer } from './options.ts';

export function planCommand() {
  return new Command('plan')
    .description('List the cells of a study and estimate its GPU-hours and its wall time on K GPUs, from a measured training step time (npm run bench:llava -- --device cuda; LLaVA-1.5-7B on one H200 is built in).')
    .option('--config <file>', 'YAML config, as for pulse run')
    .addOption(new Option('--preset <name>', 'starting configuration').choices(['paper', 'quick'] as const).default('paper' as const))
    .option('--gpus <k>', 'GPUs (workers) the estimate shares the cells among', integer(1), 1)
    .option('--step-ms <ms>', 'your measured time of one training step (default: the built-in figure for the model\'s size)', Number)
    .option('--step-rows <n>', 'the rows per step --step-ms was measured at', integer(1), 4)
    .option('--examples-per-person <n>', 'training examples per person (MLLMU-Bench: 5 generation items, the name question, the biography)', integer(1), 7)
    .option('--general-items <n>', 'general-benchmark questions when eval.general_items is null (MMBench dev en: 4377)', integer(1), 4377)
    .option('--json', 'print the estimate as JSON')
    .action(async (opts) => {
      const { resolveConfig } = await import('../protocol/config.ts');
      const { planRun } = await import('../protocol/plan.ts');
      const { estimateStudy } = await import('../protocol/estimate.ts');
      const { stepTimeFor, formatEstimate } = await import('../protocol/estimate-report.ts');
      const config = resolveConfig({ preset: opts.preset, file: opts.config });
      const time = stepTimeFor(config, opts.stepMs === undefined ? null : { ms: opts.stepMs, rows: opts.stepRows });
      const sizes = { examplesPerPerson: opts.examplesPerPerson, questionsPerPerson: 10, generalItems: opts.generalItems, candidates: 153 };
      const estimate = estimateStudy(config, planRun(config), time, sizes, opts.gpus);
      console.log(opts.json ? JSON.stringify({ ...estimate, cells: estimate.cells.map(({ cell, ...c }) => ({ key: cell.key, ...c })), step_time: time }, null, 2)
        : formatEstimate(estimate, time, sizes));
    });
}

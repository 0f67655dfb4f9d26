import { Command, Option } from '@commander-js/extra-typings';
import { list, integer, integerList } from './options.ts';
import { SCENARIO_NAMES } from '../protocol/scenarios.ts';

export function runCommand() {
  return new Command('run')
    .description('Run the PULSE protocol: for each seed, scenario (fine-tuned, pre-trained, sustainability) and unlearning method, unlearn and score D_unlearn, D_retain and the general benchmark by modality, before, during (eval.every) and after every request. Writes results.json (with intervals across seeds), results.csv, samples.parquet (every scored question) and the report. Interrupted runs continue where they stopped when the same command is run again; a finished run is left as it is.')
    .option('--config <file>', 'YAML config; its keys override the preset, its relative paths are relative to it (see README, "Configuration")')
    .addOption(new Option('--preset <name>', 'starting configuration').choices(['paper', 'quick'] as const).default('paper' as const))
    .option('--methods <list>', 'comma-separated unlearning methods (ga, ga_klr, npo, grad_diff, kl_min, npo_rt, simnpo, rmu, idk_nll, idk_dpo, '
      + 'mmunlearner, o3, or a plug-in\'s)', list())
    .option('--scenarios <list>', `comma-separated scenarios (${SCENARIO_NAMES.join(', ')})`, list(SCENARIO_NAMES))
    .option('--attacks <list>', 'comma-separated attacks run after every request (relearn, relearn_retain, mia, paraphrase, cross_modal, '
      + 'open_ended, quantise), or all', list())
    .option('--seeds <list>', 'comma-separated seeds, e.g. 0,1,2: the protocol runs once per seed (own split, request and batch order, adapter init) into the same run folder', integerList())
    .option('--out <dir>', 'run folder (default: runs/<preset>-<date> in the current folder)')
    .option('--threads <n>', 'CPU threads for libtorch (default: all cores)', integer(1))
    .option('--plugin <file>', 'a .ts, .mts, .js or .mjs module exporting unlearning methods (see README, "Extending pulse"); repeatable', (file: string, files: string[]) => [...files, file], [] as string[])
    .option('--no-report', 'do not write the report (report.md, report.html, charts/) at the end')
    .action(async (opts) => {
      const { runWith } = await import('../api/run.ts');
      const { consoleProgress } = await import('../progress.ts');
      const overrides: Record<string, unknown> = {};
      if (opts.methods) overrides.methods = opts.methods;
      if (opts.scenarios) overrides.scenarios = opts.scenarios;
      if (opts.threads) overrides.threads = opts.threads;
      if (opts.seeds) overrides.seeds = opts.seeds;
      if (opts.attacks) overrides.attacks = opts.attacks;
      const outcome = await runWith({
        preset: opts.preset, configFile: opts.config, config: overrides, plugins: opts.plugin, report: opts.report, out: opts.out,
        log: (line) => process.stderr.write(`[pulse] ${line}\n`),
      }, consoleProgress);
      console.log(`results: ${outcome.resultsPath}`);
    });
}

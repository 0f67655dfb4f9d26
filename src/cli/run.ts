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
    .option('--check', 'validate the whole run (config, sizes against the data, LoRA layers against the model, the output place) and stop: nothing is created')
    .option('--workers <n>', 'run the steps in N worker processes on this machine (threads per worker: cores / N unless --threads or the config\'s threads say otherwise)', integer(1))
    .option('--devices <list>', 'one worker per device, e.g. cuda:0,cuda:1 (each worker\'s model on its device; the configuration, and its hash, are unchanged)', list())
    .addOption(new Option('--executor <name>', 'where the steps run: local (this process, or --workers) or slurm (a job array of workers, see --slurm)').choices(['local', 'slurm'] as const).default('local' as const))
    .option('--slurm <options>', 'sbatch options for every job, as one string, e.g. "--partition=gpu --gres=gpu:1 --time=08:00:00"')
    .option('--jobs <k>', 'tasks of the Slurm job array (default: one per unfinished cell)', integer(1))
    .option('--wait', 'with --executor slurm: wait until the run is finished; exit non-zero if it cannot finish or a cell failed')
    .option('--stale-after <seconds>', 'a step whose worker has not been heard from for this long is taken over by another worker', integer(5), 120)
    .action(async (opts) => {
      const { runWith } = await import('../api/run.ts');
      const { consoleProgress } = await import('../progress.ts');
      const { PulseError } = await import('../errors.ts');
      const slurm = opts.executor === 'slurm';
      if (!slurm && (opts.slurm || opts.jobs || opts.wait)) throw new PulseError('--slurm, --jobs and --wait go with --executor slurm');
      if (slurm && (opts.workers || opts.devices)) throw new PulseError('--workers and --devices run workers on this machine; with --executor slurm, --jobs sets the number of workers');
      const overrides: Record<string, unknown> = {};
      if (opts.methods) overrides.methods = opts.methods;
      if (opts.scenarios) overrides.scenarios = opts.scenarios;
      if (opts.threads) overrides.threads = opts.threads;
      if (opts.seeds) overrides.seeds = opts.seeds;
      if (opts.attacks) overrides.attacks = opts.attacks;
      const executor = slurm
        ? { kind: 'slurm' as const, wait: Boolean(opts.wait), ...(opts.slurm ? { sbatch: opts.slurm } : {}), ...(opts.jobs ? { jobs: opts.jobs } : {}) }
        : { kind: 'local' as const, ...(opts.workers ? { workers: opts.workers } : {}), ...(opts.devices ? { devices: opts.devices } : {}) };
      const outcome = await runWith({
        preset: opts.preset, configFile: opts.config, config: overrides, plugins: opts.plugin, report: opts.report, out: opts.out,
        executor, staleAfterSeconds: opts.staleAfter, log: (line) => process.stderr.write(`[pulse] ${line}\n`),
      }, consoleProgress, { overridesFrom: (key) => `--${key}`, check: Boolean(opts.check) });
      if (!outcome) return;
      console.log(`results: ${outcome.resultsPath}`);
      const failed = outcome.results.scenarios.flatMap((s) => s.methods.filter((m) => m.status === 'failed').map((m) => `s${s.seed} ${s.scenario} ${m.method} [${m.update_target}]`));
      if (slurm && failed.length) {
        process.stderr.write(`pulse: ${failed.length} cell(s) failed (see results.json): ${failed.join(', ')}\n`);
        process.exitCode = 1;
      }
    });
}

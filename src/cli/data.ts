import { Command } from '@commander-js/extra-typings';
import { integer } from './options.ts';

export function dataCommand() {
  const data = new Command('data').description('Generate the embedded world in the published formats, or inspect a dataset file or folder.')
    // without a subcommand commander would print the whole help as an error: one line instead
    .action(async () => {
      const { PulseError } = await import('../errors.ts');
      throw new PulseError('data: name a command, generate or inspect (see pulse data --help)');
    });
  data.command('generate')
    .description('Write the synthetic world: MLLMU-Bench Parquet (Full_Set: 500 fictitious people, Retain_Set: 153 celebrities, Test_Set: 4 views each), an MMBench-style TSV, and manifest.json (seed, counts, popularity, file hashes). The same seed writes the same bytes.')
    .requiredOption('--out <dir>', 'output folder')
    .option('--seed <n>', 'world seed', integer(0), 0)
    .action(async (opts) => {
      const { generateWorld } = await import('../world/world.ts');
      const { generateWorldFiles } = await import('../data/world-files.ts');
      const started = performance.now();
      const manifest = await generateWorldFiles(generateWorld(opts.seed), opts.out);
      console.log(`wrote world seed ${manifest.seed} (hash ${manifest.hash}) to ${opts.out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      for (const file of Object.keys(manifest.files)) console.log(`  ${file}`);
    });
  data.command('inspect')
    .description('Print counts per split and modality and one record, for a world folder, an MLLMU-Bench Parquet file or an MMBench TSV.')
    .argument('<path>', 'world folder, .parquet file or .tsv file')
    .action(async (path) => {
      const { inspectPath } = await import('../data/inspect.ts');
      console.log(await inspectPath(path));
    });
  return data;
}

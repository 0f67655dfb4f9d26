import { Command } from '@commander-js/extra-typings';

export function exportCommand() {
  return new Command('export')
    .description('Write RUN_DIR/results.csv from RUN_DIR/results.json: the tidy long table (one row per seed x scenario x method x target x request x step x set x modality), loadable as is by pandas, R and DuckDB. `pulse run` writes it too; this rebuilds it, e.g. for a run that was interrupted. Per-question records are in RUN_DIR/samples.parquet.')
    .argument('<run>', 'run folder holding results.json')
    .action(async (run) => {
      const { loadRun } = await import('../report/load.ts');
      const { writeResultsCsv } = await import('../protocol/results-csv.ts');
      const { results } = loadRun(run);
      const written = await writeResultsCsv(run, results);
      console.log(`results: ${written.path} (${written.rows} rows)`);
    });
}

import { Command } from '@commander-js/extra-typings';

export function reportCommand() {
  return new Command('report')
    .description('Build the report of a run from its results.json alone: report.md, a self-contained report.html, and radar / sustainability charts as SVG and PNG. With two or more run folders, compare them in the same charts and tables.')
    .argument('<runs...>', 'run folder(s) holding results.json')
    .option('--out <dir>', 'where to write the report (default: the run folder; for a comparison, a compare-* folder inside the first run)')
    .action(async (runs, opts) => {
      const { writeReport } = await import('../report/index.ts');
      const files = await writeReport(runs, opts.out);
      console.log(`report: ${files.html}\n        ${files.markdown}\ncharts: ${files.charts.filter((f) => f.endsWith('.png')).join(', ')}`);
    });
}

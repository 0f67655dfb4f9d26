import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { compareResults } from '../compare-results.ts';
import { readSamples } from '../../src/protocol/samples-file.ts';

/** How a run folder compares with the folder of an uninterrupted run of the same command: what differs or is left over. */
export interface RunComparison {
  /** differences in results.json (timings aside), results.csv, samples.parquet rows, the report or the charts; leftovers */
  problems: string[];
}

function walk(dir: string): { files: string[]; emptyFolders: string[] } {
  const files: string[] = [];
  const emptyFolders: string[] = [];
  const visit = (d: string) => {
    const entries = readdirSync(d, { withFileTypes: true });
    if (entries.length === 0 && d !== dir) emptyFolders.push(relative(dir, d));
    for (const e of entries) {
      if (e.isDirectory()) visit(join(d, e.name));
      else files.push(relative(dir, join(d, e.name)));
    }
  };
  visit(dir);
  return { files, emptyFolders };
}

const chartsOf = (dir: string) => (existsSync(join(dir, 'charts')) ? readdirSync(join(dir, 'charts')).sort() : []);

/**
 * Compares a finished run folder with the reference: identical results.json (timings aside, and no
 * field only one of them has), results.csv byte for byte, samples.parquet row for row, the report and the
 * same charts (SVG byte for byte); no temp file, no lock or claim, no samples/ parts, no empty folder left behind.
 */
export async function compareRunFolders(reference: string, dir: string, options: { report?: boolean } = {}): Promise<RunComparison> {
  const problems: string[] = [];
  const read = (d: string) => JSON.parse(readFileSync(join(d, 'results.json'), 'utf8')) as unknown;
  if (!existsSync(join(dir, 'results.json'))) return { problems: ['no results.json'] };
  const { differences, added } = compareResults(read(reference), read(dir));
  problems.push(...differences.slice(0, 5).map((d) => `results.json ${d}`), ...added.map((a) => `results.json: only the resumed run has ${a}`));
  if ((read(dir) as { run: { finished_at: string | null } }).run.finished_at === null) problems.push('results.json: the run is not marked finished');
  for (const file of ['results.csv']) {
    if (!existsSync(join(dir, file))) problems.push(`${file} is missing`);
    else if (!readFileSync(join(dir, file)).equals(readFileSync(join(reference, file)))) problems.push(`${file} differs`);
  }
  if (!existsSync(join(dir, 'samples.parquet'))) problems.push('samples.parquet is missing');
  else if (!isDeepStrictEqual(await readSamples(join(dir, 'samples.parquet')), await readSamples(join(reference, 'samples.parquet')))) {
    problems.push('samples.parquet rows differ');
  }
  if (options.report !== false) {
    const expected = chartsOf(reference);
    const charts = chartsOf(dir);
    // the finish writes the report before it marks the run finished: a kill inside it is resumed, never lost
    for (const file of ['report.html', 'report.md']) if (!existsSync(join(dir, file))) problems.push(`${file} is missing`);
    for (const c of expected) if (!charts.includes(c)) problems.push(`charts/${c} is missing`);
    for (const c of charts) {
      if (!expected.includes(c)) problems.push(`charts/${c} is not in the reference`);
      else if (c.endsWith('.svg') && !readFileSync(join(dir, 'charts', c)).equals(readFileSync(join(reference, 'charts', c)))) problems.push(`charts/${c} differs`);
    }
  }
  const { files, emptyFolders } = walk(dir);
  const temp = files.filter((f) => f.endsWith('.tmp'));
  if (temp.length) problems.push(`temp files left: ${temp.slice(0, 3).join(', ')}`);
  const locks = files.filter((f) => /(^|\/)(run\.lock|\.lock)$|(^|\/)claim\.\d+$/.test(f));
  if (locks.length) problems.push(`locks or claims left in the run folder: ${locks.slice(0, 3).join(', ')}`);
  if (files.some((f) => f.startsWith(`samples/`)) || existsSync(join(dir, 'samples')) && statSync(join(dir, 'samples')).isDirectory()) problems.push('samples/ parts are left');
  if (emptyFolders.length) problems.push(`empty folders left: ${emptyFolders.join(', ')}`);
  return { problems };
}

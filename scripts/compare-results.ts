/**
 * node --import tsx scripts/compare-results.ts A/results.json B/results.json
 * Compares the numbers of two runs: every field of results.json except what legitimately differs
 * between two runs of the same configuration (timestamps, durations, the run's id and folder, the
 * configuration record, the pulse version, where the model file is, and where each cell ran: `placement`). Prints
 * "identical" (and the fields only the second
 * run records) or each differing field, and exits 1 when any differs: the check that a refactor did
 * not change results. compareResults() is the same check for scripts and tests.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const IGNORED_PATHS = new Set(['run.id', 'run.created_at', 'run.finished_at', 'run.config', 'run.pulse_version', 'run.model.path']);
const ignored = (path: string) => IGNORED_PATHS.has(path.replace(/^results\./, '')) || path.endsWith('.seconds') || path.endsWith('.placement');

/** The differing fields of two results.json values, and the fields only B has (what a newer pulse records in addition). */
export function compareResults(a: unknown, b: unknown): { differences: string[]; added: string[] } {
  const differences: string[] = [];
  const added: string[] = [];
  const visit = (x: unknown, y: unknown, path: string): void => {
    if (x === undefined && y !== undefined) {
      added.push(path.replace(/\.\d+\./g, '.*.'));
    } else if (typeof x !== typeof y || Array.isArray(x) !== Array.isArray(y) || (x === null) !== (y === null)) {
      differences.push(`${path}: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
    } else if (x !== null && typeof x === 'object') {
      const keys = new Set([...Object.keys(x), ...Object.keys(y as object)]);
      for (const k of keys) {
        if (!ignored(`${path}.${k}`)) visit((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${path}.${k}`);
      }
    } else if (x !== y) {
      differences.push(`${path}: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
    }
  };
  visit(a, b, 'results');
  return { differences, added: [...new Set(added)] };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [first, second] = process.argv.slice(2);
  if (!first || !second) {
    console.error('usage: node --import tsx scripts/compare-results.ts A/results.json B/results.json');
    process.exit(2);
  }
  const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as { scenarios: { methods: { requests: unknown[] }[] }[] };
  const [a, b] = [read(first), read(second)];
  const { differences, added } = compareResults(a, b);
  const requests = a.scenarios.reduce((n, s) => n + s.methods.reduce((m, x) => m + x.requests.length, 0), 0);
  if (differences.length === 0) {
    console.log(`identical: ${a.scenarios.length} scenarios, ${requests} requests, every score, split, selection and loss (timestamps, durations, placement and the config record aside)`);
    if (added.length) console.log(`fields only in ${second}: ${added.join(', ')}`);
  } else {
    console.log(`${differences.length} fields differ:`);
    for (const line of differences.slice(0, 50)) console.log(`  ${line}`);
    process.exitCode = 1;
  }
}

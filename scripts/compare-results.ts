/**
 * node --import tsx scripts/compare-results.ts A/results.json B/results.json
 * Compares the numbers of two runs: every field of results.json except what legitimately differs
 * between two runs of the same configuration (timestamps, durations, the run's id and folder, the
 * configuration record, the pulse version, where the model file is, and where each cell ran: `placement`). Prints
 * "identical" (and the fields only the second
 * run records) or each differing field, and exits 1 when any differs: the check that a refactor did
 * not change results.
 */
import { readFileSync } from 'node:fs';

const IGNORED_PATHS = new Set(['run.id', 'run.created_at', 'run.finished_at', 'run.config', 'run.pulse_version', 'run.model.path']);
const ignored = (path: string) => IGNORED_PATHS.has(path.replace(/^results\./, '')) || path.endsWith('.seconds') || path.endsWith('.placement');

/** Fields B has and A lacks: what a newer pulse records in addition, not a change of a number. */
const added: string[] = [];

function differences(a: unknown, b: unknown, path: string, out: string[]): void {
  if (a === undefined && b !== undefined) {
    added.push(path.replace(/\.\d+\./g, '.*.'));
  } else if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) {
    out.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  } else if (a !== null && typeof a === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b as object)]);
    for (const k of keys) {
      if (!ignored(`${path}.${k}`)) differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, out);
    }
  } else if (a !== b) {
    out.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
}

const [first, second] = process.argv.slice(2);
if (!first || !second) {
  console.error('usage: node --import tsx scripts/compare-results.ts A/results.json B/results.json');
  process.exit(2);
}
const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as { scenarios: { methods: { requests: unknown[] }[] }[] };
const [a, b] = [read(first), read(second)];
const found: string[] = [];
differences(a, b, 'results', found);
const requests = a.scenarios.reduce((n, s) => n + s.methods.reduce((m, x) => m + x.requests.length, 0), 0);
if (found.length === 0) {
  console.log(`identical: ${a.scenarios.length} scenarios, ${requests} requests, every score, split, selection and loss (timestamps, durations, placement and the config record aside)`);
  if (added.length) console.log(`fields only in ${second}: ${[...new Set(added)].join(', ')}`);
} else {
  console.log(`${found.length} fields differ:`);
  for (const line of found.slice(0, 50)) console.log(`  ${line}`);
  process.exitCode = 1;
}

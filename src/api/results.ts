import { loadRun } from '../report/load.ts';
import type { Results } from '../protocol/results-schema.ts';

/**
 * A run folder's results.json, checked against its schema (src/protocol/results-schema.ts) and typed; a results
 * file of pulse 0.1 is read in today's shape, as `pulse report` reads it.
 */
export function loadResults(dir: string): Results {
  return loadRun(dir).results;
}

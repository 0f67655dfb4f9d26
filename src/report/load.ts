import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PulseError, describeZodError } from '../errors.ts';
import { Results, RESULTS_SCHEMA_VERSION } from '../protocol/results-schema.ts';

export interface LoadedRun { label: string; dir: string; results: Results }

/** Reads and validates RUN_DIR/results.json; the report uses nothing else. */
export function loadRun(dir: string): LoadedRun {
  const path = join(dir, 'results.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PulseError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const version = (raw as { version?: unknown } | null)?.version;
  if (version !== RESULTS_SCHEMA_VERSION) throw new PulseError(`${path}: results version ${JSON.stringify(version)} is not supported (this pulse reads version ${RESULTS_SCHEMA_VERSION})`);
  const parsed = Results.safeParse(raw);
  if (!parsed.success) throw new PulseError(`${path}: invalid results: ${describeZodError(parsed.error)}`);
  return { label: parsed.data.run.id || basename(dir), dir, results: parsed.data };
}

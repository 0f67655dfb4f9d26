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
  if ((raw as { version?: unknown } | null)?.version === 1) raw = fromVersion1(raw as Version1);
  const version = (raw as { version?: unknown } | null)?.version;
  if (version !== RESULTS_SCHEMA_VERSION) throw new PulseError(`${path}: results version ${JSON.stringify(version)} is not supported (this pulse reads version ${RESULTS_SCHEMA_VERSION})`);
  const parsed = Results.safeParse(raw);
  if (!parsed.success) throw new PulseError(`${path}: invalid results: ${describeZodError(parsed.error)}`);
  return { label: parsed.data.run.id || basename(dir), dir, results: parsed.data };
}

type Loose = Record<string, unknown>;
interface Version1 extends Loose { run: Loose & { seeds?: Record<string, number> }; scenarios: (Loose & { methods?: (Loose & { requests?: Loose[] })[] })[] }

/**
 * A results.json of pulse 0.1 (version 1: one seed, no scoring inside requests) in version 2's
 * shape, so that older runs still get a report: one seed (the master seed), empty trajectories,
 * no per-request or oracle scores, no summary.
 */
function fromVersion1(raw: Version1): unknown {
  const seed = raw.run.seeds?.master ?? 0;
  return {
    ...raw, version: 2, summary: null, run: { ...raw.run, seed_list: [seed] },
    scenarios: raw.scenarios.map((s) => ({
      ...s, seed, before_by_request: [], oracle: null,
      methods: (s.methods ?? []).map((m) => ({
        ...m, requests: (m.requests ?? []).map((r) => ({ ...r, by_request: [], steps: 0, stopped_early: false, trajectory: [] })),
      })),
    })),
  };
}

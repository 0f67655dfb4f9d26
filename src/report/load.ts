import { basename, join, resolve } from 'node:path';
import { MAX_JSON_BYTES, readJsonFile } from '../input-file.ts';
import { checkName } from '../names.ts';
import { PulseError, describeZodError, excerpt } from '../errors.ts';
import { Results, RESULTS_SCHEMA_VERSION } from '../protocol/results-schema.ts';

export interface LoadedRun { label: string; dir: string; results: Results }

/** Reads and validates RUN_DIR/results.json; the report uses nothing else. */
export function loadRun(dir: string): LoadedRun {
  const path = join(dir, 'results.json');
  let raw = readJsonFile(path, MAX_JSON_BYTES, 'no such file (is this a run folder?)');
  if ((raw as { version?: unknown } | null)?.version === 1) raw = fromVersion1(raw as Version1);
  const version = (raw as { version?: unknown } | null)?.version;
  if (version !== RESULTS_SCHEMA_VERSION) throw new PulseError(`${path}: results version ${excerpt(String(JSON.stringify(version)), 40)} is not supported (this pulse reads version ${RESULTS_SCHEMA_VERSION})`);
  const parsed = Results.safeParse(raw);
  if (!parsed.success) throw new PulseError(`${path}: invalid results: ${describeZodError(parsed.error)}`);
  checkNames(parsed.data, path);
  return { label: checkName(parsed.data.run.id || basename(resolve(dir)), `${path}: run.id`), dir, results: parsed.data };
}

/**
 * The names results.json holds become file names (charts, compare folders): each must follow the names rule.
 * A run records each scenario once per seed, and each method and update target once per scenario entry; a
 * repeated one cannot come from a run, and the charts would draw the copies against each other.
 */
function checkNames(results: Results, path: string): void {
  /** Records where `key` first appears: `at` is its place, `place(k)` names entry k of the same list. */
  const once = (seen: Map<string, number>, key: string, index: number, place: (k: number) => string, what: string, at: string) => {
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new PulseError(`${path}: ${at}: ${what} appears again (first at ${place(earlier)}); a run records it once`);
    seen.set(key, index);
  };
  const scenarios = new Map<string, number>();
  results.scenarios.forEach((s, i) => {
    checkName(s.scenario, `${path}: scenarios.${i}.scenario`);
    once(scenarios, `${s.scenario} ${s.seed}`, i, (k) => `scenarios.${k}`, `${s.scenario} with seed ${s.seed}`, `scenarios.${i}`);
    const methods = new Map<string, number>();
    s.methods.forEach((m, j) => {
      checkName(m.method, `${path}: scenarios.${i}.methods.${j}.method`);
      once(methods, `${m.method} ${m.update_target}`, j, (k) => `methods.${k}`, `${m.method} [${m.update_target}]`, `scenarios.${i}.methods.${j}`);
    });
  });
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

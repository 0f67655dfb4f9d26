import type { RunConfig } from './config.ts';
import { isValidName } from '../names.ts';

/**
 * Sweeps: `grid:` maps setting paths to lists of values, and every combination of the values that
 * apply to a method in a scenario is its own method variant there, named
 * `<method>@<key>=<value>[,<key>=<value>...]` (keys sorted, as `label` reads them; values as
 * String(value) writes them). A grid varies the unlearning only:
 *   unlearn.<s>                                  every method, every scenario
 *   method_settings.<method>.<s>                 that method
 *   method_settings.<method>.hyperparameters.<h> that method's own λ, β, ...
 *   scenario_settings.<scenario>.<s>             every method, in that scenario only
 * where <s> is lr, epochs, batch_size, clip_norm, stop_at_forgotten, lora.rank, lora.alpha or
 * lora.dropout. What every method shares (fine_tune, world, model, seeds, eval, ...) is refused: a
 * grid point must not change a prerequisite the other points and methods start from.
 * A grid point is the config with its paths set to its values; nothing else changes, so a run
 * without `grid:` is exactly the run it always was.
 */

export type GridValue = number | null;

const SETTINGS = ['lr', 'epochs', 'batch_size', 'clip_norm', 'stop_at_forgotten'] as const;
const LORA_SETTINGS = ['rank', 'alpha', 'dropout'] as const;

/** A `grid:` key, read: the layer it sets, whose layer it is (method or scenario), and the setting's path inside it. */
export interface GridKey {
  /** as written under `grid:` */
  path: string;
  layer: 'unlearn' | 'method' | 'scenario';
  /** the method (method layer) or scenario (scenario layer) the layer belongs to */
  owner: string | null;
  /** inside the layer: ['lr'], ['lora', 'rank'], ['hyperparameters', 'beta'] */
  setting: string[];
  /** how the key reads in a variant's name: lr, lora.rank, beta */
  label: string;
  values: GridValue[];
}

/** One grid point of one method in one scenario. */
export interface Variant {
  /** `npo@beta=0.2,lr=0.0001`; the method's own name where no grid key applies to it */
  name: string;
  /** the registry method it runs */
  method: string;
  scenario: string;
  /** the config paths the point sets, with their values, in label order */
  overrides: [path: string, value: GridValue][];
}

const layerPrefix = (key: Pick<GridKey, 'layer' | 'owner'>) =>
  (key.layer === 'unlearn' ? ['unlearn'] : [key.layer === 'method' ? 'method_settings' : 'scenario_settings', key.owner!]);

/** A `grid:` path read into its layer and setting, or why it cannot be varied. */
export function parseGridKey(path: string, values: GridValue[]): GridKey | string {
  const parts = path.split('.');
  const layer = parts[0] === 'unlearn' ? 'unlearn' : parts[0] === 'method_settings' ? 'method' : parts[0] === 'scenario_settings' ? 'scenario' : null;
  if (layer === null) {
    return 'a grid varies the unlearning only (unlearn.*, method_settings.<method>.*, scenario_settings.<scenario>.*); '
      + `${parts[0]} is what every method and grid point shares`;
  }
  const owner = layer === 'unlearn' ? null : parts[1] ?? '';
  const setting = parts.slice(layer === 'unlearn' ? 1 : 2);
  const [head, leaf, ...more] = setting;
  const known = more.length === 0 && (
    (leaf === undefined && (SETTINGS as readonly string[]).includes(head ?? ''))
    || (head === 'lora' && (LORA_SETTINGS as readonly string[]).includes(leaf ?? ''))
    || (head === 'hyperparameters' && layer === 'method' && leaf !== undefined));
  if (owner === '' || !known) {
    const hyper = layer === 'method' ? ', hyperparameters.<name>' : '';
    return `not a setting a grid can vary (${[...SETTINGS, ...LORA_SETTINGS.map((s) => `lora.${s}`)].join(', ')}${hyper})`;
  }
  return { path, layer, owner, setting, label: head === 'hyperparameters' ? leaf! : setting.join('.'), values };
}

/** The config's grid keys, read (`gridProblem` has refused any that cannot be), sorted by label. */
export function gridKeys(config: RunConfig): GridKey[] {
  const keys = Object.entries(config.grid ?? {}).map(([path, values]) => parseGridKey(path, values));
  return keys.filter((k): k is GridKey => typeof k !== 'string').sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
}

const appliesTo = (key: GridKey, scenario: string, method: string) =>
  key.layer === 'unlearn' || key.owner === (key.layer === 'method' ? method : scenario);

/** Every combination of the keys' values, the first key's outermost. */
function combinations(keys: readonly GridKey[]): GridValue[][] {
  return keys.reduce<GridValue[][]>((points, key) => points.flatMap((p) => key.values.map((v) => [...p, v])), [[]]);
}

/** The grid points of one method in one scenario: the grid keys that apply there, combined; the method alone without any. */
export function variantsOf(config: RunConfig, scenario: string, method: string): Variant[] {
  const keys = gridKeys(config).filter((k) => appliesTo(k, scenario, method));
  return combinations(keys).map((values) => ({
    name: keys.length === 0 ? method : `${method}@${keys.map((k, i) => `${k.label}=${String(values[i])}`).join(',')}`,
    method, scenario,
    overrides: keys.map((k, i): [string, GridValue] => [k.path, values[i]!]),
  }));
}

/** The methods a run trains: its methods, and the ablation's method. */
function runMethods(config: RunConfig): string[] {
  return [...new Set([...config.methods, ...(config.ablation ? [config.ablation.method] : [])])];
}

/** The whole sweep: every (scenario, method) of the run expanded into its grid points, in run order. */
export function expandGrid(config: RunConfig): Variant[] {
  return config.scenarios.flatMap((scenario) => runMethods(config).flatMap((method) => variantsOf(config, scenario, method)));
}

/** The registry method a variant runs: its name up to `@` (registry names have none). */
export const baseMethod = (name: string) => name.split('@')[0]!;

function setAt(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  const [head, ...rest] = path;
  if (rest.length === 0) { target[head!] = value; return; }
  const next = target[head!];
  const child = typeof next === 'object' && next !== null ? next as Record<string, unknown> : {};
  target[head!] = child;
  setAt(child, rest, value);
}

/** The config of a grid point: the run's config with the point's paths set to its values. */
export function pointConfig(config: RunConfig, overrides: Variant['overrides']): RunConfig {
  if (overrides.length === 0) return config;
  const point = structuredClone(config);
  for (const [path, value] of overrides) setAt(point as unknown as Record<string, unknown>, path.split('.'), value);
  for (const settings of Object.values(point.method_settings)) settings.hyperparameters ??= {};
  return point;
}

/**
 * A method entry's registry method and the config its requests run with. Without a grid every
 * name is a registry method and the config is the run's own, untouched.
 */
export function resolveVariant(config: RunConfig, scenario: string, name: string): { method: string; config: RunConfig } {
  if (!config.grid) return { method: name, config };
  const variant = variantsOf(config, scenario, baseMethod(name)).find((v) => v.name === name);
  if (!variant) throw new Error(`'${name}' is not a grid point of ${scenario} in this config`);
  return { method: variant.method, config: pointConfig(config, variant.overrides) };
}

/** What validation needs from config.ts (which imports this module): a point's own check, and where a method runs. */
export interface PointChecks {
  /** the first problem of a whole config (a grid point's), or null */
  problem(config: RunConfig): string | null;
  /** whether the method runs in the scenario at all (o3 needs LoRA) */
  runs(config: RunConfig, scenario: string, method: string): boolean;
}


/** The first problem of the config's grid, as "grid.<key>: <why>" (or "grid: <why>"); null when there is none. */
export function gridProblem(config: RunConfig, checks: PointChecks): string | null {
  const read: GridKey[] = [];
  for (const [path, values] of Object.entries(config.grid ?? {})) {
    const key = parseGridKey(path, values);
    const problem = typeof key === 'string' ? key : keyProblem(config, key, checks);
    if (problem) return `grid.${path}: ${problem}`;
    read.push(key as GridKey);
  }
  return shadowProblem(config, read, checks) ?? labelProblem(config);
}

/**
 * One key on its own: its lora exists, its values are distinct and valid where they go (a point's check names an
 * unknown method, scenario or hyperparameter). A key of a known method or scenario the run leaves out (--methods,
 * --scenarios) applies nowhere: a sweep's config can be run a part at a time.
 */
function keyProblem(config: RunConfig, key: GridKey, checks: PointChecks): string | null {
  if (key.setting[0] === 'lora') {
    const layer = layerPrefix(key).reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], config) as { lora?: unknown } | undefined;
    const where = `${layerPrefix(key).join('.')}.lora`;
    if (layer?.lora === undefined) return `${where} is not set there; set it, or vary unlearn.lora.${key.setting[1]}`;
    if (layer.lora === null) return `${where} is null (a full update has no ${key.setting[1]})`;
  }
  const repeated = key.values.find((v, i) => key.values.indexOf(v) !== i);
  if (repeated !== undefined) return `${String(repeated)} is listed twice`;
  for (const value of key.values) {
    const problem = checks.problem(pointConfig(config, [[key.path, value]]));
    if (problem) return `${String(value)}: ${problem}`;
  }
  return null;
}

/**
 * A key that a more specific layer overrides for a method in a scenario would name variants that
 * run the same settings: refused. The order is the runner's (settingsFor): scenario_settings,
 * then method_settings, then unlearn; a grid point's own keys count as set.
 */
function shadowProblem(config: RunConfig, keys: readonly GridKey[], checks: PointChecks): string | null {
  const first = pointConfig(config, keys.map((k) => [k.path, k.values[0]!]));
  for (const key of keys) {
    const name = key.setting[0]!;
    if (name === 'hyperparameters') continue;
    for (const scenario of config.scenarios) {
      for (const method of runMethods(config)) {
        if (!appliesTo(key, scenario, method) || !checks.runs(first, scenario, method)) continue;
        const layers = [
          { layer: 'scenario', at: `scenario_settings.${scenario}`, settings: first.scenario_settings[scenario] },
          { layer: 'method', at: `method_settings.${method}`, settings: first.method_settings[method] },
          { layer: 'unlearn', at: 'unlearn', settings: first.unlearn },
        ] as const;
        const winner = layers.find((l) => (l.settings as Record<string, unknown> | undefined)?.[name] !== undefined)!;
        if (winner.layer !== key.layer) {
          return `grid.${key.path}: no effect on ${method} in ${scenario}, where ${winner.at}.${name} overrides it `
            + '(scenario_settings, then method_settings, then unlearn); vary that key instead, or remove it';
        }
      }
    }
  }
  return null;
}

/** Two keys that read the same in one variant's name, or a name the names rule refuses. */
function labelProblem(config: RunConfig): string | null {
  const keys = gridKeys(config);
  for (const scenario of config.scenarios) {
    for (const method of runMethods(config)) {
      const own = keys.filter((k) => appliesTo(k, scenario, method));
      const clash = own.find((k, i) => own.findIndex((o) => o.label === k.label) !== i);
      if (clash) return `grid: ${own.filter((k) => k.label === clash.label).map((k) => k.path).join(' and ')} both read '${clash.label}' in ${method}'s variant names`;
      const long = variantsOf(config, scenario, method).find((v) => !isValidName(v.name));
      if (long) return `grid: the variant name '${long.name.slice(0, 120)}' is not a valid name (letters, digits, _ . = + @ , -, at most 100 characters)`;
    }
  }
  return null;
}

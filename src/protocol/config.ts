import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PulseError, describeZodError, errorExcerpt, excerpt } from '../errors.ts';
import { UpdateTarget } from './results-schema.ts';
import { SCENARIO_NAMES } from './scenarios.ts';
import { METHODS } from '../unlearn/registry.ts';
import { ATTACKS } from '../attacks/registry.ts';
import { kindForPath, parseModelSpec, type ModelSpec } from '../model/registry.ts';
import { gridProblem } from './grid.ts';
import { fromPortable, portablePath } from '../paths.ts';

const Lora = z.object({
  rank: z.number().int().positive(),
  alpha: z.number().positive(),
  dropout: z.number().min(0).max(0.9),
  /** linear layers to adapt by name (qkv, proj, fc, head, fc1, fc2); [] = all */
  layers: z.array(z.string()),
}).strict();

const Optimisation = z.object({
  lr: z.number().positive(),
  epochs: z.number().int().positive(),
  batch_size: z.number().int().positive(),
  /** LoRA settings, or null to update the target's parameters in full */
  lora: Lora.nullable(),
  clip_norm: z.number().positive(),
  /** end a request once forgotten % on D_unlearn reaches this level at an evaluation point (null = run every epoch) */
  stop_at_forgotten: z.number().min(0).max(100).nullable(),
}).strict();

/** Per-method settings: optimisation (all optional, falling back to `unlearn`) plus the method's own λ, β, ... */
const MethodSettings = Optimisation.partial().extend({
  hyperparameters: z.record(z.string(), z.number()).default({}),
}).strict();

export const RunConfig = z.object({
  /** master seed: what every seed shares (the fine-tune, the general subset, selection tie-breaks) derives from it */
  seed: z.number().int().nonnegative(),
  /**
   * The protocol runs once per seed (null = once, with `seed`): each seed draws its own split of
   * people, request order, batch order and adapter initialisation.
   */
  seeds: z.array(z.number().int().nonnegative()).min(1).nullable(),
  world: z.object({
    seed: z.number().int().nonnegative(),
    /** where the generated world lives (generated on first use) */
    dir: z.string(),
  }).strict(),
  /** real datasets instead of the generated world: MLLMU-Bench's folder and MMBench's TSV (null = the world) */
  data: z.object({ mllmu: z.string().min(1), mmbench: z.string().min(1) }).strict().nullable(),
  /**
   * the base model: `kind` picks its loader (model/registry.ts), or a Hugging Face folder's model_type does when `kind`
   * is left out; the other keys are the kind's own
   */
  model: z.object({ kind: z.string().optional() }).catchall(z.unknown()).transform((m) => m as ModelSpec),
  /** multiple-choice scoring; "model" = the base model's default mode */
  scoring: z.enum(['model', 'letter', 'likelihood']),
  threads: z.number().int().positive().nullable(),
  /** names from the scenario table (protocol/scenarios.ts) */
  scenarios: z.array(z.string()).min(1),
  methods: z.array(z.string()).min(1),
  update_target: UpdateTarget,
  /** the paper's update-target ablation: one method on the fine-tuned scenario with other targets */
  ablation: z.object({ method: z.string(), targets: z.array(UpdateTarget) }).strict().nullable(),
  fine_tune: z.object({
    people: z.number().int().positive(),
    steps: z.number().int().positive(),
    lr: z.number().positive(),
    batch_size: z.number().int().positive(),
    /** share of each batch drawn from the pre-training corpus, against forgetting */
    replay: z.number().min(0).max(0.9),
    lora: Lora,
    /** parts that take adapters (vision is updated in full when named) */
    target: UpdateTarget,
  }).strict(),
  fine_tuned: z.object({ unlearn: z.number().int().positive(), retain: z.number().int().positive() }).strict(),
  pre_trained: z.object({
    /** how many well-known celebrities behaviour-based selection keeps */
    keep: z.number().int().positive(),
    /** minimum accuracy (percent) in each modality to count as known */
    threshold: z.number().min(0).max(100),
    unlearn: z.number().int().positive(),
    retain: z.number().int().positive(),
  }).strict(),
  sustainability: z.object({ requests: z.number().int().positive() }).strict(),
  unlearn: Optimisation,
  method_settings: z.record(z.string(), MethodSettings).default({}),
  /**
   * Per-scenario optimisation (all optional): over `unlearn` and over method_settings, since a
   * scenario's regime (e.g. a full update where no fine-tuning happened) holds for every method.
   */
  scenario_settings: z.record(z.string(), Optimisation.partial().strict()).default({}),
  /**
   * Sweeps (protocol/grid.ts): setting paths of the unlearning (unlearn.lr, method_settings.npo.hyperparameters.beta,
   * scenario_settings.pre_trained.epochs, ...) to lists of values; every combination is its own method variant.
   * Absent, not empty, by default: a config without it keeps its hash.
   */
  grid: z.record(z.string(), z.array(z.number().nullable()).min(1)).optional(),
  /** attacks run after every request (src/attacks/registry.ts; `all` = every one); [] = none */
  attacks: z.array(z.string()),
  attack_settings: z.object({
    /** relearning: LoRA on the request's target, `steps` of answer NLL at `lr` */
    relearn: z.object({ steps: z.number().int().positive(), lr: z.number().positive(), batch_size: z.number().int().positive(), lora: Lora }).strict(),
    /** open-ended answers: greedy token budgets of a generation answer and of a cloze blank */
    open_ended: z.object({ generation_tokens: z.number().int().positive(), cloze_tokens: z.number().int().positive() }).strict(),
  }).strict(),
  eval: z.object({
    batch_size: z.number().int().positive(),
    /** general-benchmark questions scored after every request (null = all) */
    general_items: z.number().int().positive().nullable(),
    /**
     * Scoring points inside each request besides its end: 'request' (the end only), 'epoch', or
     * every N optimisation steps. They make the trajectories and the matched-forgetting table.
     */
    every: z.union([z.enum(['request', 'epoch']), z.number().int().positive()]),
    /** score the retain oracle (the base model fine-tuned on D_retain's people only) in the fine-tuned scenarios */
    oracle: z.boolean(),
    /** bootstrap resamples of people for the within-seed intervals */
    bootstrap: z.number().int().min(0),
  }).strict(),
}).strict();
export type RunConfig = z.infer<typeof RunConfig>;

const LORA_DEFAULT = { rank: 8, alpha: 16, dropout: 0, layers: [] as string[] };

/**
 * The protocol's sizes (PROTOCOL.md): 100 fine-tuned people split 50/50, 45 known celebrities split 20/25, 5 requests
 * of 10. Locations are in their portable spelling (src/paths.ts): `.cache/pulse/...` is the cache, any other relative
 * path is the package's; resolveConfig makes them absolute.
 */
const PAPER: RunConfig = {
  seed: 0,
  seeds: [0, 1, 2],
  world: { seed: 0, dir: '.cache/pulse/world-0' },
  data: null,
  model: { kind: 'embedded', path: 'assets/base.safetensors' },
  scoring: 'model',
  threads: null,
  scenarios: ['fine_tuned', 'pre_trained', 'sustainability'],
  methods: ['ga', 'ga_klr', 'npo'],
  update_target: 'projector+llm',
  ablation: { method: 'ga', targets: ['llm'] },
  fine_tune: { people: 100, steps: 600, lr: 3e-3, batch_size: 32, replay: 0.25, lora: { ...LORA_DEFAULT, rank: 16, alpha: 32 }, target: 'projector+llm' },
  fine_tuned: { unlearn: 50, retain: 50 },
  pre_trained: { keep: 45, threshold: 80, unlearn: 20, retain: 25 },
  sustainability: { requests: 5 },
  unlearn: { lr: 3e-4, epochs: 5, batch_size: 25, lora: LORA_DEFAULT, clip_norm: 1, stop_at_forgotten: null },
  method_settings: { ga_klr: { hyperparameters: { lambda: 1 } }, npo: { hyperparameters: { beta: 0.1 } } },
  // PROTOCOL.md: LoRA where a fine-tune happened; a full update of the target in the pre-trained scenario.
  scenario_settings: { pre_trained: { lora: null } },
  eval: { batch_size: 256, general_items: null, every: 'epoch', oracle: true, bootstrap: 1000 },
  attacks: [],
  // open-ended budgets: the generated world's answers are at most three words; a LLaVA on MLLMU-Bench's sentences needs ~64
  attack_settings: {
    relearn: { steps: 20, lr: 3e-3, batch_size: 16, lora: { ...LORA_DEFAULT, rank: 8, alpha: 16 } },
    open_ended: { generation_tokens: 8, cloze_tokens: 6 },
  },
};

/** Small and fast (tests, smoke runs): the paper preset's shape with fewer people and steps. */
const QUICK: RunConfig = {
  ...PAPER,
  fine_tune: { ...PAPER.fine_tune, people: 10, steps: 40, batch_size: 16, lora: { ...LORA_DEFAULT, rank: 4, alpha: 8 } },
  fine_tuned: { unlearn: 6, retain: 4 },
  pre_trained: { keep: 6, threshold: 0, unlearn: 3, retain: 3 },
  sustainability: { requests: 3 },
  unlearn: { ...PAPER.unlearn, epochs: 1, batch_size: 8, lora: { ...LORA_DEFAULT, rank: 4, alpha: 8 } },
  seeds: null,
  eval: { batch_size: 256, general_items: 40, every: 'request', oracle: false, bootstrap: 200 },
};

export const PRESETS: Record<'paper' | 'quick', RunConfig> = { paper: PAPER, quick: QUICK };

export type PresetName = keyof typeof PRESETS;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Deep merge for config layers: objects merge key by key, everything else replaces. A section
 * that names another `kind` (model: { kind: llava, ... }) replaces the section: keys of one kind
 * mean nothing to another.
 */
export function mergeConfig(base: unknown, override: unknown): unknown {
  if (!isObject(base) || !isObject(override)) return override === undefined ? base : override;
  if ('kind' in override && override.kind !== base.kind) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = k in base ? mergeConfig(base[k], v) : v;
  return out;
}

/** The first name that is not known, as "<key>: unknown <what> 'x' (known: a, b)"; null when all are. */
function firstUnknown(names: readonly string[], known: readonly string[], key: (name: string, index: number) => string, what: string): string | null {
  const bad = names.findIndex((n) => !known.includes(n));
  if (bad < 0) return null;
  return `${key(excerpt(names[bad]!, 60), bad)}: unknown ${what} '${excerpt(names[bad]!, 60)}' (known: ${known.join(', ') || 'none'})`;
}

/** The first name listed a second time, as "<key>: '<name>' is listed twice"; null when each is listed once. */
function firstRepeat(names: readonly string[], key: (index: number) => string): string | null {
  const again = names.findIndex((n, i) => names.indexOf(n) < i);
  return again < 0 ? null : `${key(again)}: '${excerpt(names[again]!, 60)}' is listed twice (a run trains and scores each once)`;
}

/** Methods, their settings and the scenarios must name what the registries and the scenario table hold, each once. */
function checkNames(config: RunConfig): string | null {
  const methods = [...METHODS.keys()];
  const problems = [
    firstUnknown(config.methods, methods, (_, i) => `methods.${i}`, 'unlearning method'),
    firstUnknown(config.ablation ? [config.ablation.method] : [], methods, () => 'ablation.method', 'unlearning method'),
    firstUnknown(Object.keys(config.method_settings), methods, (name) => `method_settings.${name}`, 'unlearning method'),
    firstUnknown(config.scenarios, SCENARIO_NAMES, (_, i) => `scenarios.${i}`, 'scenario'),
    firstUnknown(Object.keys(config.scenario_settings), SCENARIO_NAMES, (name) => `scenario_settings.${name}`, 'scenario'),
    firstUnknown(config.attacks, ['all', ...ATTACKS.keys()], (_, i) => `attacks.${i}`, 'attack'),
    firstRepeat(config.methods, (i) => `methods.${i}`),
    firstRepeat(config.ablation?.targets ?? [], (i) => `ablation.targets.${i}`),
    firstRepeat(config.scenarios, (i) => `scenarios.${i}`),
    ...Object.entries(config.method_settings).map(([method, settings]) => firstUnknown(Object.keys(settings.hyperparameters),
      Object.keys(METHODS.get(method)?.defaults ?? {}), (name) => `method_settings.${method}.hyperparameters.${name}`, 'hyperparameter')),
  ];
  return problems.find((p) => p !== null) ?? null;
}

/**
 * Whether a method that needs LoRA (o3) cannot run in a scenario because its settings update in full there (lora
 * from the most specific layer, as the runner reads it). The runner skips it there, with a note.
 */
export function needsAbsentLora(config: RunConfig, scenario: string, method: string): boolean {
  if (!METHODS.get(method)?.needsLora) return false;
  const layers = [config.scenario_settings[scenario] ?? {}, config.method_settings[method] ?? {}, config.unlearn];
  return layers.find((l) => l.lora !== undefined)!.lora === null;
}

/** A method that needs LoRA in a config whose every scenario updates in full: it would run nowhere. */
function loraProblem(config: RunConfig): string | null {
  const methods = [...config.methods, ...(config.ablation ? [config.ablation.method] : [])];
  const nowhere = methods.find((m) => config.scenarios.every((s) => needsAbsentLora(config, s, m)));
  if (!nowhere) return null;
  return `${nowhere} trains one LoRA adapter per request, but every scenario of this run updates in full (lora: null); `
    + `add a scenario that uses LoRA, or give ${nowhere} a lora in scenario_settings`;
}

/** Every stop_at_forgotten level a layer of the unlearning settings sets. */
function stopLevels(config: RunConfig): (number | null)[] {
  const layers = [config.unlearn, ...Object.values(config.method_settings), ...Object.values(config.scenario_settings)];
  return layers.map((l) => l.stop_at_forgotten ?? null);
}

/** The seeds the protocol runs with, in order. */
export function seedList(config: RunConfig): number[] {
  return config.seeds ?? [config.seed];
}

/**
 * Validates a config, turning the first problem into one error that names the key and where its value
 * came from: `source` (the file or preset), or, for a key `blame` knows (set on the command line), that.
 */
export function validateConfig(raw: unknown, source: string, blame: (key: string) => string | undefined = () => undefined): RunConfig {
  const fail = (message: string, key: string | undefined): never => {
    throw new PulseError(`invalid config (${(key === undefined ? undefined : blame(key)) ?? source}): ${message}`);
  };
  const result = RunConfig.safeParse(raw);
  if (!result.success) fail(describeZodError(result.error), result.error.issues[0]?.path[0]?.toString());
  const config = result.data!;
  const names = checkNames(config) ?? loraProblem(config);
  if (names) fail(names, names.split(/[.:]/)[0]);
  try {
    config.model = parseModelSpec(config.model);
  } catch (e) {
    if (e instanceof PulseError) fail(e.message, 'model');
    throw e;
  }
  const size = sizeProblem(config);
  if (size) fail(size.message, size.key);
  const grid = gridProblem(config, { problem: pointProblem, runs: (c, s, m) => !needsAbsentLora(c, s, m) });
  if (grid) fail(grid, 'grid');
  return config;
}

/** Sizes and settings that must agree with each other: the first that does not, and the top-level key it is under. */
function sizeProblem(config: RunConfig): { message: string; key: string } | null {
  const sizes = [
    [config.fine_tuned.unlearn + config.fine_tuned.retain <= config.fine_tune.people, 'fine_tuned.unlearn + fine_tuned.retain must not exceed fine_tune.people', 'fine_tuned'],
    [config.pre_trained.unlearn + config.pre_trained.retain <= config.pre_trained.keep, 'pre_trained.unlearn + pre_trained.retain must not exceed pre_trained.keep', 'pre_trained'],
    [config.fine_tuned.unlearn % config.sustainability.requests === 0, 'fine_tuned.unlearn must split evenly into sustainability.requests', 'sustainability'],
    [config.data === null || config.fine_tune.replay === 0, 'fine_tune.replay must be 0 with data: (real datasets have no pre-training corpus to replay)', 'data'],
    [new Set(config.seeds ?? []).size === (config.seeds ?? []).length, 'seeds must not repeat a seed', 'seeds'],
    [config.eval.every !== 'request' || stopLevels(config).every((l) => l === null),
      'unlearn.stop_at_forgotten needs scoring inside requests: set eval.every to epoch or a number of steps', 'eval'],
  ] as const;
  const found = sizes.find(([ok]) => !ok);
  return found ? { message: found[1], key: found[2] } : null;
}

/** A grid point's config (the run's, with some settings set): every check but the model's, which a grid never changes. */
function pointProblem(point: RunConfig): string | null {
  const result = RunConfig.safeParse(point);
  if (!result.success) return describeZodError(result.error);
  return checkNames(result.data) ?? loraProblem(result.data) ?? sizeProblem(result.data)?.message ?? null;
}

/**
 * A config layer whose `model:` gives a path but no kind takes the kind of the model at that path (a Hugging Face
 * folder's model_type), so that it replaces an earlier layer's model of another kind instead of merging into it.
 */
function withModelKind(layer: Record<string, unknown>): Record<string, unknown> {
  const model = layer.model;
  if (!isObject(model) || model.kind !== undefined || typeof model.path !== 'string') return layer;
  if (!existsSync(model.path)) throw new PulseError(`model.path: ${model.path} does not exist`);
  const kind = kindForPath(model.path);
  if (!kind) {
    throw new PulseError(`model.path: ${model.path}: no Hugging Face folder (config.json with a model_type) nor embedded model there, `
      + 'and no model.kind says what it is');
  }
  return { ...layer, model: { kind, ...model } };
}

/** The keys that name a file or folder: `model.path` is every model kind's location by convention. */
const PATH_KEYS = [['world', 'dir'], ['data', 'mllmu'], ['data', 'mmbench'], ['model', 'path']] as const;

/** A config layer with each of its locations mapped (the layer itself is left as it was). */
function mapPaths<T>(layer: T, map: (path: string) => string): T {
  if (!isObject(layer)) return layer;
  const out: Record<string, unknown> = { ...layer };
  for (const [section, key] of PATH_KEYS) {
    const value = out[section];
    // an empty location stays empty, to be refused as such: resolved, it would silently name the current folder
    if (isObject(value) && typeof value[key] === 'string' && value[key] !== '') out[section] = { ...value, [key]: map(value[key]) };
  }
  return out as T;
}

/**
 * The config as it identifies a run (the run folder's config hash): its locations in their portable spelling, so the
 * hash depends neither on where pulse is installed nor on the cache's folder, and a preset's defaults hash as they
 * did when they were paths relative to a checkout.
 */
export function portableConfig(config: RunConfig): RunConfig {
  return mapPaths(config, portablePath);
}

/** Config files are small: a larger one is not a config (and YAML of that size would cost far more memory). */
const MAX_CONFIG_BYTES = 1 << 20;

/** A key that JavaScript gives a meaning of its own: merged into an object it would change the object, not set a value. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function forbiddenKey(value: unknown, path: string[] = []): string | null {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) { const found = forbiddenKey(v, [...path, String(i)]); if (found) return found; }
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(k)) return [...path, k].join('.');
      const found = forbiddenKey(v, [...path, k]);
      if (found) return found;
    }
  }
  return null;
}

/** A config file as YAML, at most MAX_CONFIG_BYTES, a mapping with no key that names JavaScript internals; any problem is one PulseError. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    if (statSync(file).size > MAX_CONFIG_BYTES) throw new PulseError(`config ${file} is larger than ${MAX_CONFIG_BYTES} bytes: not a config file`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof PulseError) throw e;
    throw new PulseError(`cannot read config ${file}: ${errorExcerpt(e)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (e) {
    throw new PulseError(`config ${file} is not valid YAML: ${errorExcerpt(e)}`);
  }
  if (parsed !== null && !isObject(parsed)) throw new PulseError(`config ${file} must be a YAML mapping`);
  const forbidden = forbiddenKey(parsed);
  if (forbidden) throw new PulseError(`config ${file}: key '${forbidden}' is not allowed (it names a JavaScript object's internals, not a setting)`);
  return (parsed ?? {}) as Record<string, unknown>;
}

/**
 * Preset, then YAML file, then overrides (the command line's options); validated once at the end. Locations come out
 * absolute: a preset's in the package or the cache, a file's relative to the file's folder, an override's relative to
 * the current folder. `overridesFrom` names where an override came from (`--seeds`), for messages about its value.
 */
export function resolveConfig(options: {
  preset?: PresetName | undefined; file?: string | undefined; overrides?: Record<string, unknown>; overridesFrom?: (key: string) => string;
}): RunConfig {
  const presetName = options.preset ?? 'paper';
  if (!Object.hasOwn(PRESETS, presetName)) throw new PulseError(`unknown preset '${presetName}' (presets: ${Object.keys(PRESETS).join(', ')})`);
  let merged: unknown = mapPaths(structuredClone(PRESETS[presetName]), fromPortable);
  let source = `preset ${presetName}`;
  if (options.file) {
    const folder = dirname(resolve(options.file));
    merged = mergeConfig(merged, withModelKind(mapPaths(readConfigFile(options.file), (path) => resolve(folder, path))));
    source = options.file;
  }
  const overrides = options.overrides ?? {};
  merged = mergeConfig(merged, withModelKind(mapPaths(overrides, (path) => resolve(path))));
  const from = options.overridesFrom;
  return validateConfig(merged, source, (key) => (from && Object.hasOwn(overrides, key) ? from(key) : undefined));
}

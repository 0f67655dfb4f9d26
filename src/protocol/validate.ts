import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { PulseError, errorExcerpt } from '../errors.ts';
import { checkName } from '../names.ts';
import { tempPathFor, writeFailure } from '../atomic-file.ts';
import { assertSameWorld, disposeDelta, parseTarget, type LoraSpec, type Part, type PulseModel } from '../model/model.ts';
import { loadModel } from '../model/registry.ts';
import type { ProtocolData } from '../data/records.ts';
import { getMethod } from '../unlearn/registry.ts';
import { attacksNamed } from '../attacks/registry.ts';
import { CELEBRITIES, SCENARIOS, type Scenario } from './scenarios.ts';
import type { RunConfig } from './config.ts';
import { methodEntries, settingsFor } from './settings.ts';
import { baseMethod } from './grid.ts';

/**
 * Everything about a run that can be known before it starts, checked before its folder exists: the
 * run's name and output place, its sizes against the data they draw from, every LoRA layer name
 * against the model's modules, every method's settings, the refusals the methods need. A run that
 * passes does not stop later on its configuration: the first problem is one PulseError.
 */
export interface RunToValidate {
  config: RunConfig;
  outDir: string;
  model: PulseModel;
  data: ProtocolData;
  /** the scenarios the run takes from its table (the protocol's by default) */
  scenarios?: readonly Scenario[];
}

export function validateRun(run: RunToValidate): void {
  const { config, outDir, model, data } = run;
  const scenarios = config.scenarios.map((name) => (run.scenarios ?? SCENARIOS).find((s) => s.name === name)).filter((s): s is Scenario => !!s);
  checkNotAnInput(config, outDir);
  checkSizes(config, data, scenarios);
  checkMethods(config, data, model, scenarios);
  checkRunFolder(outDir);
}

/** The run's name (the folder's last part) and whether its folder can be made there: what the CLI checks before loading anything. */
export function checkRunFolder(outDir: string): void {
  checkName(basename(resolve(outDir)), `--out ${outDir}: the run's name (the folder's last part)`);
  checkOutputPlace(outDir);
}

/** `pulse run --check`: loads the model and the data as a run does, validates the run, and creates nothing. */
export async function checkRun(run: Omit<RunToValidate, 'model' | 'data'> & { loadData: (config: RunConfig) => Promise<ProtocolData> }): Promise<void> {
  const model = await loadModel(run.config.model);
  try {
    const data = await run.loadData(run.config);
    assertSameWorld(model.info, data.world);
    validateRun({ ...run, model, data });
  } finally {
    model.dispose();
  }
}

const inside = (path: string, folder: string) => {
  const rel = relative(resolve(folder), resolve(path));
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
};

/** The run folder is never an input folder (the world's, the dataset's, a model folder's) or inside one: inputs are only read. */
function checkNotAnInput(config: RunConfig, outDir: string): void {
  const inputs: [string, string][] = config.data ? [['data.mllmu', config.data.mllmu]] : [['world.dir', config.world.dir]];
  const modelPath = config.model.path;
  if (typeof modelPath === 'string' && isFolder(modelPath)) inputs.push(['model.path', modelPath]);
  for (const [key, folder] of inputs) {
    if (folder && inside(outDir, folder)) {
      throw new PulseError(`--out ${outDir}: the run folder would be inside ${key} (${folder}), which pulse only reads; choose another --out`);
    }
  }
}

function isFolder(path: string): boolean {
  try { return statSync(path).isDirectory(); } catch { return false; }
}

/** Every size of the config against the people and questions the data has. */
function checkSizes(config: RunConfig, data: ProtocolData, scenarios: readonly Scenario[]): void {
  const fictitious = data.fictitious.length;
  if (config.fine_tune.people > fictitious) {
    throw new PulseError(`fine_tune.people is ${config.fine_tune.people}, but the data has ${fictitious} fictitious people (Full_Set)`);
  }
  for (const scenario of scenarios) {
    const sizes = scenario.sizes(config);
    const needed = sizes.unlearn + sizes.retain;
    if (scenario.people === CELEBRITIES) {
      const have = data.celebrities.length;
      if (config.pre_trained.keep > have) throw new PulseError(`pre_trained.keep is ${config.pre_trained.keep}, but the data has ${have} celebrities (Retain_Set)`);
      if (needed > have) throw new PulseError(`${scenario.name} needs ${needed} people (unlearn + retain), but the data has ${have} celebrities`);
    } else if (scenario.start === 'fine_tuned' && needed > config.fine_tune.people) {
      throw new PulseError(`${scenario.name} needs ${needed} people (unlearn + retain), but fine_tune.people is ${config.fine_tune.people}`);
    }
    if (sizes.requests < 1 || sizes.unlearn % sizes.requests !== 0) {
      throw new PulseError(`${scenario.name}: ${sizes.unlearn} people to unlearn do not split into ${sizes.requests} equal requests`);
    }
  }
}

/** The LoRA specs a run will attach, with where each comes from, and every method's own settings. */
function checkMethods(config: RunConfig, data: ProtocolData, model: PulseModel, scenarios: readonly Scenario[]): void {
  const specs = new Map<string, { spec: LoraSpec; where: string }>();
  const add = (lora: Omit<LoraSpec, 'parts'> | null, parts: Part[], where: string) => {
    if (!lora) return;
    const spec = { rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, layers: [...lora.layers], parts };
    const key = JSON.stringify([spec.layers, spec.parts]);
    if (!specs.has(key)) specs.set(key, { spec, where });
  };
  add(config.fine_tune.lora, parseTarget(config.fine_tune.target), 'fine_tune.lora');
  const relearn = attacksNamed(config.attacks).some((a) => a.name.startsWith('relearn'));
  for (const scenario of scenarios) {
    // every grid point of every method the scenario runs (the ablation's targets included), with its own settings
    for (const { method: variant, target } of methodEntries(config, scenario)) {
      const method = baseMethod(variant);
      const settings = settingsFor(config, scenario.name, variant, target, 0);
      const where = `${scenario.name}, ${variant} [${target}]`;
      const problem = getMethod(method).checkHyperparameters?.(settings.hyperparameters, model);
      if (problem) throw new PulseError(`method_settings.${method}.hyperparameters${variant === method ? '' : ` (${variant})`}: ${problem}`);
      if (getMethod(method).needsRefusals && data.refusals.length === 0) throw new PulseError(`${method} needs refusal answers, and the data has none`);
      add(settings.lora, settings.target, `the lora of ${where}`);
      if (relearn) add(config.attack_settings.relearn.lora, settings.target, 'attack_settings.relearn.lora');
    }
  }
  for (const { spec, where } of specs.values()) {
    try {
      model.attachLora(spec);
    } catch (e) {
      throw e instanceof PulseError ? new PulseError(`${where}: ${e.message}`) : e;
    }
    disposeDelta(model.detachLora());
  }
}

/**
 * Whether the run folder can be made, with one probe that cannot hang: a temp folder made and removed
 * at the first place that exists on the way to it. A
 * virtual filesystem (/proc, /sys), a read-only one, a full one or a missing permission answers at once.
 */
export function checkOutputPlace(outDir: string): void {
  const target = resolve(outDir);
  let place = target;
  let missing: string | null = null;
  for (let depth = 0; ; depth++) {
    try {
      if (!statSync(place).isDirectory()) {
        throw new PulseError(`--out ${outDir}: ${place} is a file, not a ${place === target ? 'run folder' : 'folder'}`);
      }
      break;
    } catch (e) {
      if (e instanceof PulseError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(place) === place || depth > 256) throw cannot(outDir, e, place);
      missing = basename(place);
      place = dirname(place);
    }
  }
  // An existing run folder is left untouched (a finished run's rerun changes nothing): a write that fails there is one WriteError.
  if (!missing) return;
  const probe = tempPathFor(join(place, missing));
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (e) {
    throw cannot(outDir, e, place);
  }
}

function cannot(outDir: string, e: unknown, place: string): PulseError {
  const failure = writeFailure(e, place);
  const why = failure instanceof PulseError ? failure.message.replace(/^cannot write [^:]*: /, '') : errorExcerpt(e);
  return new PulseError(`--out ${outDir}: cannot create the run folder in ${place}: ${why}`);
}

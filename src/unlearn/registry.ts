import { PulseError, errorExcerpt } from '../errors.ts';
import { isValidName } from '../names.ts';
import type { UnlearningMethod } from './method.ts';
import { gradientAscent } from './ga.ts';
import { gradientAscentKlRetain } from './ga-klr.ts';
import { negativePreferenceOptimization } from './npo.ts';
import { gradientDifference } from './grad-diff.ts';
import { klMinimization } from './kl-min.ts';
import { npoRetain } from './npo-rt.ts';
import { simpleNpo } from './simnpo.ts';
import { representationMisdirection } from './rmu.ts';
import { idkNll } from './idk-nll.ts';
import { idkDpo } from './idk-dpo.ts';
import { mmunlearner } from './fisher-mask.ts';
import { orthogonalLora } from './o3.ts';

/** The methods pulse ships. Adding one: a file with its loss, one line here, one test. */
const BUILT_IN: readonly UnlearningMethod[] = [
  gradientAscent,
  gradientAscentKlRetain,
  negativePreferenceOptimization,
  gradientDifference,
  klMinimization,
  npoRetain,
  simpleNpo,
  representationMisdirection,
  idkNll,
  idkDpo,
  mmunlearner,
  orthogonalLora,
];

const registry = new Map<string, UnlearningMethod>(BUILT_IN.map((m) => [m.name, m]));

/** Every unlearning method by name: the built-in ones, then those plug-ins registered. */
export const METHODS: ReadonlyMap<string, UnlearningMethod> = registry;

export function getMethod(name: string): UnlearningMethod {
  const method = METHODS.get(name);
  if (!method) throw new RangeError(`unknown unlearning method '${name}' (known: ${[...METHODS.keys()].join(', ')})`);
  return method;
}

/**
 * Adds a method from outside pulse (a plug-in) under its name, after checking that it has the
 * shape of a built-in one; `source` names it in errors. A name already taken is refused.
 */
export function registerMethod(method: unknown, source: string): UnlearningMethod {
  let problem: string | null;
  try {
    problem = shapeProblem(method);
  } catch (e) {
    // a plug-in's object is code: a getter of it may throw
    problem = `reading it failed: ${errorExcerpt(e)}`;
  }
  if (problem) throw new PulseError(`${source}: not an unlearning method: ${problem}`);
  const checked = method as UnlearningMethod;
  if (registry.has(checked.name)) throw new PulseError(`${source}: a method named '${checked.name}' is already registered`);
  registry.set(checked.name, checked);
  return checked;
}

/** Removes a plug-in's method (tests load and unload plug-ins in one process); built-in methods stay. */
export function unregisterMethod(name: string): void {
  if (!BUILT_IN.some((m) => m.name === name)) registry.delete(name);
}

function shapeProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'expected an object with name, description, needsReference, needsRetain, defaults and loss';
  const m = value as Record<string, unknown>;
  // Method names become file names (checkpoints, charts): the names rule (src/names.ts) holds, and more narrowly, config-friendly names.
  if (typeof m.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(m.name) || !isValidName(m.name)) {
    return `name must be lower-case letters, digits and _, at most 100 (got ${JSON.stringify(m.name)?.slice(0, 120)})`;
  }
  if (typeof m.loss !== 'function') return `${m.name}: loss must be a function of the step's inputs`;
  if (m.prepare !== undefined && typeof m.prepare !== 'function') return `${m.name}: prepare, when given, must be a function of the request's context`;
  if (m.checkHyperparameters !== undefined && typeof m.checkHyperparameters !== 'function') return `${m.name}: checkHyperparameters, when given, must be a function`;
  if (typeof m.needsReference !== 'boolean' || typeof m.needsRetain !== 'boolean') return `${m.name}: needsReference and needsRetain must be booleans`;
  if (typeof m.description !== 'string') return `${m.name}: description must be a string`;
  if (m.needsLora !== undefined && typeof m.needsLora !== 'boolean') return `${m.name}: needsLora, when given, must be a boolean`;
  const defaults = m.defaults;
  if (typeof defaults !== 'object' || defaults === null || Object.values(defaults).some((v) => typeof v !== 'number')) {
    return `${m.name}: defaults must map hyperparameter names to numbers`;
  }
  return null;
}

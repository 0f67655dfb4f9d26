import type { UnlearningMethod } from './method.ts';
import { gradientAscent } from './ga.ts';
import { gradientAscentKlRetain } from './ga-klr.ts';
import { negativePreferenceOptimization } from './npo.ts';

/** Every unlearning method by name. Adding one: a file with its loss, one line here, one test. */
export const METHODS: ReadonlyMap<string, UnlearningMethod> = new Map([
  gradientAscent,
  gradientAscentKlRetain,
  negativePreferenceOptimization,
].map((m) => [m.name, m]));

export function getMethod(name: string): UnlearningMethod {
  const method = METHODS.get(name);
  if (!method) throw new RangeError(`unknown unlearning method '${name}' (known: ${[...METHODS.keys()].join(', ')})`);
  return method;
}

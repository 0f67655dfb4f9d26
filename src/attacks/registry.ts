import type { Attack } from './attack.ts';
import { membershipAttack } from './mia.ts';
import { relearnAttack, relearnRetainAttack } from './relearn.ts';
import { crossModalAttack } from './cross-modal.ts';
import { openEndedAttack } from './open-ended.ts';

/** Every attack, in the order they run and are reported. Adding one: a file, one line here, one test. */
const BUILT_IN: readonly Attack[] = [
  relearnAttack,
  relearnRetainAttack,
  membershipAttack,
  crossModalAttack,
  openEndedAttack,
];

export const ATTACKS: ReadonlyMap<string, Attack> = new Map(BUILT_IN.map((a) => [a.name, a]));

/** The attacks a config names, `all` standing for every one. */
export function attacksNamed(names: readonly string[]): Attack[] {
  const wanted = names.includes('all') ? [...ATTACKS.keys()] : names;
  return wanted.map((n) => {
    const attack = ATTACKS.get(n);
    if (!attack) throw new RangeError(`unknown attack '${n}' (known: all, ${[...ATTACKS.keys()].join(', ')})`);
    return attack;
  });
}

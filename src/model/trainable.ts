import { keep, noGrad, type Module, type Tensor } from '../torch/index.ts';
import type { LoraLinear } from './lora.ts';
import { PARTS, type Part, type StateDelta } from './model.ts';

/**
 * The tensors an update trains, by the seam's rule: a target part's adapters when it has any,
 * else all of that part's parameters; everything else is frozen. `changed` hears the name of
 * every base parameter a full update may change (what reset() must put back).
 */
export function chooseTrainable(
  model: Module,
  target: readonly Part[],
  partOf: (p: Part) => { module: Module; prefix: string },
  loraLayersOf: (p: Part) => [string, LoraLinear][],
  changed: (name: string) => void,
): { params: Tensor[]; adaptersOnly: boolean } {
  model.requiresGrad(false);
  const params: Tensor[] = [];
  let adaptersOnly = true;
  for (const p of PARTS) {
    const adapters = loraLayersOf(p).flatMap(([, l]) => (l.adapter ? [l.adapter.a, l.adapter.b] : []));
    for (const a of adapters) a.setRequiresGrad(target.includes(p));
    if (!target.includes(p)) continue;
    if (adapters.length) { params.push(...adapters); continue; }
    adaptersOnly = false;
    const { module, prefix } = partOf(p);
    for (const [name, t] of module.namedParameters(prefix)) {
      params.push(t.setRequiresGrad(true));
      changed(name);
    }
  }
  return { params, adaptersOnly };
}

/** Freezes every parameter and every attached adapter. */
export function freezeAll(model: Module, layers: readonly [string, LoraLinear][]): void {
  model.requiresGrad(false);
  for (const [, l] of layers) if (l.adapter) { l.adapter.a.setRequiresGrad(false); l.adapter.b.setRequiresGrad(false); }
}

/** Copies of named parameters: the delta of a full update. */
export function copiesDelta(named: readonly [string, Tensor][]): StateDelta {
  return noGrad(() => ({ entries: named.map(([name, t]) => ({ kind: 'set' as const, name, value: keep(t.clone()) })) }));
}

import type { Module, Tensor } from '../torch/index.ts';
import type { LoraLinear } from './lora.ts';
import { PARTS, type Part } from './model.ts';

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

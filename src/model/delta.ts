import { z } from 'zod';
import { loadSafetensors, saveSafetensors } from '../torch/safetensors.ts';
import { disposeAll, noGrad, type Tensor } from '../torch/index.ts';
import type { LoraLinear } from './lora.ts';
import { PulseError, describeZodError, excerpt } from '../errors.ts';
import type { StateDelta } from './model.ts';

/**
 * A state delta on disk: one safetensors file with the LoRA factors ("<layer>.lora_a",
 * "<layer>.lora_b") and the set values ("<name>"), and in its metadata the order of the entries,
 * each LoRA entry's scale, and a tag naming the model shape it belongs to.
 */
const DeltaManifest = z.object({
  format: z.literal('pulse.delta'),
  version: z.literal(1),
  model: z.string(),
  entries: z.array(z.union([
    z.object({ kind: z.literal('lora'), layer: z.string(), scale: z.number() }).strict(),
    z.object({ kind: z.literal('set'), name: z.string() }).strict(),
  ])),
}).strict();

const META_KEY = 'pulse.delta';

export async function writeDelta(path: string, delta: StateDelta, modelTag: string, metadata: Record<string, string> = {}): Promise<void> {
  const tensors = new Map<string, Tensor>();
  const entries = delta.entries.map((e) => {
    if (e.kind === 'lora') {
      tensors.set(`${e.layer}.lora_a`, e.a);
      tensors.set(`${e.layer}.lora_b`, e.b);
      return { kind: e.kind, layer: e.layer, scale: e.scale };
    }
    tensors.set(e.name, e.value);
    return { kind: e.kind, name: e.name };
  });
  const manifest: z.infer<typeof DeltaManifest> = { format: 'pulse.delta', version: 1, model: modelTag, entries };
  await saveSafetensors(path, tensors, { ...metadata, [META_KEY]: JSON.stringify(manifest) });
}

/** Reads a delta written by writeDelta for a model with this tag; anything else is a PulseError naming the file. */
export async function readDelta(path: string, modelTag: string): Promise<StateDelta> {
  let manifest: z.infer<typeof DeltaManifest> | undefined;
  // the manifest is checked from the header, before any tensor is read
  const { tensors } = await loadSafetensors(path, { float32: true, check: ({ metadata }) => { manifest = deltaManifest(metadata, path, modelTag); } });
  const taken: Tensor[] = [];
  try {
    const take = (name: string): Tensor => {
      const t = tensors.get(name);
      if (!t) throw new PulseError(`${path}: the state delta lacks tensor ${name}`);
      tensors.delete(name);
      taken.push(t);
      return t;
    };
    const entries = manifest!.entries.map((e) => (e.kind === 'lora'
      ? { ...e, a: take(`${e.layer}.lora_a`), b: take(`${e.layer}.lora_b`) }
      : { ...e, value: take(e.name) }));
    if (tensors.size) {
      throw new PulseError(`${path}: the state delta has tensors its manifest does not list: ${[...tensors.keys()].slice(0, 3).join(', ')}`);
    }
    return { entries };
  } catch (error) {
    disposeAll([tensors, taken]);
    throw error;
  }
}

function deltaManifest(metadata: Record<string, string>, path: string, modelTag: string): z.infer<typeof DeltaManifest> {
  const raw = metadata[META_KEY];
  if (!raw) throw new PulseError(`${path} holds no pulse state delta`);
  let json: unknown;
  try { json = JSON.parse(raw); } catch { throw new PulseError(`${path}: the state delta's manifest is not valid JSON`); }
  const parsed = DeltaManifest.safeParse(json);
  if (!parsed.success) throw new PulseError(`${path}: invalid state delta manifest: ${describeZodError(parsed.error)}`);
  if (parsed.data.model !== modelTag) {
    throw new PulseError(`${path} is a state delta of another model (${excerpt(parsed.data.model, 80)}), not of this one (${modelTag})`);
  }
  return parsed.data;
}

/**
 * Applies a delta to a model's layers and parameters: a LoRA entry is folded into its layer's
 * weight as mergeLora folds it, a set entry copied in. `changed` hears each parameter's name
 * (what reset() puts back). Anything the model lacks, or of another shape, is a PulseError.
 */
export function applyStateDelta(
  delta: StateDelta, layers: ReadonlyMap<string, LoraLinear>, params: ReadonlyMap<string, Tensor>, changed: (name: string) => void,
): void {
  for (const e of delta.entries) {
    if (e.kind === 'lora') {
      const layer = layers.get(e.layer);
      if (!layer) throw new PulseError(`the state delta adapts ${e.layer}, which this model does not have`);
      foldOnDevice(layer, e);
      changed(`${e.layer}.weight`);
      continue;
    }
    const param = params.get(e.name);
    if (!param) throw new PulseError(`the state delta sets ${e.name}, which this model does not have`);
    if (param.shape.join() !== e.value.shape.join()) {
      throw new PulseError(`the state delta sets ${e.name} to shape [${e.value.shape}], the model has [${param.shape}]`);
    }
    noGrad(() => param.copy_(e.value));
    changed(e.name);
  }
}

/** Deltas are read onto the CPU: the factors move to the layer's device for the fold. */
function foldOnDevice(layer: LoraLinear, e: { a: Tensor; b: Tensor; scale: number }): void {
  const device = layer.weight.device;
  if (e.a.device === device) return layer.foldIn(e);
  const a = e.a.to(undefined, device);
  const b = e.b.to(undefined, device);
  try {
    layer.foldIn({ a, b, scale: e.scale });
  } finally {
    a.dispose();
    b.dispose();
  }
}

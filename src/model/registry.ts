import type { z } from 'zod';
import { PulseError, describeZodError } from '../errors.ts';
import type { PulseModel } from './model.ts';
import { embeddedKind } from './embedded/index.ts';
import { llavaKind } from './llava/index.ts';

/** The config's `model:` section names a kind; the rest of the section is that kind's own. */
export interface ModelSpec { kind: string; [key: string]: unknown }

/**
 * One kind of model: its config section and its loader. Adding a kind is one folder under
 * model/ exporting one of these, and one registration here.
 */
export interface ModelKind {
  kind: string;
  description: string;
  spec: z.ZodType<ModelSpec>;
  load(spec: ModelSpec): Promise<PulseModel>;
  /** whether a path given alone (`pulse ask --model PATH`) is a model of this kind */
  claims?(path: string): boolean;
}

const KINDS = new Map<string, ModelKind>();

export function registerModelKind(kind: ModelKind): void {
  if (KINDS.has(kind.kind)) throw new Error(`model kind '${kind.kind}' is already registered`);
  KINDS.set(kind.kind, kind);
}

export function modelKinds(): string[] { return [...KINDS.keys()]; }

function kindOf(name: unknown): ModelKind {
  const kind = typeof name === 'string' ? KINDS.get(name) : undefined;
  if (!kind) throw new PulseError(`model.kind: unknown model kind ${JSON.stringify(name)} (kinds: ${modelKinds().join(', ')})`);
  return kind;
}

/** Checks a `model:` section against its kind's schema; the message names the key. */
export function parseModelSpec(raw: { kind?: unknown; [key: string]: unknown }): ModelSpec {
  const parsed = kindOf(raw.kind).spec.safeParse(raw);
  if (!parsed.success) throw new PulseError(describeZodError(parsed.error, ['model']));
  return parsed.data;
}

/** The spec of a model given by its path alone: the kind named, or the first kind that claims the path. */
export function specForPath(path: string, kind?: string, extra: Record<string, unknown> = {}): ModelSpec {
  const chosen = kind ?? [...KINDS.values()].find((k) => k.claims?.(path))?.kind;
  if (!chosen) throw new PulseError(`${path}: not a model pulse recognises (an embedded .safetensors file or a Hugging Face LLaVA folder); name its kind with --kind`);
  return parseModelSpec({ kind: chosen, path, ...extra });
}

export async function loadModel(spec: ModelSpec): Promise<PulseModel> {
  return kindOf(spec.kind).load(parseModelSpec(spec));
}

registerModelKind(embeddedKind);
registerModelKind(llavaKind);

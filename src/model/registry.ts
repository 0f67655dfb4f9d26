import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { PulseError, describeZodError } from '../errors.ts';
import type { PulseModel } from './model.ts';
import { embeddedKind } from './embedded/index.ts';
import { llavaKind } from './llava/index.ts';
import { qwen25VlKind, qwen2VlKind } from './qwen2-vl/index.ts';
import { modelTypeOf } from './hf/config.ts';

/**
 * The config's `model:` section names a kind, or a Hugging Face folder whose config.json's
 * model_type names it; the rest of the section is that kind's own.
 */
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
  /** the config.json model_type values of the Hugging Face folders this kind loads */
  modelTypes?: readonly string[];
  /** whether a path given alone (`pulse ask --model PATH`) that is no Hugging Face folder is a model of this kind */
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

/** A Hugging Face folder's model_type, or null when the path is no folder with a config.json. */
function folderModelType(path: unknown): { type: string | null; file: string } | null {
  if (typeof path !== 'string' || !existsSync(join(path, 'config.json')) || !statSync(path).isDirectory()) return null;
  return { type: modelTypeOf(path), file: join(path, 'config.json') };
}

/** The kind of the model at `path`: its folder's model_type, or the first kind that claims the file; null if none does. */
export function kindForPath(path: string): string | null {
  const folder = folderModelType(path);
  if (folder) return kindOfModelType(folder.type, folder.file).kind;
  return [...KINDS.values()].find((k) => k.claims?.(path))?.kind ?? null;
}

function kindOfModelType(type: string | null, file: string): ModelKind {
  const kind = [...KINDS.values()].find((k) => type !== null && k.modelTypes?.includes(type));
  if (!kind) {
    const known = [...KINDS.values()].flatMap((k) => k.modelTypes ?? []);
    throw new PulseError(`${file}: model_type ${JSON.stringify(type)} is not a model pulse runs (model types: ${known.join(', ')})`);
  }
  return kind;
}

/**
 * Checks a `model:` section against its kind's schema; the message names the key. Without `kind`,
 * a Hugging Face folder's model_type decides it; with one, it must agree with the folder's.
 */
export function parseModelSpec(raw: { kind?: unknown; [key: string]: unknown }): ModelSpec {
  const folder = folderModelType(raw.path);
  const own = folder ? kindOfModelType(folder.type, folder.file) : null;
  if (raw.kind === undefined && own) return parseModelSpec({ ...raw, kind: own.kind });
  if (own && raw.kind !== own.kind) {
    throw new PulseError(`model.kind: ${JSON.stringify(raw.kind)}, but ${folder!.file} says model_type ${folder!.type} (kind ${own.kind}); `
      + 'leave model.kind out or make it agree');
  }
  const parsed = kindOf(raw.kind).spec.safeParse(raw);
  if (!parsed.success) throw new PulseError(describeZodError(parsed.error, ['model']));
  return parsed.data;
}

/** The spec of a model given by its path alone: the kind named (it must agree with a folder's model_type), or the path's own. */
export function specForPath(path: string, kind?: string, extra: Record<string, unknown> = {}): ModelSpec {
  const chosen = kind ?? kindForPath(path);
  if (!chosen) {
    throw new PulseError(`${path}: not a model pulse recognises (an embedded .safetensors file, or a Hugging Face folder whose config.json `
      + `has a model_type of ${[...KINDS.values()].flatMap((k) => k.modelTypes ?? []).join(', ')}); name its kind with --kind`);
  }
  return parseModelSpec({ kind: chosen, path, ...extra });
}

export async function loadModel(spec: ModelSpec): Promise<PulseModel> {
  return kindOf(spec.kind).load(parseModelSpec(spec));
}

registerModelKind(embeddedKind);
registerModelKind(llavaKind);
registerModelKind(qwen2VlKind);
registerModelKind(qwen25VlKind);

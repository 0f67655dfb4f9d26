import { join } from 'node:path';
import type { z } from 'zod';
import { PulseError, describeZodError } from '../../errors.ts';
import { readFolderJson } from './files.ts';

/** A Hugging Face folder's config.json, parsed; a folder without one says what is expected. */
export function readModelConfig(folder: string): { json: unknown; path: string } {
  const path = join(folder, 'config.json');
  return { json: readFolderJson(path, 'no such file (is this a Hugging Face model folder?)'), path };
}

/** config.json's model_type ("llava", "qwen2_vl", ...), or null when it has none. */
export function modelTypeOf(folder: string): string | null {
  const { json } = readModelConfig(folder);
  const type = typeof json === 'object' && json !== null ? (json as { model_type?: unknown }).model_type : undefined;
  return typeof type === 'string' ? type : null;
}

/** One section of a config, checked against its schema (transformers' defaults filled in); errors name `where` and the field. */
export function parsePart<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw new PulseError(`${where}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

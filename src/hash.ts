import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** sha256 of a file's bytes, hex: what manifests record to detect changed or corrupted files. */
export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * First 16 hex digits of sha256(JSON.stringify(value)): the key of what produced an artefact
 * (a config, a recipe, a cache entry). Key order matters, as it does in the value itself.
 */
export function shortJsonHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

/** sha256 of a file's bytes, hex: what manifests record to detect changed or corrupted files. Read in chunks: memory stays flat. */
export function fileSha256(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(1 << 24);
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) hash.update(chunk.subarray(0, read));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * First 16 hex digits of sha256(JSON.stringify(value)): the key of what produced an artefact
 * (a config, a recipe, a cache entry). Key order matters, as it does in the value itself.
 */
export function shortJsonHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

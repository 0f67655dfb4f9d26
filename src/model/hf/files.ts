import { existsSync } from 'node:fs';
import { MAX_JSON_BYTES, parseJson, readTextFile } from '../../input-file.ts';

/**
 * A file of a model folder as text, at most MAX_JSON_BYTES (a hostile folder cannot make pulse read
 * gigabytes into a string). A missing one is `null` when `missing` is null (an optional file), else a
 * PulseError naming the file with `missing` as the reason (what to do); an unreadable file is a
 * PulseError naming it.
 */
export function readFolderText(path: string, missing?: string): string;
export function readFolderText(path: string, missing: null): string | null;
export function readFolderText(path: string, missing: string | null = 'no such file'): string | null {
  if (missing === null && !existsSync(path)) return null;
  return readTextFile(path, MAX_JSON_BYTES, 'a model folder\'s file', missing ?? 'no such file');
}

/** A JSON file of a model folder, missing as readFolderText; invalid JSON is a PulseError naming the file and where. */
export function readFolderJson(path: string, missing?: string): unknown;
export function readFolderJson(path: string, missing: null): unknown | null;
export function readFolderJson(path: string, missing: string | null = 'no such file'): unknown | null {
  const text = readFolderText(path, missing as null);
  return text === null ? null : parseJson(text, path);
}

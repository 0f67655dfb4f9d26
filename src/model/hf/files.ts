import { readFileSync } from 'node:fs';
import { PulseError, errorExcerpt } from '../../errors.ts';

/**
 * A file of a model folder as text. A missing one is `null` when `missing` is null (an optional
 * file), else a PulseError naming the file with `missing` as the reason (what to do); an
 * unreadable file is a PulseError naming it.
 */
export function readFolderText(path: string, missing?: string): string;
export function readFolderText(path: string, missing: null): string | null;
export function readFolderText(path: string, missing: string | null = 'no such file'): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new PulseError(`${path}: cannot be read (${errorExcerpt(e)})`);
    if (missing === null) return null;
    throw new PulseError(`${path}: ${missing}`);
  }
}

/** A JSON file of a model folder, missing as readFolderText; invalid JSON is a PulseError naming the file. */
export function readFolderJson(path: string, missing?: string): unknown;
export function readFolderJson(path: string, missing: null): unknown | null;
export function readFolderJson(path: string, missing: string | null = 'no such file'): unknown | null {
  const text = readFolderText(path, missing as null);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PulseError(`${path}: not valid JSON (${errorExcerpt(e)})`);
  }
}

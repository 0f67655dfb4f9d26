import { readFileSync } from 'node:fs';
import { PulseError, errorExcerpt } from '../../errors.ts';

/**
 * A JSON file of a model folder. A missing one is `null` when `missing` is null (an optional
 * file), else a PulseError naming the file with `missing` as the reason; an unreadable file or
 * invalid JSON is a PulseError naming the file.
 */
export function readJsonFile(path: string, missing: string): unknown;
export function readJsonFile(path: string, missing: null): unknown | null;
export function readJsonFile(path: string, missing: string | null): unknown | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (missing === null) return null;
      throw new PulseError(`${path}: ${missing}`);
    }
    throw new PulseError(`${path}: cannot be read (${errorExcerpt(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PulseError(`${path}: not valid JSON (${errorExcerpt(e)})`);
  }
}

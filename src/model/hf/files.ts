import { readFileSync } from 'node:fs';
import { PulseError } from '../../errors.ts';

/** A file of a model folder as text; a missing or unreadable one is a PulseError naming it (`missing` says what to do). */
export function readFolderText(path: string, missing = 'no such file'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new PulseError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? missing : (e as Error).message}`);
  }
}

/** A JSON file of a model folder; invalid JSON is a PulseError naming the file. */
export function readFolderJson(path: string, missing?: string): unknown {
  const text = readFolderText(path, missing);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PulseError(`${path}: ${(e as Error).message}`);
  }
}

import { MAX_JSON_BYTES, parseJson, readTextFile } from '../../input-file.ts';

/** A file of a model folder as text (at most MAX_JSON_BYTES); a missing or unreadable one is a PulseError naming it (`missing` says what to do). */
export function readFolderText(path: string, missing = 'no such file'): string {
  return readTextFile(path, MAX_JSON_BYTES, 'a model folder\'s file', missing);
}

/** A JSON file of a model folder; invalid JSON is a PulseError naming the file. */
export function readFolderJson(path: string, missing?: string): unknown {
  return parseJson(readFolderText(path, missing), path);
}

import { readFileSync, statSync } from 'node:fs';
import { PulseError, excerpt } from './errors.ts';

/**
 * Reading files that come from outside with bounded cost: the size is checked before a byte is read
 * (a JSON file is parsed into objects several times its size), and a parse error is one line that
 * says where, never V8's message with a slice of the file in it.
 */

/** results.json of a long run with every attack is a few MB; config.json and tokenizer.json of a Hub model a few dozen at most. */
export const MAX_JSON_BYTES = 256 << 20;

/** A file's bytes, once its size is known to be at most `limit` bytes; any failure is one PulseError naming the file. */
export function readFileBounded(path: string, limit: number, what = 'this file', missing = 'no such file'): Buffer {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new PulseError(`${path}: not a regular file`);
    size = stat.size;
  } catch (e) {
    if (e instanceof PulseError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new PulseError(`${path}: ${code === 'ENOENT' ? missing : `cannot read (${code ?? excerpt(String(e), 80)})`}`);
  }
  if (size > limit) throw new PulseError(`${path}: ${size} bytes, more than the ${limit} bytes ${what} may have`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new PulseError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? excerpt((e as Error).message, 80)})`);
  }
}

/** readFileBounded as UTF-8 text. */
export function readTextFile(path: string, limit: number, what = 'this file', missing = 'no such file'): string {
  return readFileBounded(path, limit, what, missing).toString('utf8');
}

/** Where a JSON.parse error is, in words: "line 3, column 2", from V8's "at position N" when it gives one. */
export function describeJsonError(error: Error, text: string): string {
  // V8 quotes a slice of the text after the reason: `Unexpected token '}', ..."a": [1,\n }" is not valid JSON`
  const message = error.message.replace(/, (\.\.\.)?".*$/s, '');
  const at = /^(.*) in JSON at position (\d+)/.exec(message);
  if (!at) return excerpt(message, 120);
  const position = Number(at[2]);
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return `${excerpt(at[1]!, 120)} at line ${line}, column ${position - before.lastIndexOf('\n')}`;
}

/**
 * JSON text parsed, or one PulseError naming `source`. A `__proto__` key is refused: copied or merged
 * into an object it would replace the object's prototype instead of setting a value.
 */
export function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') throw new PulseError(`${source}: the key '__proto__' is not allowed`);
      return value;
    });
  } catch (e) {
    if (e instanceof PulseError) throw e;
    throw new PulseError(`${source}: not valid JSON: ${describeJsonError(e as Error, text)}`);
  }
}

/** A JSON file of at most `limit` bytes, parsed. */
export function readJsonFile(path: string, limit = MAX_JSON_BYTES, missing?: string): unknown {
  return parseJson(readTextFile(path, limit, 'a JSON file', missing), path);
}

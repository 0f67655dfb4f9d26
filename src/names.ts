import { isAbsolute, relative, resolve, sep } from 'node:path';
import { PulseError, excerpt } from './errors.ts';

/**
 * Names that become parts of file names (run id, scenario, method, plug-in method, grid variant,
 * attack, update target): one rule for all. A first character that is a letter, digit or
 * underscore (so never `.`, `..` or a dot file, never `-` that a tool reads as an option), then
 * letters, digits and `_ . = + @ , -`, at most 100 characters in all: no `/`, `\`, spaces,
 * control characters or anything a shell or a file system treats specially.
 */
export const NAME_RULE = /^[A-Za-z0-9_][A-Za-z0-9_.=+@,-]{0,99}$/;

const RULE_TEXT = 'a letter, digit or _ first, then letters, digits and _ . = + @ , - (at most 100 characters; no / or spaces)';

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_RULE.test(name);
}

/** `name` when it follows NAME_RULE; else a PulseError saying where it came from (`where`: a config key, a file and field). */
export function checkName(name: unknown, where: string): string {
  if (isValidName(name)) return name;
  const shown = typeof name === 'string' ? `'${excerpt(name, 60)}'` : String(name);
  throw new PulseError(`${where}: ${shown} is not a valid name: ${RULE_TEXT}`);
}

/**
 * root joined with parts, refused unless the result stays inside root: the one way a path derived
 * from names or files (a chart, a checkpoint, a report) is built under a run folder.
 */
export function joinInside(root: string, ...parts: string[]): string {
  const base = resolve(root);
  if (parts.some((p) => p.includes('\0'))) throw new PulseError(`a path under ${root} contains a NUL character`);
  const path = resolve(base, ...parts);
  const rel = relative(base, path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new PulseError(`'${excerpt(parts.join('/'), 80)}' would leave the folder ${root}`);
  }
  return path;
}

import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * Where pulse's files are, from any folder:
 * - what pulse ships (the base model under assets/, the addon's sources) is relative to the package;
 * - what it builds and reuses across runs (the generated world, fine-tunes, oracles, built addons) is in the cache:
 *   $PULSE_CACHE, else $XDG_CACHE_HOME/pulse, else ~/.cache/pulse;
 * - runs go to ./runs of the current folder (or --out), and relative paths in a config file are relative to that file.
 */

/**
 * The package's root folder (the one holding package.json). This module is src/paths.ts in a checkout and
 * dist/paths.js in an installed package: one level below the root either way.
 */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** True when pulse runs from its TypeScript sources (a checkout), false when it runs compiled JavaScript. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** A file that pulse ships, e.g. packagePath('assets', 'base.safetensors'). */
export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}

/** The shipped base model. */
export const BASE_MODEL = packagePath('assets', 'base.safetensors');

/** The module `import ... from 'pulse'` means: the running pulse's entry (src/index.ts here, dist/index.js installed). */
export const ENTRY_URL = new URL(`./index.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url).href;

/** The cache folder, read from the environment at each call (absolute). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PULSE_CACHE) return resolve(env.PULSE_CACHE);
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'pulse');
  return join(homedir(), '.cache', 'pulse');
}

export function cachePath(...parts: string[]): string {
  return join(cacheDir(), ...parts);
}

/** A run's default folder: ./runs/<preset>-<date> of the current folder. */
export function defaultRunDir(preset: string, date = new Date()): string {
  return resolve('runs', `${preset}-${date.toISOString().slice(0, 10)}`);
}

/*
 * The portable spelling of a location, for what identifies a run (the config hash): a path in the cache is written
 * `.cache/pulse/<rest>` and a path in the package `<rest>`, as the presets write them (the spelling they had when
 * they were relative to a checkout's root, so run folders made then still resume). The hash then does not depend on
 * where pulse is installed or where its cache is. Any other path stays absolute.
 */
const CACHE_PREFIX = '.cache/pulse';

const inside = (root: string, path: string): string | null => {
  const rest = relative(root, path);
  return rest === '' || (!rest.startsWith('..') && !isAbsolute(rest)) ? rest : null;
};

const posix = (path: string) => path.split(sep).join('/');

/** An absolute path in its portable spelling (see above). */
export function portablePath(path: string): string {
  const inCache = inside(cacheDir(), path);
  if (inCache !== null) return posix(join(CACHE_PREFIX, inCache));
  const inPackage = inside(PACKAGE_ROOT, path);
  return inPackage !== null ? posix(inPackage) || '.' : path;
}

/** The absolute path a portable spelling names: the inverse of portablePath, for the presets' locations. */
export function fromPortable(path: string): string {
  if (isAbsolute(path)) return path;
  const rest = inside(CACHE_PREFIX, path);
  return rest !== null ? join(cacheDir(), rest) : join(PACKAGE_ROOT, path);
}

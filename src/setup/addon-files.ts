import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { PACKAGE_ROOT, cachePath, packagePath } from '../paths.ts';

/*
 * Where the libtorch addon is. `pulse setup` builds it in the package (native/build/, as a checkout always had it)
 * when the package folder is writable, else in the cache; either way it keeps a copy in the cache under
 * addon/<key>/, the key naming the addon's sources and the libtorch it was built against, so another install of the
 * same pulse (another project) on the same libtorch sets up in seconds.
 */

/** The addon in the package, and the stamp saying which key it was built for. */
export const PACKAGE_ADDON = packagePath('native', 'build', 'Release', 'pulse_torch.node');
export const PACKAGE_STAMP = packagePath('native', 'build', '.stamp');

/** A read-only package's record of the addon in the cache that setup chose for it: { addon, key }. */
export function installRecordPath(): string {
  return cachePath('addon', 'installs', `${createHash('sha256').update(PACKAGE_ROOT).digest('hex').slice(0, 16)}.json`);
}

/** The folder of one build in the cache. */
export function cachedBuildDir(key: string): string {
  return cachePath('addon', key);
}

/** The addon's sources in native/: its .cc files, its .h files and binding.gyp, in that order. */
export function addonSources(): string[] {
  const names = readdirSync(packagePath('native'));
  return [...names.filter((n) => n.endsWith('.cc')).sort(), ...names.filter((n) => n.endsWith('.h')).sort(), 'binding.gyp'];
}

/** First 16 hex digits of sha1 over the addon's sources. */
export function sourcesHash(): string {
  const hash = createHash('sha1');
  for (const name of addonSources()) hash.update(readFileSync(packagePath('native', name)));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The addon this pulse loads, without looking for libtorch (that takes a Python start): the package's own build,
 * else the cache build `pulse setup` recorded for this package; null when there is none.
 */
export function locateAddon(): string | null {
  if (existsSync(PACKAGE_ADDON)) return PACKAGE_ADDON;
  try {
    const { addon } = JSON.parse(readFileSync(installRecordPath(), 'utf8')) as { addon?: unknown };
    return typeof addon === 'string' && existsSync(addon) ? addon : null;
  } catch {
    return null;
  }
}

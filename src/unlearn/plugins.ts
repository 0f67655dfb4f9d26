import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PulseError, errorExcerpt } from '../errors.ts';
import { fileSha256 } from '../hash.ts';
import { registerMethod } from './registry.ts';

/** A loaded plug-in as results.json records it: which file (and exact bytes) gave which methods. */
export interface PluginRecord { path: string; sha256: string; methods: string[] }

/**
 * Loads plug-in modules (TypeScript or JavaScript) and registers the unlearning methods they
 * export: the default export (a method or a list of them) and every named export that is a
 * method (an object with `name` and `loss`). A file that cannot be loaded or exports no method
 * is one clear error.
 */
export async function loadPlugins(paths: readonly string[]): Promise<PluginRecord[]> {
  const records: PluginRecord[] = [];
  for (const path of paths) {
    const file = resolve(path);
    if (!existsSync(file) || !statSync(file).isFile()) throw new PulseError(`--plugin ${path}: no such file`);
    let module: Record<string, unknown>;
    try {
      module = await import(pathToFileURL(file).href) as Record<string, unknown>;
    } catch (e) {
      throw new PulseError(`--plugin ${path}: cannot load it: ${errorExcerpt(e)}`);
    }
    const exported = [...[module.default].flat(), ...Object.entries(module).filter(([k]) => k !== 'default').map(([, v]) => v)]
      .filter((v) => typeof v === 'object' && v !== null && 'loss' in v && 'name' in v);
    const methods = [...new Set(exported)];
    if (methods.length === 0) throw new PulseError(`--plugin ${path}: exports no unlearning method (an object with name, loss, defaults, ...; see README, "Extending pulse")`);
    records.push({ path: file, sha256: fileSha256(file), methods: methods.map((m) => registerMethod(m, `--plugin ${path}`).name) });
  }
  return records;
}

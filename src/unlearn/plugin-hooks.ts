/*
 * Module hooks for plug-ins, run in Node's loader thread (plugins.ts registers them with module.register):
 * - 'pulse' and the package's registry name resolve to the running pulse's entry, from any folder, whether that
 *   folder has pulse installed or not (and if it has another version, the running one wins: one pulse per process);
 * - a plug-in's .ts and .js files (the plug-in and what it imports, outside node_modules) load as ES modules whatever
 *   their folder's package.json says: in a CommonJS folder (or one with no package.json) tsx would compile them to
 *   CommonJS, whose require() meets the ESM graph importing them ("Cannot require() ES Module ... in a cycle"), or
 *   gives them a second copy of pulse. A plug-in is an ES module; .cjs and .cts files keep CommonJS.
 */
import type { InitializeHook, ResolveHook } from 'node:module';

export interface PluginHooksData {
  /** the URL 'pulse' resolves to */
  entry: string;
  /** the specifiers that mean pulse: 'pulse' and the package's name */
  names: string[];
  /** the module that imports plug-ins: what it imports outside `own` is a plug-in */
  loader: string;
  /** URL prefixes of pulse's own code (src/, dist/), which is never a plug-in */
  own: string[];
}

let data: PluginHooksData = { entry: '', names: [], loader: '', own: [] };
/** plug-in files and the files they import (outside node_modules) */
const plugin = new Set<string>();

export const initialize: InitializeHook<PluginHooksData> = (given) => {
  data = given;
};

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  if (data.names.includes(specifier)) return { url: data.entry, format: 'module', shortCircuit: true };
  const resolved = await nextResolve(specifier, context);
  const { parentURL } = context;
  const fromPlugin = parentURL !== undefined && (parentURL === data.loader || plugin.has(parentURL));
  const userFile = resolved.url.startsWith('file:') && !resolved.url.includes('/node_modules/') && !data.own.some((p) => resolved.url.startsWith(p));
  if (!fromPlugin || !userFile) return resolved;
  plugin.add(resolved.url);
  return /\.[jt]s$/.test(resolved.url) ? { ...resolved, format: 'module' } : resolved;
};

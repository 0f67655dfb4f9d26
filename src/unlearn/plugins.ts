import { existsSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PulseError, errorExcerpt, excerpt } from '../errors.ts';
import { fileSha256 } from '../hash.ts';
import { ENTRY_URL, FROM_SOURCE } from '../paths.ts';
import { OWN_CODE_URLS, userCodeFrame } from '../user-code.ts';
import { PACKAGE_NAME } from '../version.ts';
import { METHODS, registerMethod } from './registry.ts';
import type { UnlearningMethod } from './method.ts';
import type { PluginHooksData } from './plugin-hooks.ts';

/** A loaded plug-in as results.json records it: which file (and exact bytes) gave which methods. */
export interface PluginRecord { path: string; sha256: string; methods: string[] }

let hooked = false;
/** Registers the plug-in module hooks (plugin-hooks.ts) once per process, and tsx's where pulse runs compiled. */
async function hookModules(): Promise<void> {
  if (hooked) return;
  hooked = true;
  // Running from source, a TypeScript loader is already registered (bin/pulse.js, or the test runner's tsx).
  if (!FROM_SOURCE) (await import('tsx/esm/api')).register();
  const data: PluginHooksData = { entry: ENTRY_URL, names: ['pulse', PACKAGE_NAME], loader: import.meta.url, own: OWN_CODE_URLS };
  register(new URL(`./plugin-hooks.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url), { data });
}

/** esbuild's report of a syntax error (through tsx): "Transform failed with 1 error:\n<file>:<line>:<column>: ERROR: <text>" */
const TRANSFORM_ERROR = /^Transform failed with \d+ errors?:\n(.+):(\d+):(\d+): ERROR: (.*)/;

/** A plug-in's own error as one line: its message, and where in the plug-in it arose when the message does not say. */
function describeLoadError(e: unknown): string {
  // esbuild counts columns from 0, stack traces from 1
  const syntax = e instanceof Error ? TRANSFORM_ERROR.exec(e.message) : null;
  if (syntax) return `${excerpt(syntax[4]!, 200)} (at ${syntax[1]}:${syntax[2]}:${Number(syntax[3]) + 1})`;
  const message = errorExcerpt(e);
  const frame = userCodeFrame(e);
  return frame && !message.includes(frame.replace(/:\d+$/, '')) ? `${message} (at ${frame})` : message;
}

/** sha256 of each plug-in file this process imported: a module is imported once, so a changed file cannot be reloaded */
const imported = new Map<string, string>();

/**
 * Loads plug-in modules (.ts, .mts, .js, .mjs, in any folder) and registers the unlearning methods they export: the
 * default export (a method or a list of them) and every named export that is a method (an object with `name` and
 * `loss`). `import ... from 'pulse'` in a plug-in is the running pulse. A file that cannot be loaded or exports no
 * method is one clear error; the same file may be loaded again in one process (run() twice), unchanged.
 */
export async function loadPlugins(paths: readonly string[]): Promise<PluginRecord[]> {
  const records: PluginRecord[] = [];
  for (const path of paths) {
    const file = resolve(path);
    if (!existsSync(file) || !statSync(file).isFile()) throw new PulseError(`--plugin ${path}: no such file`);
    const sha256 = fileSha256(file);
    if ((imported.get(file) ?? sha256) !== sha256) throw new PulseError(`--plugin ${path}: the file changed since this process loaded it; start a new process to load it`);
    await hookModules();
    let module: Record<string, unknown>;
    try {
      module = await import(pathToFileURL(file).href) as Record<string, unknown>;
    } catch (e) {
      throw new PulseError(`--plugin ${path}: cannot load it: ${describeLoadError(e)}`);
    }
    const exported = [...[module.default].flat(), ...Object.entries(module).filter(([k]) => k !== 'default').map(([, v]) => v)]
      .filter((v) => typeof v === 'object' && v !== null && 'loss' in v && 'name' in v);
    const methods = [...new Set(exported)];
    if (methods.length === 0) throw new PulseError(`--plugin ${path}: exports no unlearning method (an object with name, loss, defaults, ...; see README, "Extending pulse")`);
    imported.set(file, sha256);
    const register = (m: object) => (METHODS.get((m as { name: string }).name) === m ? m as UnlearningMethod : registerMethod(m, `--plugin ${path}`));
    records.push({ path: file, sha256, methods: methods.map((m) => register(m).name) });
  }
  return records;
}
